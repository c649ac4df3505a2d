//! The accept loop every service shares: HTTP/1.1 (and h2c) on a caller-bound listener,
//! until a shutdown future completes.
//!
//! On shutdown the listener is closed at once, open connections are asked to finish
//! (idle keep-alive connections close, in-flight requests complete) and [`serve`] returns
//! when they have, or after the grace period.
//!
//! [`run_service`] adds what each extracted service does around [`serve`]: a fresh outbox,
//! relayed to the service's bus while it serves and drained (for at most the grace period)
//! after; [`run_store`] and [`route_store`] are that and the routes for a service whose state
//! is one store.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::error::{ApiError, ErrorKind};
use crate::events::{self, Bus, Outbox, Publisher};
use crate::http::{self, HttpResponse};
use crate::RequestBody;

/// How long in-flight requests may take to finish after shutdown is signalled, unless a
/// service is told otherwise.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How a service that only publishes events runs (inventory- and payment-service).
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// How long in-flight requests may take to finish after shutdown is signalled.
    pub shutdown_grace: Duration,
    /// Where events go; `None`: a private in-process bus that nobody reads.
    pub event_bus: Option<Bus>,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            event_bus: None,
        }
    }
}

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before accepting again after an accept error (e.g. out of file
/// descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `handler` on `listener` until `shutdown` completes, then drains for at most
/// `grace`.
pub async fn serve<H, Fut>(
    name: &'static str,
    listener: TcpListener,
    grace: Duration,
    handler: H,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let local = listener.local_addr()?;
    tracing::info!(service = name, addr = %local, "listening");
    let handler = Arc::new(handler);
    let fault = Arc::new(std::sync::atomic::AtomicU16::new(0));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(service = name, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let handler = Arc::clone(&handler);
        let fault = Arc::clone(&fault);
        let service = service_fn(move |req: Request<Incoming>| {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let started = Instant::now();
            let injected = injected_fault(name, &fault, &method, &path, req.uri().query());
            // Each request runs in its own task: a client that hangs up does not cut a saga
            // short, and a panic becomes a 500 instead of a dropped connection.
            let answer = injected.is_none().then(|| tokio::spawn(handler(req)));
            async move {
                let Some(answer) = answer else {
                    return Ok::<_, Infallible>(injected.unwrap_or_else(|| {
                        ApiError::new(ErrorKind::Internal, "no answer").into_response()
                    }));
                };
                let response = answer.await.unwrap_or_else(|e| {
                    tracing::error!(service = name, %method, %path, error = %e, "handler failed");
                    ApiError::new(ErrorKind::Internal, "the request handler failed").into_response()
                });
                tracing::debug!(service = name, %method, %path,
                    status = response.status().as_u16(),
                    micros = started.elapsed().as_micros() as u64, "answered");
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(service = name, %peer, error = %e, "connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::info!(service = name, addr = %local, "shutting down");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            service = name,
            "grace period over; dropping open connections"
        );
    }
    tracing::info!(service = name, addr = %local, "stopped");
    Ok(())
}

/// Runs a service that publishes domain events: builds its state over a fresh outbox with
/// `state` (failing at once when that fails), relays the outbox to `bus` (a private memory
/// bus when `None`), [`serve`]s until `shutdown` completes, then gives the relay up to
/// `grace` to publish what is pending. Each request goes to `route` along with the state.
pub async fn run_service<S, R, Fut>(
    name: &'static str,
    listener: TcpListener,
    grace: Duration,
    bus: Option<Bus>,
    state: impl FnOnce(Outbox) -> std::io::Result<S>,
    route: R,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: Send + Sync + 'static,
    R: Fn(Arc<S>, Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let outbox = Outbox::new();
    let state = Arc::new(state(outbox.clone())?);
    let publisher = Publisher::start_with(outbox, bus);
    let handler = move |req| route(Arc::clone(&state), req);
    let served = serve(name, listener, grace, handler, shutdown).await;
    publisher.stop(grace).await;
    served
}

/// [`run_service`] for a service whose state is one store recording its events in the
/// outbox: `store(outbox)` builds it, `route(state, req)` answers with `state.0` the store
/// and `state.1` the outbox.
pub async fn run_store<S, R, Fut>(
    name: &'static str,
    listener: TcpListener,
    options: ServiceOptions,
    store: impl FnOnce(Outbox) -> S,
    route: R,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: Send + 'static,
    R: Fn(Arc<(Mutex<S>, Outbox)>, Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let state = |outbox: Outbox| Ok((Mutex::new(store(outbox.clone())), outbox));
    let ServiceOptions {
        shutdown_grace,
        event_bus,
    } = options;
    run_service(
        name,
        listener,
        shutdown_grace,
        event_bus,
        state,
        route,
        shutdown,
    )
    .await
}

/// The routes of a service whose state is one store: `GET /events/stats` from `outbox`,
/// `GET /health`, every path whose first segment is one of `prefixes` to `handle`, and `404`
/// for anything else.
pub async fn route_store<B, Fut>(
    outbox: &Outbox,
    prefixes: &[&str],
    req: Request<B>,
    handle: impl FnOnce(Request<B>) -> Fut,
) -> HttpResponse
where
    B: RequestBody,
    Fut: Future<Output = HttpResponse>,
{
    let path = req.uri().path().to_owned();
    match http::segments(&path).as_slice() {
        ["events", "stats"] => events::stats_response(req.method(), outbox.stats()),
        [first, ..] if prefixes.contains(first) => handle(req).await,
        ["health"] => http::health(req.method()),
        _ => http::no_route(&path),
    }
}

/// The demo's fault switch, for showing a rollback: `PUT /-/fault?status=500`
/// makes the service answer every request with that status until
/// `DELETE /-/fault`. `None`: serve the request.
fn injected_fault(
    name: &'static str,
    fault: &std::sync::atomic::AtomicU16,
    method: &hyper::Method,
    path: &str,
    query: Option<&str>,
) -> Option<HttpResponse> {
    use std::sync::atomic::Ordering;
    if path == "/-/fault" {
        let status = match *method {
            hyper::Method::PUT => query
                .and_then(|q| q.strip_prefix("status="))
                .and_then(|s| s.parse::<u16>().ok())
                .filter(|s| (400..600).contains(s))
                .unwrap_or(500),
            _ => 0,
        };
        fault.store(status, Ordering::Relaxed);
        tracing::warn!(service = name, status, "fault switch set (0: off)");
        return Some(http::json(
            hyper::StatusCode::OK,
            &serde_json::json!({ "fault": status }),
        ));
    }
    let status = fault.load(Ordering::Relaxed);
    let status = hyper::StatusCode::from_u16(status).ok()?;
    Some(http::json(
        status,
        &serde_json::json!({ "error": "injected_fault", "message": "the fault switch is on (DELETE /-/fault)" }),
    ))
}
