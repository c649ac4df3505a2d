//! `upstreams:` entries: where an upstream lives and how it is called
//! (timeouts, idle pool, circuit breaker). Defaults are the seed's.

use serde::Deserialize;

use super::units::{scalar_deserialize, scalar_schema, Dur};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Upstream")]
pub struct RawUpstream {
    url: UpstreamUrl,
    #[serde(default = "default_connect_timeout")]
    connect_timeout: Dur,
    /// Until the response headers arrive.
    #[serde(default = "default_timeout")]
    timeout: Dur,
    #[serde(default = "default_max_idle")]
    max_idle: usize,
    #[serde(default)]
    breaker: BreakerConfig,
    /// For `https` upstreams: a PEM file of the CA certificates to trust
    /// instead of the public roots (a private CA); relative to routes.yaml.
    #[serde(default)]
    ca: Option<std::path::PathBuf>,
    /// How the proxy speaks to it: `http1`; `h2c` (HTTP/2 without TLS,
    /// prior knowledge: gRPC services); `h2` (HTTP/2 over TLS); `auto`, the
    /// default (ALPN on https, HTTP/1.1 on http).
    #[serde(default)]
    protocol: Protocol,
}

/// A validated `upstreams:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawUpstream")]
#[schemars(with = "RawUpstream")]
pub struct UpstreamConfig {
    pub url: UpstreamUrl,
    pub connect_timeout: Dur,
    /// Until the response headers arrive.
    pub timeout: Dur,
    pub max_idle: usize,
    pub breaker: BreakerConfig,
    /// For `https` upstreams: a PEM file of the CA certificates to trust
    /// instead of the public roots (a private CA); relative to routes.yaml.
    pub ca: Option<std::path::PathBuf>,
    pub protocol: Protocol,
}

/// The HTTP version spoken to an upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http1,
    H2c,
    H2,
    #[default]
    Auto,
}

impl Protocol {
    /// Whether requests go out as HTTP/2 only.
    pub fn http2_only(self) -> bool {
        matches!(self, Protocol::H2c | Protocol::H2)
    }
}

impl TryFrom<RawUpstream> for UpstreamConfig {
    type Error = String;

    fn try_from(r: RawUpstream) -> Result<Self, String> {
        match (r.protocol, r.url.https) {
            (Protocol::H2c, true) => {
                return Err(format!(
                "`protocol: h2c` is HTTP/2 without TLS, but `{}` is https; write `protocol: h2`",
                r.url.raw
            ))
            }
            (Protocol::H2, false) => {
                return Err(format!(
                "`protocol: h2` is HTTP/2 over TLS, but `{}` is plain http; write `protocol: h2c`",
                r.url.raw
            ))
            }
            _ => {}
        }
        if r.ca.is_some() && !r.url.https {
            return Err(format!(
                "`ca` is for https upstreams, but `{}` is plain http; remove `ca` or use https",
                r.url.raw
            ));
        }
        Ok(UpstreamConfig {
            url: r.url,
            connect_timeout: r.connect_timeout,
            timeout: r.timeout,
            max_idle: r.max_idle,
            breaker: r.breaker,
            ca: r.ca,
            protocol: r.protocol,
        })
    }
}

fn default_connect_timeout() -> Dur {
    Dur(Duration::from_secs(2))
}
fn default_timeout() -> Dur {
    Dur(Duration::from_secs(5))
}
/// Idle connections kept per upstream: in effect no cap (more than a
/// process holds open under the usual file limits), so that busy clients,
/// however many, never make the proxy churn connections (each churned one
/// is a TIME_WAIT socket: 5,000 clients over a cap of 1,024 opened 2,600 a
/// second in `bench/scale.sh`); idle ones go after the pool's idle timeout
/// (20 s), not by a count smaller than the load. A number in routes.yaml
/// caps it.
fn default_max_idle() -> usize {
    65_536
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: Count,
    #[serde(default = "default_recovery_timeout")]
    pub recovery_timeout: Dur,
    #[serde(default = "default_success_threshold")]
    pub success_threshold: Count,
    #[serde(default = "default_half_open")]
    pub half_open_requests: Count,
    /// How an open breaker finds out that its upstream recovered: `user`
    /// (default) lets trial requests through; `shadow` answers the client
    /// from the route's other side (its fallback, or a split's or ramp's
    /// other upstream) and sends the trial as a copy, so that no user
    /// request reaches a sick service.
    #[serde(default)]
    pub probe: Probe,
}

/// What a half-open breaker's trial requests are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    #[default]
    User,
    Shadow,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: default_failure_threshold(),
            recovery_timeout: default_recovery_timeout(),
            success_threshold: default_success_threshold(),
            half_open_requests: default_half_open(),
            probe: Probe::User,
        }
    }
}
fn default_failure_threshold() -> Count {
    Count(5)
}
fn default_recovery_timeout() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_success_threshold() -> Count {
    Count(2)
}
fn default_half_open() -> Count {
    Count(1)
}

/// A count that must be at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u32);
fn parse_count(s: &str) -> Result<Count, String> {
    match s.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(Count(n)),
        _ => Err(format!("`{s}` must be a whole number of at least 1")),
    }
}
scalar_deserialize!(Count, "a whole number of at least 1", parse_count);
scalar_schema!(Count, "Count", {"type": "integer", "minimum": 1});

/// `http://host:port[/base]` or `https://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub https: bool,
    /// `host:port` (the port filled in from the scheme when absent).
    pub authority: http::uri::Authority,
    pub host: String,
    pub port: u16,
    /// Prepended to every forwarded path; empty or `/base` without a trailing `/`.
    pub base_path: String,
    pub raw: String,
}

fn parse_url(s: &str) -> Result<UpstreamUrl, String> {
    let hint = "write it like `http://127.0.0.1:9101` or `https://orders.internal/api`";
    let uri: http::Uri = s
        .parse()
        .map_err(|e| format!("`{s}` is not a URL ({e}); {hint}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(format!(
                "`{s}` needs an `http://` or `https://` scheme; {hint}"
            ))
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("`{s}` has no host; {hint}"))?;
    if authority.as_str().contains('@') {
        return Err(format!("`{s}` must not carry credentials; {hint}"));
    }
    if uri.query().is_some() {
        return Err(format!("`{s}` must not have a query; {hint}"));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let host = authority.host().to_string();
    let authority: http::uri::Authority = if authority.port().is_some() {
        authority.clone()
    } else {
        format!("{}:{port}", authority.as_str())
            .parse()
            .map_err(|_| format!("`{s}` has an invalid host; {hint}"))?
    };
    let base_path = uri.path().trim_end_matches('/').to_string();
    Ok(UpstreamUrl {
        https,
        authority,
        host,
        port,
        base_path,
        raw: s.to_string(),
    })
}
scalar_deserialize!(
    UpstreamUrl,
    "an upstream URL like `http://127.0.0.1:9101`",
    parse_url
);
scalar_schema!(UpstreamUrl, "UpstreamUrl", {"type": "string", "pattern": "^https?://", "description": "http or https; an optional base path is prepended: http://127.0.0.1:9101"});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:9101").unwrap();
        assert_eq!(u.authority.as_str(), "127.0.0.1:9101");
        assert_eq!(u.base_path, "");
        let u = parse_url("https://svc.internal/api/").unwrap();
        assert!(u.https);
        assert_eq!(u.authority.as_str(), "svc.internal:443");
        assert_eq!(u.base_path, "/api");
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("127.0.0.1:9000").is_err());
        assert!(parse_url("http://u:p@host").is_err());
    }
}
