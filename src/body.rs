//! Body types. Bodies stream both ways; [`Guarded`] wraps a streaming body
//! with the two limits a proxy needs and hyper lacks: a size cap
//! (`limits.max_request_body`) and an idle timeout (a body that stops
//! sending is cut off instead of holding a connection forever).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of every request and response the proxy handles.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

pub fn full(b: impl Into<Bytes>) -> ProxyBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Why a body stopped. For a request body these are all the client's
/// doing (see `blame`): none of them says anything about an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over its size limit.
    TooLarge,
    /// No progress for the idle timeout.
    Idle,
    /// Its framing is broken (a chunk size `zz`, say): the sender's fault.
    Malformed(&'static str),
    /// It ended early: the connection closed, or the stream was reset.
    Cut,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "body exceeds the configured limit",
            BodyError::Idle => "body stalled past the idle timeout",
            BodyError::Malformed(why) => why,
            BodyError::Cut => "body ended early: the connection closed or the stream was reset",
        })
    }
}

impl std::error::Error for BodyError {}

/// Find a [`BodyError`] anywhere in an error's source chain.
pub fn find_body_error(e: &(dyn std::error::Error + 'static)) -> Option<BodyError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(b) = err.downcast_ref::<BodyError>() {
            return Some(*b);
        }
        cur = err.source();
    }
    None
}

pin_project_lite::pin_project! {
    /// A body with a size cap and an idle timeout. The timer is only armed
    /// when the inner body has to wait: a body that is already buffered
    /// (the usual small response) costs no timer and no clock read.
    pub struct Guarded<B> {
        #[pin]
        inner: B,
        seen: u64,
        max: u64,
        idle: Duration,
        timer: Option<Pin<Box<Sleep>>>,
        armed: bool,
    }
}

impl<B> Guarded<B> {
    pub fn new(inner: B, max: u64, idle: Duration) -> Self {
        Guarded {
            inner,
            seen: 0,
            max,
            idle,
            timer: None,
            armed: false,
        }
    }
}

impl<B> Body for Guarded<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.seen += data.len() as u64;
                    if *this.seen > *this.max {
                        return Poll::Ready(Some(Err(Box::new(BodyError::TooLarge))));
                    }
                }
                // Progress: the next wait starts a fresh idle period.
                *this.armed = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = || Instant::now() + *this.idle;
                let timer = match this.timer {
                    Some(t) if *this.armed => t,
                    Some(t) => {
                        t.as_mut().reset(deadline());
                        t
                    }
                    None => this
                        .timer
                        .insert(Box::pin(tokio::time::sleep_until(deadline()))),
                };
                *this.armed = true;
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyError::Idle)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A client's request body: any failure of it that is not already a
    /// [`BodyError`] (an HTTP/2 stream reset, a connection gone) becomes
    /// [`BodyError::Cut`], so that everything downstream can tell a client's
    /// failure from an upstream's by its type.
    pub struct FromClient<B> {
        #[pin]
        inner: B,
    }
}

impl<B> FromClient<B> {
    pub fn new(inner: B) -> Self {
        FromClient { inner }
    }
}

impl<B> Body for FromClient<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().inner.poll_frame(cx) {
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                if find_body_error(&*e).is_some() {
                    Poll::Ready(Some(Err(e)))
                } else {
                    tracing::debug!(error = %e, "request body ended early");
                    Poll::Ready(Some(Err(Box::new(BodyError::Cut))))
                }
            }
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body kept as the frames it came in (shared, not copied), joined once
/// at the end. Most bodies are one frame: that one is kept without a list.
#[derive(Default)]
pub struct Frames {
    first: Option<Bytes>,
    more: Vec<Bytes>,
}

impl Frames {
    pub fn push(&mut self, frame: Bytes) {
        match self.first {
            None => self.first = Some(frame),
            Some(_) => self.more.push(frame),
        }
    }

    pub fn clear(&mut self) {
        self.first = None;
        self.more.clear();
    }

    /// The whole body: the one frame as it is, several joined.
    pub fn take(&mut self) -> Bytes {
        match (self.first.take(), self.more.is_empty()) {
            (None, _) => Bytes::new(),
            (Some(one), true) => one,
            (Some(one), false) => {
                self.more.insert(0, one);
                std::mem::take(&mut self.more).concat().into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_one_as_it_is_and_join_several() {
        let mut f = Frames::default();
        assert_eq!(f.take(), Bytes::new());
        let one = Bytes::from_static(b"abc");
        f.push(one.clone());
        let got = f.take();
        assert_eq!(got.as_ptr(), one.as_ptr(), "one frame is not copied");
        for part in ["a", "b", "c"] {
            f.push(Bytes::from(part));
        }
        assert_eq!(f.take(), "abc");
        assert_eq!(f.take(), Bytes::new(), "taken: empty again");
        f.push(Bytes::from("x"));
        f.push(Bytes::from("y"));
        f.clear();
        assert_eq!(f.take(), Bytes::new());
    }
}
