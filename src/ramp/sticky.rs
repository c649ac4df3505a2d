//! Which side of a ramp a client is on: its key (a cookie, a header, or its
//! address) hashes to a point in [0, 100); the client goes to `to` while
//! its point is below the weight. As the weight grows, a client on `to`
//! stays there; it moves back only on a rollback. A cookie-keyed client
//! without the cookie gets one, set by the proxy.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderValue};

use crate::config::ramp::Sticky;

/// A key's point, in hundredths of a percent (0..10000): FNV-1a over the
/// route's name and the key, so that ramps are independent and every
/// replica puts a client at the same point.
pub fn point(route: &str, key: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in route.as_bytes().iter().chain([0u8].iter()).chain(key) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Mix the high bits down: FNV's low bits alone are poorly spread.
    h ^= h >> 29;
    (h % 10_000) as u32
}

/// The client's key under `sticky`, and the `Set-Cookie` to send when a
/// new one was made.
pub fn key(sticky: &Sticky, h: &HeaderMap, peer: IpAddr) -> (Vec<u8>, Option<HeaderValue>) {
    match sticky {
        Sticky::ClientIp => (peer.to_string().into_bytes(), None),
        Sticky::Header(name) => match h.get(name.as_str()) {
            Some(v) => (v.as_bytes().to_vec(), None),
            // No key: a fresh draw (this request is not sticky).
            None => (rand::random::<u64>().to_le_bytes().to_vec(), None),
        },
        Sticky::Cookie(name) => match cookie(h, name) {
            Some(v) => (v.to_vec(), None),
            None => {
                let v = format!("{:016x}", rand::random::<u64>());
                let set = format!("{name}={v}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax");
                (v.into_bytes(), HeaderValue::try_from(set).ok())
            }
        },
    }
}

/// The value of cookie `name` in the request's `Cookie` fields.
fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    h.get_all(header::COOKIE).iter().find_map(|v| {
        v.as_bytes().split(|b| *b == b';').find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            (pair[..eq] == *name.as_bytes()).then(|| &pair[eq + 1..])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_spread_evenly_and_are_stable() {
        let mut below = 0;
        for i in 0..10_000u32 {
            if point("orders", format!("user-{i}").as_bytes()) < 2_500 {
                below += 1;
            }
        }
        assert!(
            (2_250..2_750).contains(&below),
            "{below} of 10,000 below 25%"
        );
        assert_eq!(point("orders", b"alice"), point("orders", b"alice"));
    }

    #[test]
    fn the_cookie_is_read_or_made() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; strangler_orders=abc; b=2"),
        );
        let sticky = Sticky::Cookie("strangler_orders".into());
        let (k, set) = key(&sticky, &h, "127.0.0.1".parse().unwrap());
        assert_eq!((k.as_slice(), set), (&b"abc"[..], None));
        let (k, set) = key(&sticky, &HeaderMap::new(), "127.0.0.1".parse().unwrap());
        let set = set.expect("a cookie is set");
        assert!(
            set.to_str().unwrap().starts_with("strangler_orders="),
            "{set:?}"
        );
        assert_eq!(k.len(), 16);
    }
}
