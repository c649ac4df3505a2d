//! Who failed. Every exchange with an upstream — a route's, a fallback's,
//! a retry's, an aggregate part's, a shadow copy's — ends in one
//! [`Outcome`], decided here and nowhere else:
//!
//! ```text
//! answer < 500 ─────────────────────────▶ Success   breaker: success
//! 5xx, connect error, timeout, garbage ──▶ Upstream  breaker: failure, counted,
//!                                                   may be retried / fall back
//! the client's body failed (cut, reset, ─▶ Client    breaker: untouched (permit
//!   malformed, stalled, too large)                   abandoned), never retried,
//!                                                   never sent to the fallback
//! the proxy is out of open files or     ─▶ Client    the same: no upstream
//!   socket memory at connect                         was tried
//! ```
//!
//! Nothing a client sends can therefore move a breaker: a request body's
//! failure reaches here typed as [`crate::body::BodyError`] (see
//! [`crate::body::FromClient`]) and becomes a client-side [`ProxyError`].

use std::sync::Arc;

use http::{Response, StatusCode};

use crate::breaker::Permit;
use crate::config::route::RetryOn;
use crate::error::ProxyError;
use crate::metrics::{Metrics, Name, UpstreamKind};

/// How an upstream failed, in the terms of `retry.on` and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    ServerError,
    Protocol,
}

impl Failure {
    /// The `kind` label of `strangler_upstream_errors_total`.
    pub fn kind(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::ServerError => "5xx",
            Failure::Protocol => "protocol",
        }
    }

    /// The `retry.on` condition it meets, if any.
    pub fn retry_on(self) -> Option<RetryOn> {
        match self {
            Failure::Connect => Some(RetryOn::Connect),
            Failure::Timeout => Some(RetryOn::Timeout),
            Failure::ServerError => Some(RetryOn::ServerError),
            Failure::Protocol => None,
        }
    }
}

/// How one exchange ended, and whose doing it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The upstream's fault: its breaker hears of it.
    Upstream(Failure),
    /// The client's fault (or an error decided before any exchange, such
    /// as an open breaker): no upstream is blamed.
    Client,
}

impl Outcome {
    /// An answer with this status.
    pub fn of_status(status: StatusCode) -> Outcome {
        if status.is_server_error() {
            Outcome::Upstream(Failure::ServerError)
        } else {
            Outcome::Success
        }
    }

    /// An exchange that failed with `e`. Exhaustive on purpose: a new error
    /// kind must be given a side here.
    pub fn of_error(e: &ProxyError) -> Outcome {
        match e {
            ProxyError::UpstreamUnreachable(_) => Outcome::Upstream(Failure::Connect),
            ProxyError::UpstreamTimeout => Outcome::Upstream(Failure::Timeout),
            ProxyError::UpstreamError(_) => Outcome::Upstream(Failure::Protocol),
            ProxyError::PartAnswer { status, .. } => Outcome::of_status(*status),
            ProxyError::NoRoute
            | ProxyError::BadRequest(_)
            | ProxyError::HeadersTooLarge
            | ProxyError::UriTooLong
            | ProxyError::BodyTooLarge
            | ProxyError::BodyTimeout
            | ProxyError::ClientClosed
            | ProxyError::NotImplemented(_)
            | ProxyError::CircuitOpen { .. }
            | ProxyError::Overloaded(_)
            | ProxyError::MethodNotAllowed => Outcome::Client,
        }
    }

    pub fn of<B>(result: &Result<Response<B>, ProxyError>) -> Outcome {
        match result {
            Ok(r) => Outcome::of_status(r.status()),
            Err(e) => Outcome::of_error(e),
        }
    }

    /// The upstream's failure, if it was one.
    pub fn failure(self) -> Option<Failure> {
        match self {
            Outcome::Upstream(f) => Some(f),
            _ => None,
        }
    }

    /// Tell the breaker (through the exchange's permit) and, when given,
    /// the metrics. A client-side outcome abandons the permit: the breaker
    /// learns nothing, and a half-open trial slot is freed.
    pub fn settle(self, permit: Permit, metrics: Option<&Metrics>, upstream: &Arc<str>) {
        match self {
            Outcome::Success => permit.record(true),
            Outcome::Client => drop(permit),
            Outcome::Upstream(f) => {
                permit.record(false);
                if let Some(m) = metrics {
                    m.upstream_errors
                        .get_or_create(&UpstreamKind {
                            upstream: Name(Arc::clone(upstream)),
                            kind: f.kind(),
                        })
                        .inc();
                }
            }
        }
    }
}

/// A connect that failed for want of the proxy's own resources — open
/// files (`EMFILE`, `ENFILE`), socket memory (`ENOBUFS`, `ENOMEM`) — not
/// for anything the upstream did: a flood of clients must not open a
/// breaker.
pub fn proxy_exhausted(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    Errno::from_io_error(e)
        .is_some_and(|n| [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM].contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_side_is_never_an_upstream_failure() {
        for e in [
            ProxyError::BadRequest("malformed chunk size"),
            ProxyError::BodyTimeout,
            ProxyError::ClientClosed,
            ProxyError::BodyTooLarge,
            ProxyError::NotImplemented("gzip"),
        ] {
            assert_eq!(Outcome::of_error(&e), Outcome::Client, "{e:?}");
        }
        assert_eq!(
            Outcome::of_error(&ProxyError::UpstreamTimeout),
            Outcome::Upstream(Failure::Timeout)
        );
        assert_eq!(
            Outcome::of_status(StatusCode::BAD_GATEWAY),
            Outcome::Upstream(Failure::ServerError)
        );
        assert_eq!(Outcome::of_status(StatusCode::NOT_FOUND), Outcome::Success);
    }
}
