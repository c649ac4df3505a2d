//! Header hygiene at the edge, both directions:
//!
//! - hop-by-hop headers (`Connection` and the names it lists, `Keep-Alive`,
//!   `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
//!   `HTTP2-Settings`) never cross the proxy;
//! - request header names with `_` are dropped (CGI would read `X_User_Id`
//!   as `X-User-Id`);
//! - the client is not trusted: its `X-Forwarded-*`, `Forwarded`, `X-Real-IP`
//!   are dropped and `X-Forwarded-For/Proto/Host` set, unless the peer is in
//!   `trusted_proxies`, whose `X-Forwarded-For` is appended to;
//! - `X-Request-Id` is kept when sane (≤ 128 visible ASCII), else generated.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

mod find;
pub use find::{find, Found};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// The hop-by-hop names, in the order `strip_hop_by_hop_noting`'s bits
/// count them (bit 0: Connection, bit 6: Upgrade); the same names as the
/// wire's list for answers passed raw (`strangler_wire::raw::HOP_BY_HOP`).
static HOP_BY_HOP: [&HeaderName; 8] = [
    &header::CONNECTION,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &header::TE,
    &header::TRAILER,
    &header::TRANSFER_ENCODING,
    &header::UPGRADE,
    &HTTP2_SETTINGS,
];

/// Remove the hop-by-hop headers, including those `Connection` names.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    strip_hop_by_hop_noting(h, &mut None);
}

/// [`strip_hop_by_hop`], noting in `upgrade` the `Upgrade` value of a
/// request whose `Connection` lists `upgrade` (found in the same pass over
/// the names: the usual request pays no lookup for it).
pub fn strip_hop_by_hop_noting(h: &mut HeaderMap, upgrade: &mut Option<HeaderValue>) {
    // One pass to see which are there; most messages carry none or only
    // `Connection`, and removing an absent name still costs a hash.
    let hop = &HOP_BY_HOP;
    let mut present = 0u8;
    for k in h.keys() {
        // Only names of these lengths can be hop-by-hop: most fields are
        // passed over without comparing them to the eight names.
        if !matches!(k.as_str().len(), 2 | 7 | 10 | 14 | 16 | 17) {
            continue;
        }
        if let Some(i) = hop.iter().position(|n| *n == k) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    // Bit 0: Connection; bit 6: Upgrade.
    if present & 0b100_0001 == 0b100_0001 {
        let listed = (h.get_all(header::CONNECTION).iter()).any(|v| lists(v, b"upgrade"));
        if listed {
            *upgrade = h.get(header::UPGRADE).cloned();
        }
    }
    if present & 1 != 0 {
        match h.get_all(header::CONNECTION).iter().take(2).count() {
            1 => {
                if let Some(v) = h.remove(header::CONNECTION) {
                    remove_named(h, &v);
                }
            }
            _ => {
                let values: Vec<HeaderValue> =
                    h.get_all(header::CONNECTION).iter().cloned().collect();
                h.remove(header::CONNECTION);
                for v in &values {
                    remove_named(h, v);
                }
            }
        }
    }
    for (i, n) in hop.iter().enumerate().skip(1) {
        if present & (1 << i) != 0 {
            h.remove(*n);
        }
    }
}

/// Whether a comma-separated field value lists `token` (any case).
pub fn lists(v: &HeaderValue, token: &[u8]) -> bool {
    v.as_bytes()
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Remove the headers a `Connection` value names (without allocating for
/// the usual `keep-alive` / `close`).
fn remove_named(h: &mut HeaderMap, v: &HeaderValue) {
    for token in v.as_bytes().split(|b| *b == b',') {
        let t = token.trim_ascii();
        if t.is_empty() || t.eq_ignore_ascii_case(b"close") || t.eq_ignore_ascii_case(b"keep-alive")
        {
            continue;
        }
        if let Ok(name) = HeaderName::from_bytes(t) {
            h.remove(name);
        }
    }
}

/// Where the request came from, for the `X-Forwarded-*` headers.
pub struct Origin<'a> {
    pub peer: IpAddr,
    pub trusted: bool,
    pub https: bool,
    /// The Host (or absolute-form authority) the client asked for.
    pub host: &'a HeaderValue,
}

/// The fields the proxy adds to a head, kept beside its map instead of
/// inserted in it (an insert hashes the name and may grow the map): an
/// HTTP/1.1 head writer writes them after the map's fields, leaving out any
/// map field of the same name; a sender that needs one map takes them with
/// [`Added::insert_into`]. Either way an added field replaces the map's.
#[derive(Clone)]
pub struct Added {
    fields: [(&'static HeaderName, HeaderValue); ADDED],
    len: usize,
}

/// X-Forwarded-For, -Proto, -Host, X-Request-Id.
const ADDED: usize = 4;

impl Default for Added {
    fn default() -> Self {
        Added {
            fields: std::array::from_fn(|_| (&X_REQUEST_ID, HeaderValue::from_static(""))),
            len: 0,
        }
    }
}

impl Added {
    /// Add `name: value` (`name`: one of this module's statics), replacing
    /// an added field of that name. Beyond
    /// [`ADDED`] distinct names it is dropped (a bug: debug builds assert).
    #[inline]
    pub fn set(&mut self, name: &'static HeaderName, value: HeaderValue) {
        // The names are this module's statics: one name, one address (a
        // comparison of the names would compare their bytes).
        let same = |f: &&mut (&'static HeaderName, HeaderValue)| std::ptr::eq(f.0, name);
        if let Some(f) = self.fields[..self.len].iter_mut().find(same) {
            f.1 = value;
        } else if self.len < ADDED {
            // Past `len` a slot holds the static placeholder of `default`:
            // nothing to drop (forgetting it skips a call through its vtable).
            std::mem::forget(std::mem::replace(&mut self.fields[self.len], (name, value)));
            self.len += 1;
        } else {
            debug_assert!(false, "more than {ADDED} added fields");
        }
    }

    pub fn as_slice(&self) -> &[(&'static HeaderName, HeaderValue)] {
        &self.fields[..self.len]
    }

    /// Put the fields in `h`, each replacing the fields of its name.
    pub fn insert_into(&self, h: &mut HeaderMap) {
        for (k, v) in self.as_slice() {
            h.insert(*k, v.clone());
        }
    }
}

/// Prepare a client's request headers for the upstream: what must not
/// travel is removed from `h`; the `X-Forwarded-*` fields to set are
/// returned (see [`Added`]).
/// `upgrade`: see [`strip_hop_by_hop_noting`].
pub fn prepare_request(
    h: &mut HeaderMap,
    origin: &Origin<'_>,
    upgrade: &mut Option<HeaderValue>,
) -> Added {
    strip_hop_by_hop_noting(h, upgrade);
    // One pass over the names: what must go, and which X-Forwarded-* are
    // there (the usual request has none: nothing to remove, nothing to look up).
    let (mut drop, mut has_xff, mut has_proto, mut has_host) = (false, false, false, false);
    for k in h.keys() {
        let s = k.as_str();
        if s.as_bytes().contains(&b'_') {
            drop = true;
        } else if s.starts_with("x-forwarded-") {
            drop |= !origin.trusted;
            has_xff |= *k == X_FORWARDED_FOR;
            has_proto |= *k == X_FORWARDED_PROTO;
            has_host |= *k == X_FORWARDED_HOST;
        } else if *k == FORWARDED || *k == X_REAL_IP {
            drop |= !origin.trusted;
        }
    }
    if drop {
        let names: Vec<HeaderName> = h
            .keys()
            .filter(|k| {
                let s = k.as_str();
                s.as_bytes().contains(&b'_')
                    || (!origin.trusted
                        && (s.starts_with("x-forwarded-") || *k == FORWARDED || *k == X_REAL_IP))
            })
            .cloned()
            .collect();
        for k in names {
            h.remove(k);
        }
        if !origin.trusted {
            (has_xff, has_proto, has_host) = (false, false, false);
        }
    }
    let prior: Vec<&str> = if has_xff {
        h.get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    } else {
        Vec::new()
    };
    let xff = if prior.is_empty() {
        Some(peer_value(origin.peer))
    } else {
        let joined = format!("{}, {}", prior.join(", "), ip_text(origin.peer));
        HeaderValue::try_from(joined).ok()
    };
    let mut added = Added::default();
    if let Some(v) = xff {
        added.set(&X_FORWARDED_FOR, v);
    }
    if !has_proto {
        let proto = if origin.https { "https" } else { "http" };
        added.set(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if !has_host {
        added.set(&X_FORWARDED_HOST, origin.host.clone());
    }
    added
}

/// The peer address as a header value. Consecutive requests mostly come
/// from the same peer (a connection, a load balancer): the last one is kept.
fn peer_value(ip: IpAddr) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((at, v)) if *at == ip => v.clone(),
            _ => {
                let v = HeaderValue::try_from(ip_text(ip))
                    .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
                *last = Some((ip, v.clone()));
                v
            }
        }
    })
}

/// An address as text; IPv4 without the formatting machinery (every
/// request pays for it).
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut s = String::with_capacity(15);
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                if o >= 100 {
                    s.push(char::from(b'0' + o / 100));
                }
                if o >= 10 {
                    s.push(char::from(b'0' + o / 10 % 10));
                }
                s.push(char::from(b'0' + o % 10));
            }
            s
        }
        IpAddr::V6(_) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_hop_by_hop_names_are_the_wires() {
        let ours: Vec<&str> = HOP_BY_HOP.iter().map(|n| n.as_str()).collect();
        assert_eq!(ours, strangler_wire::raw::HOP_BY_HOP);
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = map(&[
            ("connection", "close, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAA"),
            ("te", "trailers"),
            ("proxy-connection", "keep-alive"),
            ("x-kept", "1"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn untrusted_client_cannot_spoof_forwarding() {
        let mut h = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil"),
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("x_user_id", "admin"),
        ]);
        let origin = Origin {
            peer: "10.1.2.3".parse().unwrap(),
            trusted: false,
            https: false,
            host: &HeaderValue::from_static("shop.example"),
        };
        prepare_request(&mut h, &origin, &mut None).insert_into(&mut h);
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert!(
            !h.contains_key("forwarded")
                && !h.contains_key("x-real-ip")
                && !h.contains_key("x_user_id")
        );
    }

    #[test]
    fn trusted_proxy_is_appended_to() {
        let mut h = map(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let origin = Origin {
            peer: "10.0.0.1".parse().unwrap(),
            trusted: true,
            https: false,
            host: &HeaderValue::from_static("h"),
        };
        prepare_request(&mut h, &origin, &mut None).insert_into(&mut h);
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn addresses_print_as_std_does() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.100.9.255",
            "1.20.200.99",
            "::1",
            "fe80::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }
}
