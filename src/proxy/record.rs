//! The access log line and the request metrics of one request, written
//! once: when it is answered, or on drop as 499 when the client went away
//! first (an HTTP/2 reset, a closed connection).

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use http::HeaderValue;

use crate::dispatch::Served;
use crate::metrics::{Name, RequestLabels, RouteUpstream};
use crate::snapshot::ProxyState;

/// The label for "no route" / "no upstream".
static NONE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

/// What the access log and the metrics say of one request, written once:
/// when it is answered or, when the client goes away first (its future is
/// dropped: an HTTP/2 reset, a closed connection), on drop, as 499.
pub(super) struct Record<'a> {
    pub(super) state: &'a ProxyState,
    pub(super) started: Instant,
    pub(super) request_id: HeaderValue,
    /// The request line, kept only when the access log is on (boxed: every
    /// request in flight carries this record, few log).
    pub(super) line: Option<Box<(http::Method, http::Uri)>>,
    pub(super) peer: SocketAddr,
    pub(super) served: Served,
    pub(super) written: bool,
}

impl Record<'_> {
    /// The request line to log, when the access log is on (`RUST_LOG`):
    /// otherwise nothing is copied.
    pub(super) fn line(
        method: &http::Method,
        uri: &http::Uri,
    ) -> Option<Box<(http::Method, http::Uri)>> {
        tracing::enabled!(target: "strangler::access", tracing::Level::INFO)
            .then(|| Box::new((method.clone(), uri.clone())))
    }

    /// Counted and logged once; returns the instant it read as the
    /// request's end (`None`: already written).
    pub(super) fn write(&mut self, status: u16, bytes: Option<u64>) -> Option<Instant> {
        if std::mem::replace(&mut self.written, true) {
            return None;
        }
        let ended = Instant::now();
        let elapsed = ended.saturating_duration_since(self.started);
        let served = std::mem::take(&mut self.served);
        if let Some(ramp) = &served.ramp {
            // Counted on the side that answered (a sick `to` hands its
            // share to `from`); a client that went away says nothing.
            if status != crate::error::CLIENT_CLOSED {
                let on_to = served.upstream.as_deref() == Some(ramp.def.to.as_str());
                let side = if on_to {
                    &ramp.window.to
                } else {
                    &ramp.window.from
                };
                side.record(status >= 500, elapsed);
            }
        }
        let route = Name(served.route.unwrap_or_else(|| Arc::clone(&NONE)));
        let upstream = Name(served.upstream.unwrap_or_else(|| Arc::clone(&NONE)));
        if let Some((method, uri)) = self.line.as_deref() {
            tracing::info!(
                target: "strangler::access",
                request_id = self.request_id.to_str().unwrap_or(""),
                method = %method,
                path = uri.path(),
                route = &*route.0,
                upstream = &*upstream.0,
                status,
                bytes,
                // Whole microseconds: no float noise (0.12337200000000001).
                duration_ms = elapsed.as_micros() as f64 / 1000.0,
                peer = %self.peer,
                "request"
            );
        }
        let m = &self.state.metrics;
        match &served.metrics {
            Some(rm) => rm.record(m, &route, &upstream, status, elapsed.as_secs_f64()),
            None => {
                m.duration
                    .get_or_create(&RouteUpstream {
                        route: route.clone(),
                        upstream: upstream.clone(),
                    })
                    .observe(elapsed.as_secs_f64());
                m.requests
                    .get_or_create(&RequestLabels {
                        route,
                        upstream,
                        code: status,
                    })
                    .inc();
            }
        }
        Some(ended)
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        self.write(crate::error::CLIENT_CLOSED, None);
    }
}
