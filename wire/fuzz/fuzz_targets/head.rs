//! The head parsers on arbitrary bytes: a request head (and its framing),
//! a response head (its fields passed raw, and written), and the shadow
//! lane's kept head must never panic; a
//! request head parsed, written by the encoder and parsed again keeps its
//! method, target and fields.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use strangler_wire::codec::{parse_request, parse_response, parse_response_passing};
use strangler_wire::encode::{write_request_head, write_response_head, Persist, ResponseFields};
use strangler_wire::framing::{request_framing, Framing};

fuzz_target!(|data: &[u8]| {
    let _ = parse_response(&mut BytesMut::from(data));
    if let Ok(Some(head)) = parse_response_passing(&mut BytesMut::from(data)) {
        if let Some(raw) = head.raw {
            let mut out = Vec::new();
            let fields = ResponseFields { raw: Some(&raw), map: &head.headers };
            write_response_head(&mut out, head.status, fields, &[], Framing::None, true, Persist::Default);
            raw.append_to(&mut http::HeaderMap::new());
        }
    }
    let _ = strangler_wire::kept::parse(&mut BytesMut::from(data), &http::Method::GET, |_| true);
    let Ok(Some(head)) = parse_request(&mut BytesMut::from(data)) else {
        return;
    };
    let Ok((framing, _)) = request_framing(&head) else {
        return;
    };
    let target = head.uri.to_string();
    let mut out = Vec::new();
    write_request_head(&mut out, &head.method, &[&target], &head.headers, &[], framing);
    let again = parse_request(&mut BytesMut::from(&out[..]));
    let Ok(Some(again)) = again else {
        panic!("a written head does not parse: {:?}", String::from_utf8_lossy(&out));
    };
    assert_eq!(again.method, head.method);
    assert_eq!(again.uri, head.uri);
    for name in head.headers.keys() {
        if name != http::header::CONNECTION
            && name != http::header::CONTENT_LENGTH
            && name != http::header::TRANSFER_ENCODING
        {
            assert_eq!(
                again.headers.get_all(name).iter().collect::<Vec<_>>(),
                head.headers.get_all(name).iter().collect::<Vec<_>>()
            );
        }
    }
});
