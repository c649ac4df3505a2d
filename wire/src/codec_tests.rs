//! Heads parsed and written: what a head leaves in the buffer, size
//! limits, connection tokens, added fields, field names and values, and
//! the framing fields judged as they are read. (Framing decisions and body
//! decoding: `framing_tests`.)

use super::codec::*;
use super::encode::*;
use super::framing::*;
use crate::MAX_HEADERS;
use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

fn req(raw: &str) -> Result<Option<RequestHead>, HeadError> {
    parse_request(&mut BytesMut::from(raw))
}

#[test]
fn a_head_parses_and_leaves_the_body_in_the_buffer() {
    let mut buf =
        BytesMut::from("POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET");
    let h = parse_request(&mut buf).unwrap().unwrap();
    assert_eq!(h.method, Method::POST);
    assert_eq!(h.uri, "/a?b=1");
    assert_eq!(h.version, Version::HTTP_11);
    assert_eq!(h.headers["host"], "x");
    assert_eq!(&buf[..], b"abcGET");
    assert_eq!(request_framing(&h).unwrap(), (Framing::Length(3), false));
}

#[test]
fn partial_heads_wait_and_huge_ones_are_refused() {
    assert!(req("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    let big = format!("GET / HTTP/1.1\r\nCookie: {}", "a".repeat(MAX_HEAD));
    assert_eq!(req(&big).err(), Some(HeadError::TooLarge));
    let many: String = (0..=MAX_HEADERS + 1)
        .map(|i| format!("x-{i}: 1\r\n"))
        .collect();
    assert_eq!(
        req(&format!("GET / HTTP/1.1\r\n{many}\r\n")).err(),
        Some(HeadError::TooLarge)
    );
    assert_eq!(req("GARBAGE\r\n\r\n").err(), Some(HeadError::Malformed));
    assert_eq!(
        req("GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n").err(),
        Some(HeadError::Malformed)
    );
}

#[test]
fn heads_are_written_with_their_framing() {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("x"));
    let mut out = Vec::new();
    write_request_head(
        &mut out,
        &Method::PUT,
        &["/a?b"],
        &h,
        &[],
        Framing::Length(12),
    );
    assert_eq!(
        out,
        b"PUT /a?b HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n"
    );
    // Framing fields among the headers never go out beside the framing.
    let mut lying = h.clone();
    lying.insert("content-length", HeaderValue::from_static("35"));
    lying.insert("transfer-encoding", HeaderValue::from_static("gzip"));
    out.clear();
    write_request_head(
        &mut out,
        &Method::POST,
        &["/"],
        &lying,
        &[],
        Framing::Chunked,
    );
    assert_eq!(
        out,
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    out.clear();
    let closing = write_response_head(
        &mut out,
        StatusCode::NOT_FOUND,
        ResponseFields { raw: None, map: &h },
        &[],
        Framing::Chunked,
        false,
        Persist::Close,
    );
    assert!(closing);
    assert_eq!(
        out,
        b"HTTP/1.1 404 Not Found\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    out.clear();
    chunk_header(&mut out, 255);
    assert_eq!(out, b"ff\r\n");
}

#[test]
fn connection_tokens_become_flags_and_only_other_names_stay_in_the_map() {
    let h = req("GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.present.keep_alive && !h.present.close);
    assert!(h.headers.get("connection").is_none());
    let h = req("GET / HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.present.close && !h.present.keep_alive);
    assert_eq!(h.headers["connection"], "close, X-Secret");
    // Split over two fields, the tokens still count.
    let h = req("GET / HTTP/1.0\r\nConnection: x-a\r\nConnection: keep-alive\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.present.keep_alive);
    assert_eq!(h.headers.get_all("connection").iter().count(), 1);
    let mut buf =
        BytesMut::from("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
    let r = parse_response(&mut buf).unwrap().unwrap();
    assert!(r.headers.get("connection").is_none());
    assert_eq!(
        response_framing(&Method::GET, &r).unwrap(),
        (Framing::None, true)
    );
    let mut buf =
        BytesMut::from("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n");
    let r = parse_response(&mut buf).unwrap().unwrap();
    assert_eq!(
        response_framing(&Method::GET, &r).unwrap(),
        (Framing::Length(2), true)
    );
}

#[test]
fn added_fields_follow_the_map_and_replace_its_fields_of_their_name() {
    use http::HeaderName;
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("x"));
    h.append("x-request-id", HeaderValue::from_static("client-1"));
    h.append("x-request-id", HeaderValue::from_static("client-2"));
    h.insert("accept", HeaderValue::from_static("*/*"));
    let id = HeaderName::from_static("x-request-id");
    let xff = HeaderName::from_static("x-forwarded-for");
    let added = [
        (&id, HeaderValue::from_static("proxy-9")),
        (&xff, HeaderValue::from_static("10.0.0.1")),
    ];
    let mut out = Vec::new();
    write_request_head(&mut out, &Method::GET, &["/"], &h, &[&added], Framing::None);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "GET / HTTP/1.1\r\nhost: x\r\naccept: */*\r\nx-request-id: proxy-9\r\nx-forwarded-for: 10.0.0.1\r\n\r\n"
    );
    let mut out = Vec::new();
    write_response_head(
        &mut out,
        StatusCode::OK,
        ResponseFields { raw: None, map: &h },
        &[&added[..1]],
        Framing::Length(0),
        false,
        Persist::Default,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nhost: x\r\naccept: */*\r\nx-request-id: proxy-9\r\ncontent-length: 0\r\n\r\n"
    );
}

/// Values are taken as httparse accepts them: obs-text (bytes over 0x7F,
/// not UTF-8) passes through as opaque bytes; a control byte is refused.
#[test]
fn field_values_keep_obs_text_and_refuse_control_bytes() {
    let mut buf =
        BytesMut::from(&b"GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9 \t ok\r\n\r\n"[..]);
    let h = parse_request(&mut buf).unwrap().unwrap();
    assert_eq!(h.headers["x-name"].as_bytes(), b"caf\xe9 \t ok");
    assert!(h.headers["x-name"].to_str().is_err());
    let mut buf =
        BytesMut::from(&b"HTTP/1.1 200 OK\r\nX-Name: \xff\xfe\r\nContent-Length: 0\r\n\r\n"[..]);
    let r = parse_response(&mut buf).unwrap().unwrap();
    assert_eq!(r.headers["x-name"].as_bytes(), b"\xff\xfe");
    for bad in [&b"X-Name: a\x01b"[..], b"X-Name: a\x7fb", b"X-Name: a\x00b"] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        raw.extend_from_slice(bad);
        raw.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_request(&mut BytesMut::from(&raw[..])).err(),
            Some(HeadError::Malformed),
            "{bad:?}"
        );
    }
}

/// Framing and connection names and tokens match in any case, and only
/// those: a byte one bit away from a letter is not taken for it.
#[test]
fn framing_names_and_tokens_match_in_any_case_only() {
    let h = req(
        "GET / HTTP/1.1\r\nHost: x\r\nCONTENT-length: 2\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.present.length, Length::Is(2));
    assert!(h.present.close && h.present.keep_alive);
    let h = req(
        "GET / HTTP/1.1\r\nHost: x\r\nContent_Length: 2\r\nConnection: keep_alive, cl@se\r\n\r\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.present.length, Length::Absent);
    assert!(!h.present.close && !h.present.keep_alive);
    assert_eq!(h.headers["connection"], "keep_alive, cl@se");
}

/// Names matched as constants and names looked up are the same names.
#[test]
fn usual_and_unusual_names_parse_alike() {
    let h = req("GET / HTTP/1.1\r\nhost: x\r\nUSER-AGENT: a\r\nUser-Agent: b\r\nX-Thing: c\r\nETag: d\r\nEtag: e\r\n\r\n")
        .unwrap()
        .unwrap();
    let all = |n: &str| {
        h.headers
            .get_all(n)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(all("host"), ["x"]);
    assert_eq!(all("user-agent"), ["a", "b"]);
    assert_eq!(all("x-thing"), ["c"]);
    assert_eq!(all("etag"), ["d", "e"]);
    assert_eq!(h.headers.len(), 6);
    assert!(req("GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n").is_err());
}

/// Content-Length and Transfer-Encoding are judged as the fields are read:
/// duplicates that agree are one length, the first fault is the reason.
#[test]
fn framing_fields_are_judged_as_read() {
    let present = |fields: &str| {
        req(&format!("POST / HTTP/1.1\r\nHost: x\r\n{fields}\r\n"))
            .unwrap()
            .unwrap()
            .present
    };
    let length = |fields: &str| present(fields).length;
    assert_eq!(length(""), Length::Absent);
    assert_eq!(length("Content-Length: 0\r\n"), Length::Is(0));
    assert_eq!(
        length("Content-Length: 9999999999999999999\r\n"),
        Length::Is(9_999_999_999_999_999_999)
    );
    assert_eq!(
        length("Content-Length: 5\r\ncontent-length: 5\r\n"),
        Length::Is(5)
    );
    let bad = |why| Length::Bad(why);
    assert_eq!(
        length("Content-Length: 5\r\nContent-Length: 6\r\n"),
        bad("conflicting Content-Length")
    );
    for v in ["", "+5", "5 5", "0x5", "1.0", "-1", "99999999999999999999"] {
        assert_eq!(
            length(&format!("Content-Length: {v}\r\n")),
            bad("malformed Content-Length"),
            "{v:?}"
        );
    }
    assert_eq!(
        length("Content-Length: 5\r\nContent-Length: 6\r\nContent-Length: x\r\n"),
        bad("conflicting Content-Length")
    );
    let codings = |fields: &str| present(fields).codings;
    let c = codings("Transfer-Encoding: gzip\r\nTransfer-Encoding: , CHUNKED\r\n");
    assert!(c.any && c.chunked_last && !c.bad);
    let c = codings("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n");
    assert!(c.any && !c.chunked_last && c.bad);
    let c = codings("Transfer-Encoding: ,\r\n");
    assert!(!c.any && !c.bad);
}
