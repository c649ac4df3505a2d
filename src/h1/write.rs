//! Writing a message body to a connection, framed as the head said:
//! what is ready is gathered into one write (head included), and what is
//! not yet ready is waited for only after flushing what is gathered.

use std::future::poll_fn;
use std::io;
use std::pin::pin;
use std::task::Poll;

use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::codec::{self, Framing};
use crate::body::BoxError;

#[derive(Debug)]
pub enum WriteError {
    /// The body failed: the message cannot be completed.
    Body(BoxError),
    Io(io::Error),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

/// Write `out` (a head, already encoded) followed by `body`; writes are
/// gathered up to `gather` bytes. A body longer or shorter than a declared
/// length is an error: the peer's framing would be wrong.
pub async fn body<W, B>(
    wr: &mut W,
    out: &mut Vec<u8>,
    body: B,
    framing: Framing,
    gather: usize,
) -> Result<(), WriteError>
where
    W: AsyncWrite + Unpin,
    B: Body<Data = bytes::Bytes, Error = BoxError>,
{
    let mut body = pin!(body);
    let mut sent = 0u64;
    loop {
        // Take what is ready; flush before waiting for more.
        let frame = match poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
            Poll::Ready(f) => f,
            Poll::Pending => {
                if !out.is_empty() {
                    wr.write_all(out).await?;
                    out.clear();
                }
                body.frame().await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => return Err(WriteError::Body(e)),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) if !d.is_empty() => d,
                _ => continue,
            },
        };
        sent += data.len() as u64;
        if matches!(framing, Framing::Length(n) if sent > n) {
            return Err(WriteError::Body(
                "the body is longer than its length".into(),
            ));
        }
        if framing == Framing::Chunked {
            codec::chunk_header(out, data.len());
        }
        if out.len() + data.len() > gather {
            wr.write_all(out).await?;
            out.clear();
            wr.write_all(&data).await?;
        } else {
            out.extend_from_slice(&data);
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
    }
    if matches!(framing, Framing::Length(n) if sent != n) {
        return Err(WriteError::Body("the body ended before its length".into()));
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    if !out.is_empty() {
        wr.write_all(out).await?;
        out.clear();
    }
    Ok(())
}
