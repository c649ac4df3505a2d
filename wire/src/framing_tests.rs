//! Framing from heads (smuggling refused, ambiguity closing the
//! connection, codings, RFC 9112's response rules) and chunked decoding in
//! any split.

use super::codec::*;
use super::framing::*;
use bytes::BytesMut;
use http::Method;

fn req(raw: &str) -> Result<Option<RequestHead>, HeadError> {
    parse_request(&mut BytesMut::from(raw))
}

fn framing(raw: &str) -> Result<(Framing, bool), HeadError> {
    request_framing(&req(raw)?.ok_or(HeadError::Malformed)?)
}

#[test]
fn smuggling_framings_are_refused() {
    for cl in [
        "5\r\nContent-Length: 6",
        "5, 6",
        "abc",
        "-1",
        "+5",
        "0x5",
        "5 5",
        "",
    ] {
        let r = framing(&format!("POST / HTTP/1.1\r\nContent-Length: {cl}\r\n\r\n"));
        assert!(matches!(r, Err(HeadError::Framing(_))), "{cl}: {r:?}");
    }
    for te in [
        "xchunked",
        "chunked, identity",
        "identity",
        "chunked\r\nTransfer-Encoding: x",
    ] {
        let r = framing(&format!(
            "POST / HTTP/1.1\r\nTransfer-Encoding: {te}\r\n\r\n"
        ));
        assert!(matches!(r, Err(HeadError::Framing(_))), "{te}: {r:?}");
    }
    // Same value twice is one length, then close; TE with CL is chunked, then close.
    assert_eq!(
        framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").unwrap(),
        (Framing::Length(5), true)
    );
    assert_eq!(
        framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap(),
        (Framing::Chunked, true)
    );
    assert!(framing("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
    assert_eq!(
        framing("GET / HTTP/1.1\r\n\r\n").unwrap(),
        (Framing::None, false)
    );
}

#[test]
fn ambiguous_framing_closes_after_the_answer() {
    for (head, want) in [
        (
            "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            Framing::Length(5),
        ),
        ("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Framing::None),
        (
            "HEAD / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            Framing::Chunked,
        ),
        ("GET / HTTP/1.1\r\nTE: trailers\r\n\r\n", Framing::None),
        (
            "POST / HTTP/1.1\r\nContent_Length: 5\r\n\r\n",
            Framing::None,
        ),
        (
            "POST / HTTP/1.1\r\ntransfer---encoding: chunked\r\nContent-Length: 2\r\n\r\n",
            Framing::Length(2),
        ),
        (
            "POST / HTTP/1.1\r\nCONTENT--LENGTH: 7\r\n\r\n",
            Framing::None,
        ),
    ] {
        assert_eq!(framing(head).unwrap(), (want, true), "{head:?}");
    }
    // Look-alikes never reach the map (so never an upstream).
    let h = parse_request(&mut BytesMut::from(
        "POST / HTTP/1.1\r\nTransfer_Encoding: chunked\r\nContent--Length: 1\r\nX: y\r\n\r\n",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(h.headers.len(), 1, "{:?}", h.headers);
    // Ordinary requests keep their connection.
    for head in [
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
        "GET / HTTP/1.1\r\nCache-Control: no-cache\r\nContent-Type: x\r\n\r\n",
        "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
    ] {
        assert!(!framing(head).unwrap().1, "{head:?}");
    }
}

#[test]
fn codings_before_chunked_are_not_implemented() {
    for te in [
        "gzip, chunked",
        "deflate,chunked",
        "gzip\r\nTransfer-Encoding: chunked",
    ] {
        let r = framing(&format!(
            "POST / HTTP/1.1\r\nTransfer-Encoding: {te}\r\n\r\n"
        ));
        assert!(matches!(r, Err(HeadError::Unsupported(_))), "{te}: {r:?}");
    }
}

fn resp(method: Method, raw: &str) -> (Framing, bool) {
    let h = parse_response(&mut BytesMut::from(raw)).unwrap().unwrap();
    response_framing(&method, &h).unwrap()
}

#[test]
fn response_framing_follows_rfc_9112() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
    assert_eq!(resp(Method::GET, ok), (Framing::Length(4), true));
    assert_eq!(resp(Method::HEAD, ok), (Framing::None, true));
    assert_eq!(
        resp(
            Method::GET,
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n"
        ),
        (Framing::None, true)
    );
    assert_eq!(
        resp(Method::GET, "HTTP/1.1 200 OK\r\n\r\n"),
        (Framing::Eof, false)
    );
    assert_eq!(
        resp(
            Method::GET,
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n"
        ),
        (Framing::Length(1), false)
    );
    assert_eq!(
        resp(Method::GET, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"),
        (Framing::Length(1), false)
    );
    assert_eq!(
        resp(
            Method::GET,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
        ),
        (Framing::Chunked, false)
    );
}

fn decode_all(
    kind: Framing,
    input: &[u8],
    step: usize,
) -> Result<(Vec<u8>, BytesMut), &'static str> {
    let mut d = Decoder::new(kind);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut fed = 0;
    loop {
        match d.decode(&mut buf)? {
            Decoded::Data(b) => out.extend_from_slice(&b),
            Decoded::Trailer(..) => {}
            Decoded::Done => return Ok((out, buf)),
            Decoded::Pending if fed < input.len() => {
                let end = (fed + step).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            Decoded::Pending => return Err("ran out of input"),
        }
    }
}

#[test]
fn chunked_bodies_decode_in_any_split_and_stop_at_their_end() {
    let input = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
    for step in [1, 2, 3, 7, 100] {
        let (out, rest) = decode_all(Framing::Chunked, input, step).unwrap();
        assert_eq!(out, b"hello0123456789", "step {step}");
        // What follows the body (a pipelined request) is left alone.
        assert!(b"NEXT".starts_with(&rest), "step {step}: {rest:?}");
    }
    assert!(decode_all(Framing::Chunked, b"zz\r\n", 10).is_err());
    assert!(decode_all(Framing::Chunked, b"2\r\nabXX", 10).is_err());
    let (out, rest) = decode_all(Framing::Length(3), b"abcdef", 10).unwrap();
    assert_eq!((&out[..], &rest[..]), (&b"abc"[..], &b"def"[..]));
}
