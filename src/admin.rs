//! The admin API, on `admin.listen`:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /-/health` | 200 `ok` while the process runs |
//! | `GET /-/ready` | 200 once listeners are bound and a config is loaded, else 503 |
//! | `GET /-/config` | version, sha256, loaded_at, path, routes, upstreams, last_error |
//! | `POST /-/reload` | 200 `{"version"}`, or 422 with the error (old config kept) |
//! | `POST /-/reload?dry_run=1` | 200 `{"summary", "plan"}`: what a reload would change (`plan`), applied not |
//! | `GET /-/breakers` | state, consecutive failures and opened_at per upstream |
//! | `GET /-/shadow` | the live shadow-diff report, per route |
//! | `GET /-/ui` | the live page: routes, breakers, shadow verdicts, ramps ([`ui`]) |
//! | `GET /metrics` | Prometheus text format |

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;

use crate::body::{full, ProxyBody};
use crate::proxy::ProxyState;
use crate::reload::{Outcome, Reloader};
use crate::shadow::record::format_ts;

mod ui;

pub struct Admin {
    pub state: Arc<ProxyState>,
    pub reloader: Arc<Reloader>,
    pub ready: AtomicBool,
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ProxyBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<ProxyBody> {
    respond(status, "application/json", v.to_string())
}

impl Admin {
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ProxyBody> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/-/health") => respond(StatusCode::OK, "text/plain", "ok\n"),
            (&Method::GET, "/-/ready") => {
                if self.ready.load(Ordering::Acquire) {
                    respond(StatusCode::OK, "text/plain", "ready\n")
                } else {
                    respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "not ready\n")
                }
            }
            (&Method::GET, "/-/config") => json_response(StatusCode::OK, &self.config()),
            (&Method::POST, "/-/reload") if dry_run(req.uri()) => self.dry_run().await,
            (&Method::POST, "/-/reload") => self.reload().await,
            (&Method::GET, "/-/breakers") => json_response(StatusCode::OK, &self.breakers()),
            (&Method::GET, "/-/shadow") => {
                let report = self.state.shadow_log.report();
                json_response(
                    StatusCode::OK,
                    &serde_json::to_value(&report).unwrap_or_default(),
                )
            }
            (&Method::GET, "/-/ramps") => json_response(StatusCode::OK, &self.ramps()),
            (&Method::GET, "/-/ui") => {
                respond(StatusCode::OK, "text/html; charset=utf-8", ui::page(self))
            }
            (&Method::POST, path) if path.starts_with("/-/ramps/") => self.ramp_action(path).await,
            (&Method::GET, "/metrics") => {
                self.refresh_breaker_gauges();
                respond(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    self.state.metrics.encode(),
                )
            }
            (
                _,
                "/-/health" | "/-/ready" | "/-/config" | "/-/reload" | "/-/breakers" | "/-/shadow"
                | "/-/ramps" | "/-/ui" | "/metrics",
            ) => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"error": "method_not_allowed", "message": format!("{} is not allowed here", req.method())}),
            ),
            (_, path) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "not_found", "message": format!("no admin endpoint {path}")}),
            ),
        }
    }

    /// `GET /-/ramps`: every ramp, by route.
    fn ramps(&self) -> serde_json::Value {
        let snap = self.state.snapshot.load();
        #[cfg(feature = "fleet")]
        let role = crate::ramp::fleet::role();
        #[cfg(not(feature = "fleet"))]
        let role: Option<(String, bool)> = None;
        let all: serde_json::Map<String, serde_json::Value> = snap
            .ramps()
            .map(|r| {
                let mut v = r.view();
                if let (Some((replica, leader)), Some(o)) = (&role, v.as_object_mut()) {
                    o.insert(
                        "fleet".into(),
                        json!({"replica": replica, "leader": leader}),
                    );
                }
                (r.route.to_string(), v)
            })
            .collect();
        serde_json::Value::Object(all)
    }

    /// `POST /-/ramps/NAME/pause|resume|promote|rollback`.
    async fn ramp_action(&self, path: &str) -> Response<ProxyBody> {
        use crate::ramp::{control::Action, drive::act};
        let rest = &path["/-/ramps/".len()..];
        let Some((name, action)) = rest.rsplit_once('/') else {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "not_found", "message": "use /-/ramps/NAME/pause|resume|promote|rollback"}),
            );
        };
        let Some(action) = Action::parse(action) else {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "not_found", "message": format!("no ramp action `{action}`; use pause, resume, promote or rollback")}),
            );
        };
        match act(&self.state, name, action).await {
            Ok(t) => json_response(StatusCode::OK, &json!({"route": name, "transition": t})),
            Err(e) if e.starts_with("no ramp") => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "not_found", "message": e}),
            ),
            Err(e) => json_response(
                StatusCode::CONFLICT,
                &json!({"error": "conflict", "message": e}),
            ),
        }
    }

    fn config(&self) -> serde_json::Value {
        let snap = self.state.snapshot.load();
        json!({
            "version": snap.version,
            "sha256": snap.sha256,
            "loaded_at": format_ts(snap.loaded_at),
            "path": self.reloader.path().display().to_string(),
            "routes": snap.config.routes.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            "route_table": snap.config.routes.iter().map(|r| json!({
                "name": r.name,
                "match": crate::plan::describe_match(r),
                "to": crate::plan::describe_destination(r),
            })).collect::<Vec<_>>(),
            "upstreams": snap.config.upstreams.keys().collect::<Vec<_>>(),
            "last_error": self.reloader.last_error(),
        })
    }

    /// `POST /-/reload?dry_run=1`: what a reload would change, applied not.
    async fn dry_run(&self) -> Response<ProxyBody> {
        match self.reloader.dry_run().await {
            Ok(plan) => json_response(
                StatusCode::OK,
                &json!({"dry_run": true, "summary": plan.summary(), "plan": plan}),
            ),
            Err(e) => json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"error": "invalid_config", "message": e.message, "line": e.line, "column": e.column, "at": e.at}),
            ),
        }
    }

    async fn reload(&self) -> Response<ProxyBody> {
        match self.reloader.reload("admin").await {
            Outcome::Applied(v) => {
                json_response(StatusCode::OK, &json!({"version": v, "changed": true}))
            }
            Outcome::Unchanged(v) => {
                json_response(StatusCode::OK, &json!({"version": v, "changed": false}))
            }
            Outcome::Failed(e) => json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"error": "invalid_config", "message": e.message, "line": e.line, "column": e.column, "at": e.at,
                        "version": self.state.snapshot.load().version}),
            ),
        }
    }

    fn breakers(&self) -> serde_json::Value {
        let snap = self.state.snapshot.load();
        let mut out = serde_json::Map::new();
        for u in &snap.upstreams {
            let s = u.breaker.status();
            out.insert(
                u.name.to_string(),
                json!({"state": s.state.as_str(), "consecutive_failures": s.consecutive_failures, "opened_at": s.opened_at.map(format_ts), "half_open_in_ms": s.half_open_in.map(|d| d.as_millis() as u64)}),
            );
        }
        serde_json::Value::Object(out)
    }

    fn refresh_breaker_gauges(&self) {
        let snap = self.state.snapshot.load();
        for u in &snap.upstreams {
            let label = crate::metrics::UpstreamLabel {
                upstream: crate::metrics::Name(Arc::clone(&u.name)),
            };
            self.state
                .metrics
                .breaker_state
                .get_or_create(&label)
                .set(u.breaker.status().state.gauge());
        }
    }
}

/// Serve the admin API until the task is dropped.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let admin = Arc::clone(&admin);
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let admin = Arc::clone(&admin);
                async move { Ok::<_, Infallible>(admin.handle(req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// `?dry_run=1` (or `true`) on the query.
fn dry_run(uri: &http::Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| matches!(kv, "dry_run" | "dry_run=1" | "dry_run=true"))
    })
}
