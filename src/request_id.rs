//! A request's id (`X-Request-Id`): the client's when it sent a sane one,
//! otherwise a new random UUID (version 4), made on every such request.
//!
//! The id is not a secret and needs no cryptographic generator: each
//! thread draws from a wyrand generator seeded from the OS, and formats the
//! 128 bits with a table of digit pairs (`uuid`'s `new_v4` and formatting
//! took ChaCha, then a checked `HeaderValue`).

use std::cell::Cell;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use crate::headers::{find, Found, X_REQUEST_ID};

/// The client's `X-Request-Id` if sane (1..=128 visible ASCII), else a new one.
pub fn request_id(h: &HeaderMap) -> HeaderValue {
    if let Found::One(v) = find(h, &X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic()) {
            return v.clone();
        }
    }
    fresh()
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(rand::random());
}

/// The next 64 random bits of this thread's wyrand generator.
fn next() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    })
}

/// Each byte's two lower-case hex digits.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    t
};

/// Where each of the 16 bytes' digits go in `8-4-4-4-12`.
const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/// A new version-4 UUID, hyphenated, lower case.
fn fresh() -> HeaderValue {
    let mut bits = (u128::from(next()) << 64 | u128::from(next())).to_be_bytes();
    bits[6] = (bits[6] & 0x0f) | 0x40; // version 4
    bits[8] = (bits[8] & 0x3f) | 0x80; // RFC 9562 variant
    let mut text = [b'-'; 36];
    for (b, at) in bits.iter().zip(AT) {
        let [hi, lo] = HEX_PAIRS[usize::from(*b)];
        text[at] = hi;
        text[at + 1] = lo;
    }
    // One allocation, shared by every clone (the id goes upstream, into the
    // log and back to the client); a copied slice would be reallocated as
    // shared at its first clone.
    // SAFETY: hex digits and `-` only: visible ASCII, a valid field value.
    unsafe { HeaderValue::from_maybe_shared_unchecked(Bytes::from_owner(text)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.append(HeaderName::from_static("x-request-id"), v.parse().unwrap());
        h
    }

    #[test]
    fn a_sane_id_is_kept_and_any_other_replaced() {
        assert_eq!(request_id(&with("abc-123")), "abc-123");
        let long = "a".repeat(129);
        assert_ne!(request_id(&with(&long)), long.as_str());
        assert_eq!(request_id(&HeaderMap::new()).len(), 36);
        assert_eq!(request_id(&with("a b")).len(), 36);
    }

    #[test]
    fn new_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..10_000)
            .map(|_| request_id(&HeaderMap::new()).to_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 4, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert_eq!(id, &u.hyphenated().to_string());
        }
    }
}
