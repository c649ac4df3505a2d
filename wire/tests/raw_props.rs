//! Properties of passing an upstream answer's fields raw (`strangler_wire::raw`),
//! on random response heads:
//!
//! - what is passed is exactly what the map would have carried to the
//!   client: the same fields and values (names in any case, in any order),
//!   less the hop-by-hop ones, an `X-Request-Id` (the proxy writes its own)
//!   and `Content-Length` (kept only for an answer with no body);
//! - both parses read the same framing (heads it refuses pass nothing);
//! - random and mutated bytes never make the passing parser or the writer
//!   panic.

use bytes::BytesMut;
use http::{HeaderMap, Method, StatusCode};
use proptest::prelude::*;
use strangler_wire::codec::{parse_response, parse_response_passing};
use strangler_wire::encode::{write_response_head, Persist, ResponseFields};
use strangler_wire::framing::{response_framing, Framing};
use strangler_wire::raw::HOP_BY_HOP;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A field: mostly any token and value, often one a proxy must not pass.
fn field() -> impl Strategy<Value = (String, String)> {
    let value = "([!-~]([ -~]{0,20}[!-~])?)?";
    prop_oneof![
        4 => ("[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}", value),
        2 => (
            prop_oneof![
                Just("Connection".to_string()),
                Just("Keep-Alive".to_string()),
                Just("Proxy-Connection".to_string()),
                Just("TE".to_string()),
                Just("Trailer".to_string()),
                Just("Upgrade".to_string()),
                Just("X-Request-Id".to_string()),
                Just("content-length".to_string()),
                Just("Content_Length".to_string()),
            ],
            prop_oneof![
                Just("close".to_string()),
                Just("keep-alive".to_string()),
                Just("keep-alive, x-foo".to_string()),
                Just("12".to_string()),
                Just("h2c".to_string()),
            ],
        ),
    ]
}

fn head() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(field(), 0..14).prop_map(|fields| {
        let mut out = String::from("HTTP/1.1 200 OK\r\n");
        for (n, v) in fields {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    })
}

/// The fields of a written head, as (lower-case name, value), sorted.
fn fields_of(written: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(written);
    let mut out: Vec<(String, String)> = text
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    out.sort();
    out
}

/// What the map carries on to the client: all but the hop-by-hop fields
/// (and those a `Connection` names), the proxy's own, and the framing ones.
fn expected(map: &HeaderMap, keep_length: bool) -> Vec<(String, String)> {
    // The hop-by-hop list is the wire's one (tested equal to the proxy's
    // map stripping in `src/headers.rs`), and the field the proxy writes.
    let dropped = |n: &str| HOP_BY_HOP.contains(&n) || n == "x-request-id";
    let mut out: Vec<(String, String)> = map
        .iter()
        .filter(|(n, _)| !dropped(n.as_str()))
        .filter(|(n, _)| keep_length || *n != http::header::CONTENT_LENGTH)
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // A repeated (equal) Content-Length travels once.
    out.sort();
    out.dedup_by(|a, b| a.0 == "content-length" && a == b);
    out
}

fn written(raw: &strangler_wire::raw::RawFields, keep_length: bool) -> Vec<u8> {
    let mut out = Vec::new();
    write_response_head(
        &mut out,
        StatusCode::OK,
        ResponseFields {
            raw: Some(raw),
            map: &HeaderMap::new(),
        },
        &[],
        Framing::None,
        keep_length,
        Persist::Default,
    );
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn raw_fields_are_what_the_map_would_have_passed(bytes in head()) {
        let by_map = parse_response(&mut BytesMut::from(&bytes[..]));
        let passed = parse_response_passing(&mut BytesMut::from(&bytes[..]));
        let (Ok(Some(by_map)), Ok(Some(passed))) = (by_map, passed) else {
            return Ok(());
        };
        prop_assert_eq!(format!("{:?}", by_map.present), format!("{:?}", passed.present));
        if response_framing(&Method::GET, &by_map).is_err() {
            // Refused before anything is passed on.
            return Ok(());
        }
        let Some(raw) = passed.raw else {
            // Fell back to the map: then it is the map.
            prop_assert_eq!(passed.headers, by_map.headers);
            return Ok(());
        };
        prop_assert!(passed.headers.is_empty());
        for keep_length in [false, true] {
            prop_assert_eq!(
                fields_of(&written(&raw, keep_length)),
                expected(&by_map.headers, keep_length)
            );
        }
        let mut map = HeaderMap::new();
        raw.append_to(&mut map);
        prop_assert_eq!(fields_of(&written(&raw, true)), expected(&map, true));
    }

    #[test]
    fn random_and_mutated_bytes_never_panic_passing(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..512), head()],
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = bytes;
        for (at, b) in edits {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
        }
        if let Ok(Some(h)) = parse_response_passing(&mut BytesMut::from(&bytes[..])) {
            if let Some(raw) = h.raw {
                let _ = written(&raw, true);
                raw.append_to(&mut HeaderMap::new());
            }
        }
    }
}
