//! An upstream's response body, read and decoded straight off its pooled
//! connection ([`ResponseBody`]); the connection goes back to the
//! [`Pool`] once the body is complete and the exchange left it reusable.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{Method, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, Sleep};

use super::{Connection, Pool, SendError, Upload};
use crate::body::BoxError;
use crate::codec::ResponseHead;
use crate::framing::{self, Decoded, Decoder};
use crate::raw::RawFields;

/// A response body read straight from the upstream connection; the
/// connection goes back to the pool when the body is complete.
pub struct ResponseBody {
    pool: Arc<Pool>,
    /// `None` once finished.
    conn: Option<(OwnedReadHalf, BytesMut, Pin<Box<Sleep>>)>,
    wr: Option<OwnedWriteHalf>,
    /// The rest of a request body the upstream answered before reading.
    upload: Option<Upload>,
    decoder: Decoder,
    reuse: bool,
    /// When the request started: the connection's idle time counts from it.
    since: Instant,
    /// A chunked body's trailer fields, given as the last frame.
    trailers: Option<Box<http::HeaderMap>>,
    /// The head's fields, when passed raw (its map is then empty).
    raw: Option<RawFields>,
}

impl ResponseBody {
    /// The response whose head is `head` (to a `method` request), its body
    /// to be read off `conn`; `wr`, `upload`: the connection's write half,
    /// or the upload still writing on it. Inlined: the exchange builds it
    /// in place, as when it was written out there.
    #[inline(always)]
    pub(super) fn respond(
        pool: &Arc<Pool>,
        method: &Method,
        head: ResponseHead,
        conn: (OwnedReadHalf, BytesMut, Pin<Box<Sleep>>),
        wr: Option<OwnedWriteHalf>,
        upload: Option<Upload>,
        since: Instant,
    ) -> Result<Response<ResponseBody>, SendError> {
        let (framing, reuse) = framing::response_framing(method, &head)
            .map_err(|_| SendError::Upstream("malformed response framing".into()))?;
        let mut body = ResponseBody {
            pool: Arc::clone(pool),
            conn: Some(conn),
            wr,
            upload,
            decoder: Decoder::new(framing),
            reuse,
            since,
            trailers: None,
            raw: head.raw,
        };
        if body.decoder.is_done() {
            body.finish();
        }
        let mut resp = Response::new(body);
        *resp.status_mut() = head.status;
        *resp.version_mut() = head.version;
        *resp.headers_mut() = head.headers;
        Ok(resp)
    }

    /// The head's fields, when they were passed raw: the caller writes them
    /// on (`crate::raw`), or builds them into the map.
    pub fn take_raw(&mut self) -> Option<RawFields> {
        self.raw.take()
    }

    fn finish(&mut self) {
        let Some((rd, buf, timer)) = self.conn.take() else {
            return;
        };
        let wr = self.wr.take();
        match (self.reuse, &self.upload, wr, buf.is_empty()) {
            (true, None, Some(wr), true) => {
                // Idle, it keeps no read buffer: the next head is read
                // fresh (`conn::read_fresh`), and the body just taken may
                // still share this one's allocation.
                let buf = BytesMut::new();
                self.pool
                    .put_back(Connection { rd, wr, buf, timer }, self.since);
            }
            // Not to be reused: closed with the read half (see `Connection::close`).
            (_, _, Some(wr), _) => wr.forget(),
            _ => {}
        }
        self.upload = None;
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(up) = this.upload.as_mut() {
            if let Poll::Ready((w, r)) = up.as_mut().poll(cx) {
                this.upload = None;
                match r {
                    Ok(()) => this.wr = Some(w),
                    Err(_) => this.reuse = false,
                }
            }
        }
        loop {
            let Some((rd, buf, _)) = this.conn.as_mut() else {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(*t))));
            };
            match this.decoder.decode(buf) {
                Ok(Decoded::Data(b)) => {
                    if this.decoder.is_done() {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Ok(Decoded::Trailer(line)) => {
                    if let Some((name, value)) = framing::trailer_field(&line) {
                        this.trailers.get_or_insert_default().append(name, value);
                    }
                }
                Ok(Decoded::Done) => {
                    this.finish();
                    return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(*t))));
                }
                Ok(Decoded::Pending) => {
                    buf.reserve(16 * 1024);
                    match tokio_util::io::poll_read_buf(Pin::new(rd), cx, buf) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0)) => {
                            this.reuse = false;
                            return match this.decoder.eof() {
                                Ok(_) => {
                                    this.finish();
                                    Poll::Ready(None)
                                }
                                Err(why) => {
                                    this.conn = None;
                                    Poll::Ready(Some(Err(why.into())))
                                }
                            };
                        }
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(e)) => {
                            this.conn = None;
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    }
                }
                Err(why) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(why.into())));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
