//! strangler: an edge proxy for strangler-fig migrations.
//!
//! The layers, each importing only those below it (no module cycle):
//!
//! ```text
//! cli, app ─ commands; wiring: listeners, snapshot, reload, admin, drain
//!   server    accept; TLS (tls); HTTP/2 on hyper; HTTP/1.1 on the wire crate
//!             (strangler-wire), to which the proxy is a Handler (server::Edge)
//!   proxy     one request in stages: admit ─▶ prepare ─▶ plan shadow ─▶
//!             dispatch ─▶ respond/tee; access log and metrics (proxy::record)
//!     request, normalize, headers, routing   pure checks and the route table
//!     dispatch  breaker (resilience crate), retries (retry), fallback
//!     blame     who failed: success, the upstream, or the client
//!     upstream, deadline, body   clients of an upstream (the wire's pool,
//!                                hyper for https), timeouts, guarded bodies
//!     ramp      gated, sticky moves from one upstream to another (a controller task)
//!     aggregate  API composition
//!     tunnel    upgrades (WebSocket, RFC 8441): handshake, then bytes both ways
//!     shadow    the copy, the comparison, the log (its own thread), the report
//!   snapshot  everything a reload changes, behind one ArcSwap (ProxyState)
//!   reload, admin, metrics   (admin::ui: /-/ui, the live page)
//! config, pointer, error ─ routes.yaml → validated types; JSON pointers;
//!             ProxyError → response, in one place
//! ```
//!
//! Only what the binary and the integration tests use is public (`app`,
//! `cli`, `config`, `alloc`, `shadow`'s report); the rest is `pub(crate)`.
pub(crate) mod admin;
pub(crate) mod aggregate;
pub mod alloc;
pub mod app;
pub(crate) mod blame;
pub(crate) mod body;
pub(crate) mod breaker;
pub mod cli;
pub mod config;
pub(crate) mod deadline;
#[cfg(feature = "demo")]
pub(crate) mod demo;
pub(crate) mod dispatch;
pub(crate) mod drain;
pub(crate) mod error;
pub(crate) mod grpc;
pub(crate) mod headers;
pub(crate) mod metrics;
pub(crate) mod nofile;
pub(crate) mod normalize;
pub mod plan;
pub(crate) mod pointer;
pub(crate) mod proxy;
pub mod ramp;
pub(crate) mod reload;
pub(crate) mod request;
pub(crate) mod request_id;
pub(crate) mod retry;
pub(crate) mod routing;
pub(crate) mod server;
pub mod shadow;
pub(crate) mod snapshot;
pub(crate) mod tls;
pub(crate) mod tunnel;
pub(crate) mod upstream;
