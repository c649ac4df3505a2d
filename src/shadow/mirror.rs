//! Sending the copy and comparing the answers. The client's response is
//! never delayed: the copy runs in its own task with its own timeout, a
//! global cap of copies in flight (no permit, no copy: `skipped`), and the
//! shadow upstream's breaker. The primary's body streams to the client
//! through [`Tee`], which keeps a copy up to `max_body` for the comparison.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::diff::{compare, header_pairs, millis, Fields, Observed};
use super::log::ShadowLog;
use super::probe::{FirstAnswer, Probe};
use super::record::{
    format_ts, PrimarySide, RequestMeta, ShadowErrorKind, ShadowRecord, ShadowSide, SkipReason,
};
use super::verdict::ReadyRule;
use crate::body::{full, BoxError, Frames, Guarded, ProxyBody};
use crate::breaker::Permit;
use crate::error::ProxyError;
use crate::routing::ShadowTarget;
use crate::upstream::Upstream;

/// The primary's answer as the comparison needs it.
pub struct Captured {
    pub status: u16,
    pub headers: Fields,
    pub latency_ms: f64,
    pub upstream: Arc<str>,
    /// `None`: the body was over `max_body`.
    pub body: Option<Bytes>,
}

/// A copy's `Idempotency-Key`: the primary's with `-shadow` appended, so
/// that the shadow never takes it for the primary's (§7).
pub fn shadow_key(key: &HeaderValue) -> Option<HeaderValue> {
    HeaderValue::from_bytes(&[key.as_bytes(), b"-shadow"].concat()).ok()
}

/// Everything a copy needs, taken before the primary is sent.
pub struct ShadowCopy {
    pub meta: RequestMeta,
    pub upstream: Arc<Upstream>,
    pub target: Arc<ShadowTarget>,
    pub method: Method,
    /// The target of a copy sent on its own (empty when it goes pipelined).
    pub uri_path: String,
    pub query: Option<String>,
    /// Empty when the copy goes pipelined (its head is then in `head`);
    /// with the proxy's added fields in it otherwise.
    pub headers: HeaderMap,
    /// The request head of a pipelined copy, written when it was planned.
    pub head: Vec<u8>,
    pub body: Bytes,
    pub max_body: u64,
    pub idle: Duration,
    /// The primary asked twice, to learn its noise (`shadow.noise`).
    pub probe: Option<Box<Probe>>,
}

pub fn meta(request_id: &str, route: &Arc<str>, method: &Method, path: &str) -> RequestMeta {
    RequestMeta {
        ts: format_ts(SystemTime::now()),
        request_id: request_id.into(),
        route: Arc::clone(route),
        method: method_text(method),
        path: path.into(),
    }
}

/// A method's name: the usual ones without an allocation.
fn method_text(m: &Method) -> Cow<'static, str> {
    const USUAL: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    match USUAL.iter().find(|u| **u == m.as_str()) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(m.as_str().to_owned()),
    }
}

/// Record a copy that was not sent, once the primary answered; the route
/// judged by `rule`.
pub fn record_skip(
    log: &ShadowLog,
    meta: RequestMeta,
    primary: PrimarySide,
    shadow_upstream: &Arc<str>,
    (why, rule): (SkipReason, ReadyRule),
) {
    let r = ShadowRecord::skipped(meta, primary, shadow_upstream, why);
    log.record_judged(r, Some(rule));
}

impl ShadowCopy {
    /// The copy's headers, marked as one (§7); taken, as a copy is sent once.
    pub fn marked_headers(&mut self) -> HeaderMap {
        let mut h = std::mem::take(&mut self.headers);
        h.insert("x-shadow-request", HeaderValue::from_static("1"));
        if let Some(v) = h.get("idempotency-key").and_then(shadow_key) {
            h.insert("idempotency-key", v);
        }
        h.insert(http::header::HOST, self.upstream.host.clone());
        h
    }

    /// Build the copy for the shadow upstream.
    fn request(&mut self) -> Result<Request<ProxyBody>, ProxyError> {
        let h = self.marked_headers();
        let mut req = Request::new(full(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self
            .upstream
            .uri_for(&self.uri_path, self.query.as_deref())?;
        *req.version_mut() = Version::HTTP_11;
        *req.headers_mut() = h;
        Ok(req)
    }

    /// The outcome of a copy that got no comparable answer, from its error.
    pub fn failure(e: ProxyError) -> (ShadowErrorKind, String) {
        match e {
            ProxyError::UpstreamTimeout => (ShadowErrorKind::Timeout, "no answer in time".into()),
            ProxyError::UpstreamUnreachable(e) => (ShadowErrorKind::Connect, e),
            e => (ShadowErrorKind::UpstreamError, e.message()),
        }
    }

    /// Run in the background: send, read, wait for the primary, compare, record.
    pub async fn run(
        mut self,
        permit: Permit,
        _slot: OwnedSemaphorePermit,
        primary: oneshot::Receiver<Captured>,
        log: Arc<ShadowLog>,
    ) {
        let up = Arc::clone(&self.upstream);
        let started = Instant::now();
        let answer = match self.request() {
            Ok(req) => {
                up.send(req, &Default::default(), up.config.timeout.0, false)
                    .await
            }
            Err(e) => Err(e),
        };
        let latency_ms = millis(started.elapsed());
        crate::blame::Outcome::of(&answer).settle(permit, None, &up.name);
        let mut side = ShadowSide {
            upstream: Arc::clone(&up.name),
            latency_ms: Some(latency_ms),
            ..ShadowSide::default()
        };
        let shadow = match answer {
            Ok(resp) => {
                side.status = Some(resp.status().as_u16());
                let (parts, body) = resp.into_parts();
                let read = tokio::time::timeout(
                    up.config.timeout.0,
                    Guarded::new(body, self.max_body, self.idle).collect(),
                )
                .await;
                match read {
                    Ok(Ok(c)) => Ok((
                        parts.status.as_u16(),
                        header_pairs(&parts.headers, &self.target.spec),
                        c.to_bytes(),
                    )),
                    Ok(Err(e))
                        if crate::body::find_body_error(&*e)
                            == Some(crate::body::BodyError::TooLarge) =>
                    {
                        Err(None)
                    }
                    Ok(Err(e)) => Err(Some((ShadowErrorKind::Body, e.to_string()))),
                    Err(_) => Err(Some((
                        ShadowErrorKind::Timeout,
                        "the shadow body timed out".to_string(),
                    ))),
                }
            }
            Err(e) => Err(Some(ShadowCopy::failure(e))),
        };
        let pending = Pending {
            meta: self.meta,
            target: self.target,
            side,
            shadow,
            log,
            probe: self.probe,
        };
        // The primary finishes streaming to its client; wait for its copy.
        pending.wait(primary).await;
    }
}

/// The shadow's answer as compared: status, compared headers, body; or
/// `None` when the body was over `max_body`, or the error.
pub type ShadowAnswer = Result<(u16, Fields, Bytes), Option<(ShadowErrorKind, String)>>;

/// A copy whose shadow side is known, waiting for the primary's.
pub struct Pending {
    pub meta: RequestMeta,
    pub target: Arc<ShadowTarget>,
    pub side: ShadowSide,
    pub shadow: ShadowAnswer,
    pub log: Arc<ShadowLog>,
    pub probe: Option<Box<Probe>>,
}

impl Pending {
    /// Compare and record once the primary's answer is captured.
    pub async fn wait(self, primary: oneshot::Receiver<Captured>) {
        match tokio::time::timeout(Duration::from_secs(300), primary).await {
            Ok(Ok(p)) => self.conclude(p),
            _ => {
                tracing::debug!(request_id = %self.meta.request_id, "primary did not complete; no comparison");
            }
        }
    }

    /// As [`Pending::wait`], concluding at once when the primary is done
    /// (the usual case), waiting in a task of its own otherwise.
    pub fn when_primary(self, mut primary: oneshot::Receiver<Captured>) {
        match primary.try_recv() {
            Ok(p) => self.conclude(p),
            Err(oneshot::error::TryRecvError::Empty) => {
                tokio::spawn(self.wait(primary));
            }
            Err(oneshot::error::TryRecvError::Closed) => {
                tracing::debug!(request_id = %self.meta.request_id, "primary did not complete; no comparison");
            }
        }
    }

    fn conclude(self, p: Captured) {
        let Pending {
            meta,
            target,
            mut side,
            shadow,
            log,
            probe,
        } = self;
        if let (Some(probe), Some(body)) = (probe, &p.body) {
            let first = FirstAnswer {
                upstream: Arc::clone(&p.upstream),
                status: p.status,
                headers: p.headers.clone(),
                body: body.clone(),
                latency_ms: p.latency_ms,
            };
            probe.start(meta.clone(), first, Arc::clone(&target), Arc::clone(&log));
        }
        let primary_side = PrimarySide {
            upstream: p.upstream,
            status: p.status,
            latency_ms: p.latency_ms,
        };
        let record = match (shadow, &p.body) {
            (Err(Some((kind, msg))), _) => {
                side.error = Some(msg);
                ShadowRecord::shadow_error(meta, primary_side, side, kind)
            }
            (Err(None), _) | (_, None) => ShadowRecord::skipped(
                meta,
                primary_side,
                &side.upstream,
                SkipReason::ResponseTooLarge,
            ),
            (Ok((status, headers, body)), Some(pbody)) => {
                let c = compare(
                    &Observed {
                        status: p.status,
                        headers: &p.headers,
                        body: pbody,
                    },
                    &Observed {
                        status,
                        headers: &headers,
                        body: &body,
                    },
                    &target.spec,
                );
                ShadowRecord::compared(meta, primary_side, side, c)
            }
        };
        log.record_judged(record, Some(target.ready));
    }
}

pin_project_lite::pin_project! {
    /// Streams the primary's body to the client, keeping a copy up to `max`.
    pub struct Tee {
        #[pin]
        inner: ProxyBody,
        kept: Frames,
        kept_len: u64,
        max: u64,
        over: bool,
        head: Option<Captured>,
        tx: Option<oneshot::Sender<Captured>>,
    }

    impl PinnedDrop for Tee {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // hyper may never poll a body that is already at its end.
            if this.inner.is_end_stream() {
                send(this.tx, this.head, this.kept, *this.over);
            }
        }
    }
}

fn send(
    tx: &mut Option<oneshot::Sender<Captured>>,
    head: &mut Option<Captured>,
    kept: &mut Frames,
    over: bool,
) {
    if let (Some(tx), Some(mut c)) = (tx.take(), head.take()) {
        c.body = (!over).then(|| kept.take());
        let _ = tx.send(c);
    }
}

impl Tee {
    pub fn new(inner: ProxyBody, max: u64, head: Captured, tx: oneshot::Sender<Captured>) -> Self {
        Tee {
            inner,
            kept: Frames::default(),
            kept_len: 0,
            max,
            over: false,
            head: Some(head),
            tx: Some(tx),
        }
    }
}

impl Body for Tee {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    if !*this.over && *this.kept_len + d.len() as u64 <= *this.max {
                        *this.kept_len += d.len() as u64;
                        this.kept.push(d.clone());
                    } else {
                        *this.over = true;
                        this.kept.clear();
                    }
                }
            }
            Poll::Ready(None) => send(this.tx, this.head, this.kept, *this.over),
            Poll::Ready(Some(Err(_))) => {
                this.tx.take();
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
