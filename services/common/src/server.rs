//! The accept loop every service shares: HTTP/1.1 (and h2c) on a caller-bound listener,
//! until a shutdown future completes.
//!
//! On shutdown the listener is closed at once, open connections are asked to finish
//! (idle keep-alive connections close, in-flight requests complete) and [`serve`] returns
//! when they have, or after the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::error::{ApiError, ErrorKind};
use crate::http::HttpResponse;

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
        let service = service_fn(move |req: Request<Incoming>| {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let started = Instant::now();
            // Each request runs in its own task: a client that hangs up does not cut a saga
            // short, and a panic becomes a 500 instead of a dropped connection.
            let answer = tokio::spawn(handler(req));
            async move {
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
