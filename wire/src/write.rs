//! Writing to a connection: a response (head framed from the body's size,
//! `Connection: close` when asked), and any body, framed as its head said.
//! What is ready is gathered into one write (head included; a body's lone
//! chunk is gathered from where it is, not copied, when the writer takes
//! several buffers at once); what is not yet ready is waited for only after
//! flushing what is gathered.

use std::future::poll_fn;
use std::io;
use std::pin::pin;
use std::task::Poll;

use http::{Response, StatusCode, Version};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::encode::{self, AddedFields, Persist, ResponseFields};
use super::framing::Framing;
use super::raw::RawFields;
use crate::body::{BodyError, BoxError, BoxedBody};

/// Writes are gathered up to this size before they go out.
const WRITE_CHUNK: usize = 64 * 1024;

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
    let mut trailers = None;
    // A chunk that fits is held, not copied behind `out`, while it is the
    // only one: it then goes out with the head in one gathering write. A
    // second chunk, or a writer that cannot gather, copies it after all.
    let gathers = wr.is_write_vectored() && framing != Framing::Chunked;
    let mut held: Option<bytes::Bytes> = None;
    loop {
        // Take what is ready; flush before waiting for more.
        let frame = match poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
            Poll::Ready(f) => f,
            Poll::Pending => {
                flush(wr, out, held.take()).await?;
                body.frame().await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => return Err(WriteError::Body(e)),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) if !d.is_empty() => d,
                Ok(_) => continue,
                // Only a chunked message can carry them.
                Err(f) => {
                    trailers = f.into_trailers().ok();
                    continue;
                }
            },
        };
        sent += data.len() as u64;
        if matches!(framing, Framing::Length(n) if sent > n) {
            return Err(WriteError::Body(Box::new(BodyError::Malformed(
                "the body is longer than its length",
            ))));
        }
        if let Some(h) = held.take() {
            out.extend_from_slice(&h);
        }
        if framing == Framing::Chunked {
            encode::chunk_header(out, data.len());
        }
        if out.len() + data.len() > gather {
            wr.write_all(out).await?;
            out.clear();
            wr.write_all(&data).await?;
        } else if gathers {
            held = Some(data);
        } else {
            out.extend_from_slice(&data);
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
    }
    if matches!(framing, Framing::Length(n) if sent != n) {
        return Err(WriteError::Body(Box::new(BodyError::Cut)));
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"0\r\n");
        for (k, v) in trailers.iter().flatten() {
            encode::field(out, k, v);
        }
        out.extend_from_slice(b"\r\n");
    }
    Ok(flush(wr, out, held).await?)
}

/// Write `out`, then `held` (gathered into one write where the writer
/// takes several buffers at once), and empty `out`.
async fn flush<W>(wr: &mut W, out: &mut Vec<u8>, held: Option<bytes::Bytes>) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut b: &[u8] = held.as_deref().unwrap_or_default();
    let mut a: &[u8] = out;
    while !a.is_empty() && !b.is_empty() {
        let n = wr
            .write_vectored(&[io::IoSlice::new(a), io::IoSlice::new(b)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        if n >= a.len() {
            b = &b[n - a.len()..];
            a = &[];
        } else {
            a = &a[n..];
        }
    }
    wr.write_all(a).await?;
    wr.write_all(b).await?;
    out.clear();
    Ok(())
}

/// Answer a request that cannot be read (the handler's answer to its
/// [`crate::Refusal`]), then the connection closes.
pub async fn refuse<W: AsyncWrite + Unpin>(
    wr: &mut W,
    resp: Response<BoxedBody>,
) -> io::Result<()> {
    let how = How {
        is_head: false,
        version: Version::HTTP_11,
        close: true,
    };
    write_response(wr, resp, None, &[], how).await?;
    wr.shutdown().await
}

/// Write a `101 Switching Protocols` head (its `Upgrade` field from the
/// response's map, `Connection: upgrade` added); the connection then
/// carries the tunnel.
pub async fn switching<W: AsyncWrite + Unpin>(
    wr: &mut W,
    resp: &Response<BoxedBody>,
    added: AddedFields<'_>,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(512);
    encode::write_response_head(
        &mut out,
        StatusCode::SWITCHING_PROTOCOLS,
        ResponseFields {
            raw: None,
            map: resp.headers(),
        },
        added,
        Framing::None,
        false,
        Persist::Upgrade,
    );
    wr.write_all(&out).await?;
    wr.flush().await
}

/// What a response answers: a HEAD request or not, of which version, and
/// whether the connection closes after it.
#[derive(Debug, Clone, Copy)]
pub struct How {
    pub is_head: bool,
    pub version: Version,
    pub close: bool,
}

/// Write a response, with `raw` fields (an upstream's, passed on as they
/// came) and the `added` ones in its head; `Ok(true)`: the connection can
/// carry another request.
pub async fn write_response<W: AsyncWrite + Unpin>(
    wr: &mut W,
    resp: Response<BoxedBody>,
    raw: Option<&RawFields>,
    added: AddedFields<'_>,
    how: How,
) -> io::Result<bool> {
    let How {
        is_head,
        version,
        mut close,
    } = how;
    let (parts, body) = resp.into_parts();
    let headers = parts.headers;
    let status = parts.status;
    let no_body = is_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    // A HEAD or 304 answer keeps the length of the body it does not carry.
    let keep_length = no_body && !(status == StatusCode::NO_CONTENT || status.is_informational());
    let framing = if no_body {
        Framing::None
    } else {
        match body.size_hint().exact() {
            Some(n) => Framing::Length(n),
            None if version == Version::HTTP_11 => Framing::Chunked,
            None => {
                close = true;
                Framing::Eof
            }
        }
    };
    let persist = if close {
        Persist::Close
    } else if version == Version::HTTP_10 {
        Persist::KeepAlive
    } else {
        Persist::Default
    };
    let mut out = Vec::with_capacity(match framing {
        // The body is gathered from where it is (see `body`).
        Framing::Length(_) if wr.is_write_vectored() => 512,
        Framing::Length(n) if n <= WRITE_CHUNK as u64 => 512 + n as usize,
        _ => 1024,
    });
    let close = encode::write_response_head(
        &mut out,
        status,
        ResponseFields { raw, map: &headers },
        added,
        framing,
        keep_length,
        persist,
    );
    drop(headers);
    if no_body {
        wr.write_all(&out).await?;
        return Ok(!close);
    }
    match self::body(wr, &mut out, body, framing, WRITE_CHUNK).await {
        Ok(()) => {}
        Err(WriteError::Io(e)) => return Err(e),
        Err(WriteError::Body(e)) => return Err(io::Error::other(e)),
    }
    if framing == Framing::Eof {
        wr.flush().await?;
    }
    Ok(!close)
}
