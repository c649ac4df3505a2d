//! `routes.yaml`: the file → validated [`Config`] pipeline.
//!
//! ```text
//! text ──pass 1──▶ upstream names ──┐
//!   └────pass 2 (serde, deny_unknown_fields, visitors validate each scalar,
//!              TryFrom validates each route) ──▶ Config ──▶ ConfigError{file,line,col}
//! ```
//!
//! Validation happens *inside* deserialization so that every error carries
//! the line and column serde_yaml knows; cross-references (upstream names,
//! unique route names) use the scoped context of [`refs`]. Parsing takes a
//! `&str`; [`load`] is the thin file wrapper.

pub mod matching;
pub mod ramp;
pub mod refs;
pub mod route;
mod syntax;
pub mod units;
pub mod upstream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

pub use route::{Action, PathMatch, RouteConfig, Segment};
use units::{scalar_deserialize, scalar_schema, Dur, Size};
pub use upstream::{BreakerConfig, Protocol, UpstreamConfig, UpstreamUrl};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (for messages and relative paths).
    pub path: PathBuf,
    pub listen: SocketAddr,
    pub workers: Option<usize>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Settings of `strangler up` (the demo), not of the proxy.
    pub demo: DemoSettings,
    pub tls: Option<TlsFiles>,
    pub admin_listen: SocketAddr,
    /// `admin.debug_headers`: responses say which route and upstream
    /// answered (`x-strangler-route`, `x-strangler-upstream`).
    pub debug_headers: bool,
    /// Where the ramps' state is kept (`ramp_state`; default
    /// `ramps-state.json` beside the config).
    pub ramp_state: PathBuf,
    /// `ramp_state: nats://HOST:PORT`: the fleet's ramps in NATS key-value,
    /// decided by one leader (`ramp::fleet`).
    pub ramp_fleet: Option<String>,
    pub shadow: ShadowSettings,
    pub limits: Limits,
    pub upstreams: IndexMap<String, UpstreamConfig>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `demo:` — read only by `strangler up`.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    /// The services' event bus: `memory` or `nats://HOST:PORT`.
    pub event_bus: String,
}

#[derive(Debug, Clone)]
pub struct ShadowSettings {
    pub log: PathBuf,
    pub max_body: u64,
    pub max_inflight: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_request_body: u64,
    pub drain_timeout: Duration,
    /// A request or response body that sends nothing for this long is cut off.
    pub body_idle_timeout: Duration,
    /// An upgraded connection (WebSocket) over which nothing crosses for
    /// this long is closed.
    pub tunnel_idle_timeout: Duration,
    /// A client connection with no request in flight for this long is
    /// closed (HTTP/2: GOAWAY first).
    pub keepalive_timeout: Duration,
}

/// A configuration error: where, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// routes.yaml as written (its JSON Schema is `strangler schema`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "strangler routes.yaml")]
struct RawConfig {
    listen: Addr,
    workers: Option<Workers>,
    #[serde(default)]
    trusted_proxies: Vec<Cidr>,
    /// Moved under `demo:`; read here only to say so.
    #[serde(rename = "event_bus")]
    _event_bus: Option<Moved>,
    #[serde(default)]
    demo: RawDemo,
    tls: Option<RawTls>,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    shadow: RawShadow,
    #[serde(default)]
    limits: RawLimits,
    /// Where ramps keep their state: a file (relative to this one; default
    /// `ramps-state.json`), replaced atomically at every move; or
    /// `nats://HOST:PORT`: NATS JetStream key-value, shared by the fleet.
    ramp_state: Option<String>,
    upstreams: IndexMap<String, UpstreamConfig>,
    routes: Vec<RouteConfig>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: String,
    key: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Addr,
    /// Responses carry `x-strangler-route` and `x-strangler-upstream` (off:
    /// they name internals).
    #[serde(default)]
    debug_headers: bool,
}
impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            listen: Addr(SocketAddr::from(([127, 0, 0, 1], 9901))),
            debug_headers: false,
        }
    }
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawShadow {
    log: Option<String>,
    max_body: Option<Size>,
    max_inflight: Option<usize>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    header_read_timeout: Option<Dur>,
    max_request_body: Option<Size>,
    drain_timeout: Option<Dur>,
    body_idle_timeout: Option<Dur>,
    /// An upgraded connection (WebSocket) silent for this long is closed (10m).
    tunnel_idle_timeout: Option<Dur>,
    /// A client connection with no request in flight for this long is
    /// closed, HTTP/1.1 or HTTP/2 (75s, NGINX's `keepalive_timeout`).
    keepalive_timeout: Option<Dur>,
}

struct Addr(SocketAddr);
fn parse_addr(s: &str) -> Result<Addr, String> {
    s.parse().map(Addr).map_err(|_| {
        format!("`{s}` is not an address; write IP:PORT, like `127.0.0.1:8080` or `0.0.0.0:8080`")
    })
}
scalar_deserialize!(Addr, "an address like `127.0.0.1:8080`", parse_addr);
scalar_schema!(Addr, "Address", {"type": "string", "description": "an address like 127.0.0.1:8080"});

struct Workers(usize);
fn parse_workers(s: &str) -> Result<Workers, String> {
    match s.parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(Workers(n)),
        _ => Err(format!(
            "`workers: {s}` must be a whole number from 1 to 1024, or left out for one per core"
        )),
    }
}
scalar_deserialize!(Workers, "a number of worker threads", parse_workers);
scalar_schema!(Workers, "Workers", {"type": "integer", "minimum": 1, "description": "runtime worker threads"});

struct Cidr(ipnet::IpNet);
fn parse_cidr(s: &str) -> Result<Cidr, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(Cidr)
        .map_err(|_| format!("`{s}` is not a CIDR; write one like `10.0.0.0/8` or `127.0.0.1/32`"))
}
scalar_deserialize!(Cidr, "a CIDR like `10.0.0.0/8`", parse_cidr);
scalar_schema!(Cidr, "Cidr", {"type": "string", "description": "a CIDR like 10.0.0.0/8, or an address"});

struct EventBus(String);
fn parse_bus(s: &str) -> Result<EventBus, String> {
    if s == "memory" || s.strip_prefix("nats://").is_some_and(|h| !h.is_empty()) {
        Ok(EventBus(s.to_string()))
    } else {
        Err(format!(
            "`event_bus: {s}` must be `memory` or `nats://HOST:PORT`"
        ))
    }
}
scalar_deserialize!(EventBus, "`memory` or `nats://HOST:PORT`", parse_bus);
scalar_schema!(EventBus, "EventBus", {"type": "string", "pattern": "^(memory|nats://.+)$", "description": "memory, or nats://HOST:PORT"});

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawDemo {
    event_bus: Option<EventBus>,
}

/// A key that moved: always an error that says where to.
struct Moved;
fn moved(s: &str) -> Result<Moved, String> {
    Err(format!(
        "`event_bus` is a setting of the demo now: write `demo: {{ event_bus: {s} }}`"
    ))
}
scalar_deserialize!(Moved, "`demo: { event_bus: ... }`", moved);
scalar_schema!(Moved, "Moved", {"not": {}, "description": "moved: write demo: { event_bus: ... }"});

/// Only the upstream names, read leniently (pass 1).
#[derive(Deserialize)]
struct UpstreamNames {
    #[serde(default)]
    upstreams: IndexMap<String, serde::de::IgnoredAny>,
}

/// serde_yaml appends " at line L column C"; the error carries those as fields.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_string(),
        _ => message.to_string(),
    }
}

/// The JSON Schema of routes.yaml, generated from the types it is read
/// into (`strangler schema`; editors complete and check with it). The
/// schema says the shape; `check` says everything else (unknown upstream
/// names, duplicate routes, a regex that does not compile...).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawConfig)).unwrap_or_default()
}

/// Read and validate the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    parse(&read(path)?, path)
}

/// The file's text, or an error naming it.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: None,
        column: None,
        message: format!("cannot read the configuration: {e}"),
    })
}

/// Validate `text` as the content of the file at `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let at = |e: serde_yaml::Error| {
        let loc = e.location();
        ConfigError {
            file: file.clone(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message: strip_location(&e.to_string()),
        }
    };
    if text.trim().is_empty() {
        return Err(ConfigError {
            file,
            line: Some(1),
            column: Some(1),
            message: "the file is empty; it needs at least `listen:`, `upstreams:` and `routes:`"
                .into(),
        });
    }
    // Syntax first: semantic checks only on a document that parsed.
    if let Some((message, at)) = syntax::check(text) {
        return Err(ConfigError {
            file,
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            message,
        });
    }
    let names: Vec<String> = serde_yaml::from_str::<UpstreamNames>(text)
        .map(|n| n.upstreams.into_keys().collect())
        .unwrap_or_default();
    let raw: RawConfig = {
        let _scope = refs::Scope::enter(names);
        serde_yaml::from_str(text).map_err(at)?
    };
    if raw.routes.is_empty() {
        return Err(ConfigError {
            file,
            line: None,
            column: None,
            message:
                "`routes:` is empty; add at least a catch-all route (`match: { path_prefix: / }`)"
                    .into(),
        });
    }
    Ok(validated(raw, path))
}

/// The validated config from a raw one that parsed: defaults filled in,
/// paths made relative to the config file's directory.
fn validated(raw: RawConfig, path: &Path) -> Config {
    let dir = path.parent().unwrap_or(Path::new("."));
    let relative = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };
    let limits = &raw.limits;
    Config {
        path: path.to_path_buf(),
        listen: raw.listen.0,
        workers: raw.workers.map(|w| w.0),
        trusted_proxies: raw.trusted_proxies.into_iter().map(|c| c.0).collect(),
        demo: DemoSettings {
            event_bus: raw
                .demo
                .event_bus
                .map_or_else(|| "memory".to_string(), |b| b.0),
        },
        tls: raw.tls.map(|t| TlsFiles {
            cert: relative(&t.cert),
            key: relative(&t.key),
        }),
        admin_listen: raw.admin.listen.0,
        debug_headers: raw.admin.debug_headers,
        ramp_fleet: raw
            .ramp_state
            .as_deref()
            .filter(|s| s.starts_with("nats://"))
            .map(str::to_string),
        ramp_state: relative(
            raw.ramp_state
                .as_deref()
                .filter(|s| !s.starts_with("nats://"))
                .unwrap_or("ramps-state.json"),
        ),
        shadow: ShadowSettings {
            log: relative(raw.shadow.log.as_deref().unwrap_or("shadow-diffs.jsonl")),
            max_body: raw.shadow.max_body.map_or(1 << 20, |s| s.0),
            max_inflight: raw.shadow.max_inflight.unwrap_or(256),
        },
        limits: Limits {
            header_read_timeout: limits
                .header_read_timeout
                .map_or(Duration::from_secs(10), |d| d.0),
            max_request_body: limits.max_request_body.map_or(10 << 20, |s| s.0),
            drain_timeout: limits
                .drain_timeout
                .map_or(Duration::from_secs(30), |d| d.0),
            body_idle_timeout: limits
                .body_idle_timeout
                .map_or(Duration::from_secs(30), |d| d.0),
            tunnel_idle_timeout: limits
                .tunnel_idle_timeout
                .map_or(Duration::from_secs(600), |d| d.0),
            keepalive_timeout: limits
                .keepalive_timeout
                .map_or(strangler_wire::Limits::DEFAULT.keepalive_idle, |d| d.0),
        },
        upstreams: raw
            .upstreams
            .into_iter()
            .map(|(name, mut u)| {
                u.ca = u.ca.as_deref().map(|ca| relative(&ca.to_string_lossy()));
                (name, u)
            })
            .collect(),
        routes: raw.routes,
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
