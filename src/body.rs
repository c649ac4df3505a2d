//! Body types. Bodies stream both ways; [`Guarded`] wraps a streaming body
//! with the two limits a proxy needs and hyper lacks: a size cap
//! (`limits.max_request_body`) and an idle timeout (a body that stops
//! sending is cut off instead of holding a connection forever). The types
//! the HTTP/1.1 wire shares (errors, the boxed body, [`Frames`]) are
//! `strangler_wire::body`'s, re-exported here.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

pub use strangler_wire::body::{
    empty, find_body_error, full, BodyError, BoxError, BoxedBody as ProxyBody, Frames,
};

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
