//! One field's value(s) looked up in a small map without hashing its name.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// What a lookup of one field name found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'a> {
    None,
    One(&'a HeaderValue),
    /// The field more than once.
    Many,
}

impl<'a> Found<'a> {
    /// The value when the field is there once.
    pub fn one(self) -> Option<&'a HeaderValue> {
        match self {
            Found::One(v) => Some(v),
            _ => None,
        }
    }
}

/// Maps up to this many values are searched by a walk, not by hash.
const WALKED: usize = 8;

/// The value(s) of `name` in `h`. The usual request has a handful of fields
/// (wrk's has one, `Host`): walking them, comparing names (a standard name
/// is one byte to compare), costs a fraction of hashing the name; a larger
/// map is searched by its index.
pub fn find<'a>(h: &'a HeaderMap, name: &HeaderName) -> Found<'a> {
    let mut found = Found::None;
    if h.len() <= WALKED {
        for (k, v) in h {
            if k == name {
                if found != Found::None {
                    return Found::Many;
                }
                found = Found::One(v);
            }
        }
        return found;
    }
    let mut all = h.get_all(name).iter();
    match (all.next(), all.next()) {
        (Some(_), Some(_)) => Found::Many,
        (Some(v), None) => Found::One(v),
        _ => Found::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::X_REQUEST_ID;
    use http::header;

    #[test]
    fn find_walks_small_maps_and_hashes_large_ones() {
        for extra in [0, 20] {
            let mut h = HeaderMap::new();
            for i in 0..extra {
                h.append(
                    HeaderName::from_bytes(format!("x-f{i}").as_bytes()).unwrap(),
                    HeaderValue::from_static("v"),
                );
            }
            assert_eq!(find(&h, &header::HOST), Found::None);
            h.append(header::HOST, HeaderValue::from_static("a"));
            assert_eq!(find(&h, &header::HOST).one().unwrap(), "a");
            assert_eq!(find(&h, &X_REQUEST_ID), Found::None);
            h.append(&X_REQUEST_ID, HeaderValue::from_static("id"));
            assert_eq!(find(&h, &X_REQUEST_ID).one().unwrap(), "id");
            h.append(header::HOST, HeaderValue::from_static("b"));
            assert_eq!(find(&h, &header::HOST), Found::Many);
        }
    }
}
