//! What a head's fields say about framing and persistence, noted as the
//! head is parsed ([`note_field`], by `codec` and `kept`): [`Present`]
//! gathers the flags, [`Length`] the `Content-Length` verdict, [`Codings`]
//! the `Transfer-Encoding` one; framing (`crate::framing`) then needs no
//! lookup in the map.

/// Which framing-related fields a head carries, noted while its map is
/// built: the usual message has none of them, and then framing and
/// keep-alive decisions need no lookup.
///
/// `Connection` fields are read here: their `close` and `keep-alive` tokens
/// become flags, and a field with no other token stays out of the map (the
/// usual `Connection: keep-alive` then costs no map entry and nothing to
/// strip as hop-by-hop). A field naming other fields goes in the map, for
/// hop-by-hop stripping to remove them.
///
/// `Content-Length` and `Transfer-Encoding` values are judged here too, as
/// the fields are read (see [`Length`], [`Codings`]): framing needs no
/// lookup in the map afterwards.
#[derive(Debug, Clone, Copy, Default)]
pub struct Present {
    pub length: Length,
    pub codings: Codings,
    pub expect: bool,
    /// A `Connection` field listed `close`.
    pub close: bool,
    /// A `Connection` field listed `keep-alive`.
    pub keep_alive: bool,
    /// A `TE` field.
    pub te: bool,
    /// Framing two parsers could read differently, yet acceptable: a field
    /// whose name only looks like `Content-Length` or `Transfer-Encoding`
    /// (kept out of the map: never forwarded), or a repeated
    /// `Content-Length`. The connection closes after such a message.
    pub ambiguous: bool,
}

/// Note in `p` what a field (`name: value`, any case, as httparse accepted
/// it) says about framing and persistence; `false`: a `Connection` field
/// with nothing but `close` and `keep-alive`, which needs no map entry.
pub(crate) fn note_field(name: &[u8], value: &[u8], p: &mut Present) -> bool {
    let is = |n: &[u8]| parsed_is(name, n);
    match name.len() {
        10 if is(b"connection") => return connection_tokens(value, p),
        14 if is(b"content-length") => {
            p.ambiguous |= p.length != Length::Absent;
            p.length = p.length.and(value);
        }
        17 if is(b"transfer-encoding") => p.codings = p.codings.and(value),
        6 if is(b"expect") => p.expect = true,
        2 if is(b"te") => p.te = true,
        n if n >= 13 && framing_lookalike(name) => {
            p.ambiguous = true;
            return false;
        }
        _ => {}
    }
    true
}

/// Whether `name` (not exactly a framing field's name) reads as one once
/// everything but letters is ignored: `Content_Length`, `Transfer---Encoding`.
fn framing_lookalike(name: &[u8]) -> bool {
    let letters = |target: &[u8]| {
        let mut want = target.iter();
        for &b in name {
            if b.is_ascii_alphabetic() && want.next() != Some(&(b | 0x20)) {
                return false;
            }
        }
        want.next().is_none()
    };
    match name[0] | 0x20 {
        b'c' => letters(b"contentlength"),
        b't' => letters(b"transferencoding"),
        _ => false,
    }
}

/// What a head's `Content-Length` fields say, in the order read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Length {
    #[default]
    Absent,
    Is(u64),
    /// Malformed, or fields that disagree: the first such reason.
    Bad(&'static str),
}

impl Length {
    /// With one more field's value.
    fn and(self, value: &[u8]) -> Length {
        // At most 19 digits: no overflow.
        let digits = !value.is_empty() && value.len() <= 19 && value.iter().all(u8::is_ascii_digit);
        if !digits {
            return match self {
                Length::Bad(_) => self,
                _ => Length::Bad("malformed Content-Length"),
            };
        }
        let n = value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        match self {
            Length::Absent => Length::Is(n),
            Length::Is(m) if m == n => self,
            Length::Is(_) => Length::Bad("conflicting Content-Length"),
            Length::Bad(_) => self,
        }
    }
}

/// What a head's `Transfer-Encoding` fields say, in the order read: each
/// coding a token, `chunked` only last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Codings {
    /// Some coding was listed.
    pub any: bool,
    /// A coding other than `chunked` was listed (`gzip, chunked`).
    pub other: bool,
    /// The last one listed is `chunked`.
    pub chunked_last: bool,
    /// `chunked` was followed by another coding.
    pub bad: bool,
}

impl Codings {
    /// With one more field's value.
    fn and(mut self, value: &[u8]) -> Codings {
        for c in value.split(|b| *b == b',') {
            let c = c.trim_ascii();
            if c.is_empty() {
                continue;
            }
            self.bad |= self.chunked_last;
            self.chunked_last = c.eq_ignore_ascii_case(b"chunked");
            self.other |= !self.chunked_last;
            self.any = true;
        }
        self
    }
}

/// Note a `Connection` value's `close` and `keep-alive` tokens in `p`;
/// `true`: it lists some other token too.
fn connection_tokens(value: &[u8], p: &mut Present) -> bool {
    let mut other = false;
    for t in value.split(|b| *b == b',') {
        let t = t.trim_ascii();
        if parsed_is(t, b"close") {
            p.close = true;
        } else if parsed_is(t, b"keep-alive") {
            p.keep_alive = true;
        } else if !t.is_empty() {
            other = true;
        }
    }
    other
}

/// Whether `parsed` (bytes httparse accepted in a field name or value)
/// equals `lower` (lower-case letters and `-`) in any case. Setting bit 5
/// lower-cases a letter and turns no other byte httparse accepts (no CR, no
/// control byte) into a letter or `-`: one OR and compare a byte, where
/// `eq_ignore_ascii_case` maps both sides.
pub(crate) fn parsed_is(parsed: &[u8], lower: &[u8]) -> bool {
    if parsed.len() != lower.len() {
        return false;
    }
    // Eight bytes at a time where there are eight (the last word may
    // overlap the one before): `Content-Length` is two compares, not 14.
    let word = |b: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    let n = parsed.len();
    if n < 8 {
        return parsed.iter().zip(lower).all(|(a, b)| a | 0x20 == *b);
    }
    const CASE: u64 = u64::from_ne_bytes([0x20; 8]);
    let mut at = 0;
    while at + 8 < n {
        if word(parsed, at) | CASE != word(lower, at) {
            return false;
        }
        at += 8;
    }
    word(parsed, n - 8) | CASE == word(lower, n - 8)
}

#[cfg(test)]
mod tests {
    use super::parsed_is;
    use proptest::prelude::*;

    /// The definition, a byte at a time.
    fn bytewise(parsed: &[u8], lower: &[u8]) -> bool {
        parsed.len() == lower.len() && parsed.iter().zip(lower).all(|(a, b)| a | 0x20 == *b)
    }

    #[test]
    fn names_match_in_any_case_and_only_whole() {
        assert!(parsed_is(b"Content-Length", b"content-length"));
        assert!(parsed_is(b"CONTENT-LENGTH", b"content-length"));
        assert!(parsed_is(b"transfer-encoding", b"transfer-encoding"));
        assert!(parsed_is(b"TE", b"te"));
        assert!(!parsed_is(b"Content-Lengtx", b"content-length"));
        assert!(!parsed_is(b"Xontent-Length", b"content-length"));
        assert!(!parsed_is(b"Content_Length", b"content-length"));
        assert!(!parsed_is(b"Content-Length ", b"content-length"));
        assert!(!parsed_is(b"Transfer-Encodin", b"transfer-encoding"));
        assert!(parsed_is(b"", b""));
    }

    proptest! {
        /// Word at a time, the same verdict as byte at a time, for every
        /// length around the word size and for near misses.
        #[test]
        fn wordwise_is_bytewise(
            lower in "[a-z-]{0,24}",
            flips in proptest::collection::vec((0usize..24, any::<u8>()), 0..3),
            upper in any::<bool>(),
        ) {
            let lower = lower.into_bytes();
            let mut parsed = if upper { lower.to_ascii_uppercase() } else { lower.clone() };
            for (at, b) in flips {
                if let Some(p) = parsed.get_mut(at) {
                    *p = b;
                }
            }
            prop_assert_eq!(parsed_is(&parsed, &lower), bytewise(&parsed, &lower));
        }
    }
}
