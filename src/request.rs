//! Checks on what the client sent, before routing: sizes, the
//! request-target form, and the one authority a request is routed and
//! forwarded by.

use http::request::Parts;
use http::{header, HeaderValue, Method, Version};

use crate::error::ProxyError;

pub const MAX_URI: usize = 8 * 1024;
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The wire's: its parser has slots for no more.
pub const MAX_HEADERS: usize = strangler_wire::MAX_HEADERS;

/// Validate the request line, sizes and Host; return the authority the
/// request addresses (absolute-form target, HTTP/2 `:authority`, or `Host`,
/// shared, not copied).
pub fn check(req: &Parts) -> Result<HeaderValue, ProxyError> {
    let uri = &req.uri;
    // The wire capped the whole head (strangler_wire::Limits); these are the URI's own limits.
    if uri_len(uri) > MAX_URI {
        return Err(ProxyError::UriTooLong);
    }
    let h = &req.headers;
    if h.len() > MAX_HEADERS
        || h.iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
            > MAX_HEADER_BYTES
    {
        return Err(ProxyError::HeadersTooLarge);
    }
    // A CONNECT is refused, unless extended (RFC 8441, over HTTP/2): a
    // WebSocket to carry (`crate::tunnel`).
    if req.method == Method::CONNECT && req.extensions.get::<hyper::ext::Protocol>().is_none() {
        return Err(ProxyError::MethodNotAllowed);
    }
    if uri.path() == "*" && uri.authority().is_none() {
        if req.method != Method::OPTIONS {
            return Err(ProxyError::BadRequest(
                "`*` is only a valid target for OPTIONS",
            ));
        }
    } else if uri.scheme().is_none() && uri.authority().is_some() {
        return Err(ProxyError::BadRequest(
            "authority-form targets are only valid for CONNECT",
        ));
    }
    let mut hosts = h.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Err(ProxyError::BadRequest("more than one Host header")),
        (Some(v), None) => Some(v),
        (None, None) => None,
    };
    if let Some(authority) = uri.authority() {
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(ProxyError::BadRequest(
                    "only http and https targets are proxied",
                ))
            }
        }
        if authority.as_str().contains('@') {
            return Err(ProxyError::BadRequest(
                "the request target must not carry credentials",
            ));
        }
        // Absolute form (or HTTP/2 :authority): it wins over Host (RFC 9112 §3.2.2).
        return HeaderValue::from_str(authority.as_str())
            .map_err(|_| ProxyError::BadRequest("malformed authority"));
    }
    let host = match host {
        Some(host) => host,
        None if req.version == Version::HTTP_2 => {
            return Err(ProxyError::BadRequest("missing :authority"))
        }
        None => return Err(ProxyError::BadRequest("missing Host header")),
    };
    match host.to_str() {
        Ok(text) if valid_host(text) => Ok(host.clone()),
        _ => Err(ProxyError::BadRequest("malformed Host header")),
    }
}

fn uri_len(uri: &http::Uri) -> usize {
    uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
}

/// A Host value: `host[:port]` of RFC 3986 characters (reg-name, IPv4, or
/// a bracketed IPv6 literal), no userinfo, path, or whitespace. Checked by
/// byte class, without building an `Authority` (every request pays it).
fn valid_host(v: &str) -> bool {
    let b = v.as_bytes();
    if b.is_empty() || b.len() > 255 {
        return false;
    }
    // Bytes counted by class, without a branch per byte.
    let mut seen = [0u32; 5];
    for &c in b {
        seen[HOST_BYTES[c as usize] as usize] += 1;
    }
    let [bad, _, colons, opens, closes] = seen;
    if bad > 0 {
        return false;
    }
    let shape_ok = if b[0] == b'[' {
        // An IPv6 literal: one pair of brackets, then nothing or a port.
        opens == 1
            && closes == 1
            && v.split_once(']')
                .is_some_and(|(_, after)| after.is_empty() || after.starts_with(':'))
    } else {
        opens == 0 && closes == 0 && colons <= 1
    };
    shape_ok && (colons == 0 || port_ok(v))
}

/// The class of each byte in a Host value: 0 not allowed, 1 a reg-name or
/// IPv4 character (RFC 3986 unreserved, sub-delims, `%`), 2 `:`, 3 `[`, 4 `]`.
static HOST_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = match c {
            b':' => 2,
            b'[' => 3,
            b']' => 4,
            b'-' | b'.' | b'_' | b'~' | b'%' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*'
            | b'+' | b';' | b'=' => 1,
            c if c.is_ascii_alphanumeric() => 1,
            _ => 0,
        };
        i += 1;
    }
    t
};

/// The port after the host, if any, is a number that fits in 16 bits.
fn port_ok(v: &str) -> bool {
    let after_host = match v.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((_, after)) => after,
            None => return false,
        },
        None => v,
    };
    match after_host.rsplit_once(':') {
        Some((_, port)) => port.parse::<u16>().is_ok(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::Request;

    fn req(target: &str, hosts: &[&str]) -> Parts {
        let mut b = Request::builder().uri(target);
        for h in hosts {
            b = b.header("host", *h);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn host_rules() {
        assert_eq!(
            check(&req("/a", &["shop.example"])).unwrap(),
            "shop.example"
        );
        assert_eq!(
            check(&req("/a", &["shop.example:8080"])).unwrap(),
            "shop.example:8080"
        );
        assert!(matches!(
            check(&req("/a", &[])),
            Err(ProxyError::BadRequest(_))
        ));
        assert!(matches!(
            check(&req("/a", &["a", "b"])),
            Err(ProxyError::BadRequest(_))
        ));
        for bad in [
            "a b",
            "user@host",
            "host/x",
            "host:99999",
            "host:port",
            "",
            "a:1:2",
            "[::1",
            "::1",
            "[::1]]",
            "ex\"ample",
            "a<b",
            "h?q",
            "h#f",
            "a,b",
        ] {
            assert!(check(&req("/a", &[bad])).is_err(), "{bad}");
        }
        for good in [
            "[::1]",
            "[::1]:8080",
            "127.0.0.1:80",
            "xn--bcher-kva.example",
            "a_b.local",
        ] {
            assert!(check(&req("/a", &[good])).is_ok(), "{good}");
        }
    }

    #[test]
    fn absolute_form_wins_over_host() {
        assert_eq!(
            check(&req("http://api.example/x", &["other"])).unwrap(),
            "api.example"
        );
        assert!(check(&req("ftp://api.example/x", &[])).is_err());
    }

    #[test]
    fn asterisk_and_authority_forms() {
        let mut r = req("*", &["h"]);
        assert!(check(&r).is_err());
        r.method = Method::OPTIONS;
        assert!(check(&r).is_ok());
        assert!(check(&req("example.com:80", &["h"])).is_err());
    }
}
