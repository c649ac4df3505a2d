//! Checks on what the client sent, before routing: sizes, the
//! request-target form, and the one authority a request is routed and
//! forwarded by.

use http::request::Parts;
use http::{header, HeaderValue, Method, Version};

use crate::error::ProxyError;
use crate::headers::Found;

pub const MAX_URI: usize = 8 * 1024;
pub const MAX_HEADER_BYTES: usize = strangler_wire::MAX_FIELD_BYTES;
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
    // Their bytes are capped where they are read, at MAX_HEADER_BYTES: by
    // the wire (`strangler_wire::MAX_FIELD_BYTES`, HTTP/1.1) and by the
    // HTTP/2 listener's `max_header_list_size`.
    if h.len() > MAX_HEADERS {
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
    let host = match crate::headers::find(h, &header::HOST) {
        Found::Many => return Err(ProxyError::BadRequest("more than one Host header")),
        Found::One(v) => Some(v),
        Found::None => None,
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
    if valid_host(host.as_bytes()) {
        Ok(host.clone())
    } else {
        Err(ProxyError::BadRequest("malformed Host header"))
    }
}

fn uri_len(uri: &http::Uri) -> usize {
    uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
}

/// A Host value: `host[:port]` of RFC 3986 characters (reg-name, IPv4, or
/// a bracketed IPv6 literal), no userinfo, path, or whitespace. Checked by
/// byte class in one pass, without building an `Authority` (every request
/// pays it); a byte past ASCII is BAD, so no UTF-8 check is needed.
fn valid_host(b: &[u8]) -> bool {
    if b.is_empty() || b.len() > 255 {
        return false;
    }
    // The classes seen, OR-ed: one load and one OR a byte.
    let seen = b.iter().fold(0u8, |acc, &c| acc | HOST_BYTES[c as usize]);
    if seen & BAD != 0 {
        return false;
    }
    if seen & (OPEN | CLOSE) == 0 {
        // A reg-name or IPv4 address, and a port after one `:`.
        return match b.iter().position(|&c| c == b':') {
            None => true,
            Some(i) => port_ok(&b[i + 1..]),
        };
    }
    // An IPv6 literal: one pair of brackets, first, then nothing or a port.
    let (Some(open), Some(close)) = (
        b.iter().rposition(|&c| c == b'['),
        b.iter().position(|&c| c == b']'),
    ) else {
        return false;
    };
    let brackets = b.iter().filter(|&&c| c == b'[' || c == b']').count();
    if open != 0 || brackets != 2 || close < open {
        return false;
    }
    match &b[close + 1..] {
        [] => true,
        [b':', port @ ..] => port_ok(port),
        _ => false,
    }
}

const BAD: u8 = 1;
const COLON: u8 = 2;
const OPEN: u8 = 4;
const CLOSE: u8 = 8;

/// The class of each byte in a Host value, a bit each: [`BAD`] (not
/// allowed), [`COLON`], [`OPEN`] `[`, [`CLOSE`] `]`, or none for a reg-name or
/// IPv4 character (RFC 3986 unreserved, sub-delims, `%`).
static HOST_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = match c {
            b':' => COLON,
            b'[' => OPEN,
            b']' => CLOSE,
            b'-' | b'.' | b'_' | b'~' | b'%' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*'
            | b'+' | b';' | b'=' => 0,
            c if c.is_ascii_alphanumeric() => 0,
            _ => BAD,
        };
        i += 1;
    }
    t
};

/// A port: a number that fits in 16 bits.
fn port_ok(digits: &[u8]) -> bool {
    !digits.is_empty()
        && digits.len() <= 5
        && digits.iter().all(u8::is_ascii_digit)
        && digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
            <= 65535
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
