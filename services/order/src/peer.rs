//! One peer service over HTTP: a pooled hyper-util client with connect and request
//! timeouts, retries with backoff, and a circuit breaker.
//!
//! A call is retried only when repeating it is harmless: idempotent methods, and `POST`s
//! carrying an `Idempotency-Key`. A retry happens on no answer (connect error, reset,
//! timeout) or a 5xx; a 4xx is an answer and is returned as is. While the breaker is open,
//! calls fail at once with `circuit_open`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use resilience::breaker::{Breaker, Settings};
use service_common::backoff::Backoff;
use service_common::http::{IDEMPOTENCY_KEY, MAX_BODY_BYTES};
use service_common::saga::StepError;

/// The kind of error for a call the breaker refused.
pub const CIRCUIT_OPEN: &str = "circuit_open";
/// The kind of error for a call that got no usable answer.
pub const PEER_UNAVAILABLE: &str = "peer_unavailable";

/// Timeouts, retries and breaker settings for calls to peers.
#[derive(Debug, Clone)]
pub struct PeerPolicy {
    pub connect_timeout: Duration,
    /// For the whole exchange: sending the request and reading the response body.
    pub request_timeout: Duration,
    pub retry: Backoff,
    /// Consecutive failures that open a peer's breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker waits before letting a probe through.
    pub breaker_recovery: Duration,
}

impl Default for PeerPolicy {
    fn default() -> Self {
        PeerPolicy {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            retry: Backoff::default(),
            breaker_threshold: 5,
            breaker_recovery: Duration::from_secs(5),
        }
    }
}

/// A peer's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// One request to a peer, as [`Peer::call`] takes it; sent again on each attempt.
#[derive(Debug)]
struct Call<'a> {
    method: Method,
    path: &'a str,
    body: Option<Bytes>,
    idempotency_key: Option<&'a str>,
}

/// One peer: its base URL, its client and its breaker.
#[derive(Debug)]
pub struct Peer {
    name: &'static str,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    /// The shared breaker (the proxy's too): one probe at a time while
    /// half-open, one success closes it; a probe whose caller went away
    /// frees its slot.
    breaker: Arc<Breaker>,
    policy: PeerPolicy,
}

impl Peer {
    /// A peer at `base_url` (`http://host:port`, no path); refuses anything else.
    pub fn new(name: &'static str, base_url: &str, policy: PeerPolicy) -> std::io::Result<Self> {
        let invalid = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{name} URL {base_url:?}: {why}; expected http://HOST:PORT"),
            )
        };
        let uri: Uri = base_url.parse().map_err(|_| invalid("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("only http:// is supported"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("a base URL has no path or query"));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(policy.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(20))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Peer {
            name,
            base: format!("http://{authority}"),
            client,
            breaker: Breaker::new(
                name,
                Settings {
                    failure_threshold: policy.breaker_threshold.max(1),
                    recovery_timeout: policy.breaker_recovery,
                    success_threshold: 1,
                    half_open_requests: 1,
                },
                Arc::new(|peer, t| {
                    tracing::warn!(
                        peer,
                        from = t.from.as_str(),
                        to = t.to.as_str(),
                        reason = t.reason,
                        "peer breaker"
                    );
                }),
            ),
            policy,
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `closed`, `open` or `half_open`.
    pub fn breaker_state(&self) -> &'static str {
        self.breaker.status().state.as_str()
    }

    /// Calls `method path` with an optional JSON body, retrying when that is safe.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, StepError> {
        let safe_to_retry = idempotency_key.is_some()
            || matches!(
                method,
                Method::GET | Method::HEAD | Method::PUT | Method::DELETE
            );
        let call = Call {
            method,
            path,
            body,
            idempotency_key,
        };
        self.policy
            .retry
            .retry(
                || self.attempt(&call),
                |e: &StepError| safe_to_retry && e.retryable,
            )
            .await
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Answer, StepError> {
        let Ok(permit) = self.breaker.acquire() else {
            return Err(StepError::refused(
                CIRCUIT_OPEN,
                format!("{}: circuit open after repeated failures", self.name),
            ));
        };
        let outcome = tokio::time::timeout(self.policy.request_timeout, self.exchange(call))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {:?}",
                    self.policy.request_timeout
                ))
            });
        let result = match outcome {
            Ok(answer) if !answer.status.is_server_error() => Ok(answer),
            Ok(answer) => Err(format!("answered {}", answer.status)),
            Err(e) => Err(e),
        };
        permit.record(result.is_ok());
        match result {
            Ok(answer) => Ok(answer),
            Err(why) => {
                let Call { method, path, .. } = call;
                tracing::warn!(peer = self.name, %method, path, error = %why, "peer call failed");
                Err(StepError::unavailable(
                    PEER_UNAVAILABLE,
                    format!("{} {method} {path}: {why}", self.name),
                ))
            }
        }
    }

    async fn exchange(&self, call: &Call<'_>) -> Result<Answer, String> {
        let Call {
            method,
            path,
            body,
            idempotency_key,
        } = call;
        let uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|e| format!("bad request URI: {e}"))?;
        let mut request = Request::builder().method(method.clone()).uri(uri);
        if body.is_some() {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(key) = *idempotency_key {
            request = request.header(IDEMPOTENCY_KEY, key);
        }
        let request = request
            .body(Full::new(body.clone().unwrap_or_default()))
            .map_err(|e| format!("cannot build request: {e}"))?;
        let response = self.client.request(request).await.map_err(|e| {
            let source = std::error::Error::source(&e).map(ToString::to_string);
            format!(
                "{e}{}",
                source.map(|s| format!(": {s}")).unwrap_or_default()
            )
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok(Answer { status, body })
    }
}
