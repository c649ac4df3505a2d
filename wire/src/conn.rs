//! What both upstream clients (the pool, the shadow lane) do with a plain
//! connection: dial it, tell whether an idle one is still usable, read a
//! response head off it. And the read that begins a head on either side
//! ([`read_fresh`]).

use std::future::{poll_fn, Future};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};
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

/// Read a response head; `pass`: its fields passed raw when they can be.
pub(super) async fn read_head(
    rd: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    pass: bool,
) -> Result<codec::ResponseHead, SendError> {
    let parse = if pass {
        codec::parse_response_passing
    } else {
        codec::parse_response
    };
    read_head_with(rd, buf, parse).await
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
        let read = if buf.is_empty() {
            read_fresh::<_, { 8 * 1024 }>(rd, buf).await
        } else {
            buf.reserve(8 * 1024);
            tokio::io::AsyncReadExt::read_buf(rd, buf).await
        };
        match read {
            Ok(0) | Err(_) if buf.is_empty() => return Err(SendError::Closed),
            Ok(0) => return Err(SendError::Upstream("connection closed mid-head".into())),
            Err(e) => return Err(SendError::Upstream(e.to_string())),
            Ok(_) => {}
        }
    }
}

/// The read that begins a head, into `N` bytes of stack; what arrived is
/// kept in an allocation of its size, in place of an empty `buf` (else
/// appended). A connection waiting for its next head (a kept-alive client,
/// a pooled upstream) then holds no heap buffer, and the bytes land in
/// memory the allocator has just had back (warm in cache), not in a buffer
/// of the connection's own last touched a request ago: with 500 upstream
/// connections those buffers were 4 MB.
pub(crate) async fn read_fresh<R: AsyncRead + Unpin, const N: usize>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut stack = [const { MaybeUninit::<u8>::uninit() }; N];
        let mut rb = ReadBuf::uninit(&mut stack);
        match Pin::new(&mut *rd).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                if buf.is_empty() {
                    // Allocated at the size read, without growing an empty buffer.
                    *buf = BytesMut::from(rb.filled());
                } else {
                    buf.extend_from_slice(rb.filled());
                }
                Poll::Ready(Ok(rb.filled().len()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// A writer whose writes may wait for the peer at most `limit` in a row:
/// past it, a write fails with `TimedOut`. Time spent not writing (waiting
/// for what to write) is not counted. The timer exists only once a write
/// has had to wait.
pub(super) struct StallLimit<W> {
    inner: W,
    limit: std::time::Duration,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<W> StallLimit<W> {
    pub(super) fn new(inner: W, limit: std::time::Duration) -> Self {
        StallLimit {
            inner,
            limit,
            timer: None,
        }
    }

    pub(super) fn into_inner(self) -> W {
        self.inner
    }

    /// A write's outcome: a finished write restarts the limit; a write that
    /// has to wait is `Pending` within the limit and fails once it has passed.
    fn judge(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Pending => match self.wait(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
            done => {
                self.timer = None;
                done
            }
        }
    }

    /// `Pending` while within the limit; the error once it has passed.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let limit = self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the upstream stopped reading the request",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for StallLimit<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = std::pin::Pin::new(&mut this.inner).poll_write(cx, buf);
        this.judge(cx, r)
    }

    /// Gathering passes through, so a body chunk held behind its head
    /// (`write::body`) leaves with it instead of being copied after it.
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = std::pin::Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.judge(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
