//! What both upstream clients (the pool, the shadow lane) do with a plain
//! connection: dial it, tell whether an idle one is still usable, read a
//! response head off it.

use std::io;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::client::SendError;
use super::codec;

/// A TCP connection to `authority` made by `until` (else a `TimedOut`
/// connect error), with `TCP_NODELAY`, split in halves.
pub(super) async fn dial(
    authority: &str,
    until: Instant,
) -> Result<(OwnedReadHalf, OwnedWriteHalf), SendError> {
    let stream = match tokio::time::timeout_at(until, TcpStream::connect(authority)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(SendError::Connect(e)),
        Err(_) => {
            return Err(SendError::Connect(io::Error::new(
                io::ErrorKind::TimedOut,
                "connect timed out",
            )))
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream.into_split())
}

/// Whether an idle connection is still usable: its readiness (kept by the
/// reactor, no syscall) says nothing happened; if it says something did,
/// one non-blocking read tells a spurious wake-up from a close.
pub(super) fn readable_alive(rd: &OwnedReadHalf) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match rd.as_ref().poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut probe = [0u8; 1];
            matches!(rd.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        }
    }
}

pub(super) async fn read_head(
    rd: &mut OwnedReadHalf,
    buf: &mut BytesMut,
) -> Result<codec::ResponseHead, SendError> {
    read_head_with(rd, buf, codec::parse_response).await
}

/// Read until `parse` takes a response head off the buffer.
pub(super) async fn read_head_with<T>(
    rd: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    mut parse: impl FnMut(&mut BytesMut) -> Result<Option<T>, codec::HeadError>,
) -> Result<T, SendError> {
    loop {
        if !buf.is_empty() {
            match parse(buf) {
                Ok(Some(h)) => return Ok(h),
                Ok(None) => {}
                Err(_) => return Err(SendError::Upstream("malformed response head".into())),
            }
        }
        buf.reserve(8 * 1024);
        match tokio::io::AsyncReadExt::read_buf(rd, buf).await {
            Ok(0) | Err(_) if buf.is_empty() => return Err(SendError::Closed),
            Ok(0) => return Err(SendError::Upstream("connection closed mid-head".into())),
            Err(e) => return Err(SendError::Upstream(e.to_string())),
            Ok(_) => {}
        }
    }
}
