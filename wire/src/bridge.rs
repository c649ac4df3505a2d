//! The request body of an HTTP/1.1 client connection, handed from the
//! connection (which reads and decodes it) to the request's handler (which
//! polls it as an `http_body::Body`), one frame at a time.
//!
//! ```text
//! connection ── Feeder::put(frame) ─▶ Slot ─▶ RequestBody::poll_frame ── handler
//!            ◀── Feeder::wanted() ─── (the handler asked for more)
//! ```
//!
//! Nothing is read from the client before the handler asks (back-pressure,
//! and `Expect: 100-continue` answered only when the body is wanted).
//! [`Feed`] is the connection's loop: decode what is wanted, read more.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BodyError, BoxError};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::framing::{Decoded, Decoder};

#[derive(Default)]
struct Slot {
    frame: Option<Result<Bytes, BoxError>>,
    /// The handler waits for a frame.
    wanted: bool,
    /// The last frame was put.
    ended: bool,
    /// The handler dropped the body.
    dropped: bool,
    handler: Option<Waker>,
    feeder: Option<Waker>,
}

fn lock(s: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    // A poisoned slot only means a panicking peer; its data is still whole.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The handler's side.
pub struct RequestBody {
    slot: Option<Arc<Mutex<Slot>>>,
    /// Declared length still to come, when known.
    left: Option<u64>,
}

/// The connection's side.
pub struct Feeder {
    slot: Arc<Mutex<Slot>>,
}

impl RequestBody {
    /// A request without a body.
    pub fn empty() -> Self {
        RequestBody {
            slot: None,
            left: Some(0),
        }
    }

    /// A body the connection will feed; `len`: its declared length.
    pub fn channel(len: Option<u64>) -> (RequestBody, Feeder) {
        let slot = Arc::new(Mutex::new(Slot::default()));
        (
            RequestBody {
                slot: Some(Arc::clone(&slot)),
                left: len,
            },
            Feeder { slot },
        )
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(slot) = &self.slot else {
            return Poll::Ready(None);
        };
        let mut s = lock(slot);
        if let Some(frame) = s.frame.take() {
            if let Some(w) = s.feeder.take() {
                w.wake();
            }
            drop(s);
            if let (Ok(data), Some(left)) = (&frame, &mut self.left) {
                *left = left.saturating_sub(data.len() as u64);
            }
            return Poll::Ready(Some(frame.map(Frame::data)));
        }
        if s.ended {
            return Poll::Ready(None);
        }
        s.wanted = true;
        s.handler = Some(cx.waker().clone());
        if let Some(w) = s.feeder.take() {
            w.wake();
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        match &self.slot {
            None => true,
            Some(slot) => {
                let s = lock(slot);
                s.ended && s.frame.is_none()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            let mut s = lock(slot);
            s.dropped = true;
            if let Some(w) = s.feeder.take() {
                w.wake();
            }
        }
    }
}

impl Feeder {
    /// Wait until the handler wants a frame (`true`) or dropped the body (`false`).
    pub async fn wanted(&self) -> bool {
        poll_fn(|cx| {
            let mut s = lock(&self.slot);
            if s.dropped {
                Poll::Ready(false)
            } else if s.wanted && s.frame.is_none() {
                Poll::Ready(true)
            } else {
                s.feeder = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Whether the handler dropped the body.
    pub fn dropped(&self) -> bool {
        lock(&self.slot).dropped
    }

    /// Hand over a frame (or the error that ends the body).
    pub fn put(&self, frame: Result<Bytes, BoxError>) {
        let mut s = lock(&self.slot);
        if frame.is_err() {
            s.ended = true;
        }
        s.frame = Some(frame);
        s.wanted = false;
        if let Some(w) = s.handler.take() {
            w.wake();
        }
    }

    /// The body is complete.
    pub fn end(&self) {
        let mut s = lock(&self.slot);
        s.ended = true;
        if let Some(w) = s.handler.take() {
            w.wake();
        }
    }
}

impl Drop for Feeder {
    /// A connection that stops feeding (closed, or moved on) ends the body
    /// with an error unless it ended it cleanly.
    fn drop(&mut self) {
        let mut s = lock(&self.slot);
        if !s.ended {
            s.ended = true;
            s.frame = Some(Err(Box::new(BodyError::Cut)));
            if let Some(w) = s.handler.take() {
                w.wake();
            }
        }
    }
}

/// The request body's decoding state, kept across the phases of an exchange.
/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub struct Feed {
    pub decoder: Decoder,
    /// `None`: the body ended, failed, or was dropped by the handler.
    pub feeder: Option<Feeder>,
    pub send_continue: bool,
}

impl Feed {
    /// Feed frames as they are wanted until the body ends or is dropped.
    /// Cancel-safe: all state lives in `self` and `buf`.
    pub async fn run<R, W>(&mut self, rd: &mut R, buf: &mut BytesMut, mut wr: Option<&mut W>)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        while let Some(feeder) = &self.feeder {
            if !feeder.wanted().await {
                self.feeder = None;
                return;
            }
            if self.send_continue {
                if let Some(w) = wr.as_deref_mut() {
                    if w.write_all(CONTINUE).await.is_err() {
                        self.feeder = None;
                        return;
                    }
                }
                self.send_continue = false;
            }
            loop {
                match self.decoder.decode(buf) {
                    Ok(Decoded::Data(b)) => {
                        feeder.put(Ok(b));
                        break;
                    }
                    // A client's request trailers are not passed on.
                    Ok(Decoded::Trailer(..)) => {}
                    Ok(Decoded::Done) => {
                        feeder.end();
                        self.feeder = None;
                        return;
                    }
                    Ok(Decoded::Pending) => {
                        buf.reserve(16 * 1024);
                        match super::server::read_more(rd, buf).await {
                            // The client closed (or its connection broke)
                            // before the body's end.
                            Ok(0) | Err(_) => {
                                feeder.put(Err(Box::new(BodyError::Cut)));
                                self.feeder = None;
                                return;
                            }
                            Ok(_) => {}
                        }
                    }
                    Err(why) => {
                        feeder.put(Err(Box::new(BodyError::Malformed(why))));
                        self.feeder = None;
                        return;
                    }
                }
            }
        }
    }
}
