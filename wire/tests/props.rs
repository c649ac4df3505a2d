//! Properties of the parsers, on random and mutated input (a modest number
//! of cases: this runs with the tests):
//!
//! - request heads, random or mutated, never make the parser panic;
//! - a parsed head written by the wire's encoder and parsed again has the
//!   same method, target, version and fields (the framing fields are the
//!   encoder's own to write, and compared as framing);
//! - a chunked body decodes to the same bytes whether it arrives whole or
//!   split at random points; random bytes never make the decoder panic.

use bytes::BytesMut;
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::Version;
use proptest::prelude::*;
use strangler_wire::codec::{parse_request, parse_response};
use strangler_wire::encode::{chunk_header, write_request_head};
use strangler_wire::framing::{request_framing, Decoded, Decoder, Framing};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("PUT".to_string()),
        Just("HEAD".to_string()),
        Just("DELETE".to_string()),
        Just("OPTIONS".to_string()),
        "[A-Z]{1,10}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        "/[A-Za-z0-9._~%/-]{0,24}(\\?[a-z0-9=&%]{0,16})?",
        "http://[a-z]{1,8}(:[0-9]{2,4})?/[a-z0-9/]{0,12}",
    ]
}

/// A field: mostly any token and value, sometimes a framing one.
fn field() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        6 => ("[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}", "([!-~]([ -~]{0,20}[!-~])?)?"),
        1 => (
            prop_oneof![
                Just("Content-Length".to_string()),
                Just("Transfer-Encoding".to_string()),
                Just("Connection".to_string()),
                Just("Expect".to_string()),
                Just("TE".to_string()),
            ],
            prop_oneof![
                Just("chunked".to_string()),
                Just("gzip, chunked".to_string()),
                Just("close".to_string()),
                Just("keep-alive, x-foo".to_string()),
                Just("100-continue".to_string()),
                "[0-9]{1,4}",
            ],
        ),
    ]
}

fn head(version: &'static str) -> impl Strategy<Value = Vec<u8>> {
    (method(), target(), prop::collection::vec(field(), 0..12)).prop_map(move |(m, t, fields)| {
        let mut out = format!("{m} {t} {version}\r\n");
        for (n, v) in fields {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    })
}

/// A head with a few bytes changed, inserted, removed, or cut off.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 1..6);
    (prop_oneof![head("HTTP/1.1"), head("HTTP/1.0")], edits).prop_map(|(mut h, edits)| {
        for (kind, at, byte) in edits {
            if h.is_empty() {
                break;
            }
            let i = at.index(h.len());
            match kind {
                0 => h[i] = byte,
                1 => h.insert(i, byte),
                2 => {
                    h.remove(i);
                }
                _ => h.truncate(i),
            }
        }
        h
    })
}

/// The fields a head carries that its framing does not describe.
fn plain_fields(h: &http::HeaderMap) -> http::HeaderMap {
    let mut h = h.clone();
    for name in [CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING] {
        h.remove(name);
    }
    h
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic_the_parsers(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(h)) = parse_request(&mut buf) {
            let _ = request_framing(&h);
        }
        let _ = parse_response(&mut BytesMut::from(&bytes[..]));
        let _ = strangler_wire::kept::parse(&mut BytesMut::from(&bytes[..]), &http::Method::GET, |_| true);
    }

    #[test]
    fn mutated_heads_never_panic_the_parser(bytes in mutated()) {
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(h)) = parse_request(&mut buf) {
            let _ = request_framing(&h);
        }
    }

    #[test]
    fn parse_encode_parse_is_stable(bytes in head("HTTP/1.1")) {
        let mut buf = BytesMut::from(&bytes[..]);
        let Ok(Some(first)) = parse_request(&mut buf) else {
            // Not every generated head is valid (a method httparse refuses,
            // a repeated length): nothing to compare.
            return Ok(());
        };
        prop_assert!(buf.is_empty());
        let Ok((framing, _)) = request_framing(&first) else {
            return Ok(());
        };
        let target = first.uri.to_string();
        let mut out = Vec::new();
        write_request_head(&mut out, &first.method, &[&target], &first.headers, &[], framing);
        let mut again = BytesMut::from(&out[..]);
        let second = parse_request(&mut again);
        prop_assert!(matches!(second, Ok(Some(_))), "{}", String::from_utf8_lossy(&out));
        let Ok(Some(second)) = second else { unreachable!() };
        prop_assert_eq!(&second.method, &first.method);
        prop_assert_eq!(&second.uri, &first.uri);
        prop_assert_eq!(second.version, Version::HTTP_11);
        prop_assert_eq!(second.version, first.version);
        prop_assert_eq!(plain_fields(&second.headers), plain_fields(&first.headers));
        let again = request_framing(&second).map(|(f, _)| f);
        prop_assert_eq!(again, Ok(framing));
    }

    #[test]
    fn a_chunked_body_split_anywhere_decodes_the_same(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 0..8),
        ext in any::<bool>(),
        trailer in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for c in &chunks {
            chunk_header(&mut wire, c.len());
            if ext {
                // An extension on the size line: read past, not kept.
                wire.truncate(wire.len() - 2);
                wire.extend_from_slice(b";name=value\r\n");
            }
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n");
        if trailer {
            wire.extend_from_slice(b"Trailer-Field: x\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        let expected: Vec<u8> = chunks.concat();

        let whole = decode_in_pieces(&wire, &[]);
        prop_assert_eq!(&whole, &Some(expected.clone()));
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        at.sort_unstable();
        let split = decode_in_pieces(&wire, &at);
        prop_assert_eq!(&split, &Some(expected));
    }

    #[test]
    fn random_bytes_never_panic_the_chunk_decoder(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let _ = decode_in_pieces(&bytes, &at);
    }
}

proptest! {
    /// Trailer fields come out as sent, in order, whatever the cuts;
    /// those that must not be trailers (framing, Host, …) never do.
    #[test]
    fn trailers_come_out_as_sent_except_barred_names(
        fields in prop::collection::vec(
            (prop::sample::select(vec!["grpc-status", "grpc-message", "x-checksum", "content-length", "host", "transfer-encoding"]), "[a-zA-Z0-9 ]{0,12}"),
            0..5,
        ),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = b"3\r\nabc\r\n0\r\n".to_vec();
        for (k, v) in &fields {
            wire.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        let at = cut.index(wire.len() + 1);
        let mut decoder = Decoder::new(Framing::Chunked);
        let mut buf = BytesMut::from(&wire[..at]);
        let mut got = Vec::new();
        let mut fed = false;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Decoded::Trailer(line)) => {
                    let (k, v) = strangler_wire::framing::trailer_field(&line).unwrap();
                    got.push((k.to_string(), v.to_str().unwrap().to_string()))
                }
                Ok(Decoded::Data(_)) => {}
                Ok(Decoded::Pending) if !fed => {
                    buf.extend_from_slice(&wire[at..]);
                    fed = true;
                }
                Ok(Decoded::Done) => break,
                other => prop_assert!(false, "{other:?}"),
            }
        }
        let barred = ["content-length", "host", "transfer-encoding"];
        let want: Vec<(String, String)> = fields
            .iter()
            .filter(|(k, _)| !barred.contains(k))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        prop_assert_eq!(got, want);
    }
}

/// Decode a chunked body arriving in pieces cut at `at` (sorted offsets);
/// `None`: the decoder refused it or it never ended.
fn decode_in_pieces(wire: &[u8], at: &[usize]) -> Option<Vec<u8>> {
    let mut decoder = Decoder::new(Framing::Chunked);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut from = 0;
    for end in at.iter().copied().chain([wire.len()]) {
        buf.extend_from_slice(&wire[from..end]);
        from = end;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Decoded::Data(d)) => got.extend_from_slice(&d),
                Ok(Decoded::Trailer(..)) => {}
                Ok(Decoded::Pending) => break,
                Ok(Decoded::Done) => return Some(got),
                Err(_) => return None,
            }
        }
    }
    None
}
