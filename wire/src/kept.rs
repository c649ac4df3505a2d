//! A response head read for a comparison only (the shadow lane's answers):
//! status, framing, and the few fields the comparison looks at, as text.
//! No header map is built and nothing of the head is kept: the fields are
//! copied out and the head leaves the buffer.

use bytes::{Buf, BytesMut};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use std::mem::MaybeUninit;

use crate::codec::{field_name, head_len, note_field, version, HeadError, Present};
use crate::codec::{MAX_HEAD, MAX_HEADERS};
use crate::framing::{response_framing_of, Framing};

/// Fields as name and value, names lower-case (as `http` keeps them).
pub type Fields = Vec<(HeaderName, HeaderValue)>;

pub struct KeptHead {
    pub status: StatusCode,
    /// The body's framing and whether the connection can carry another
    /// answer (an error: framing a proxy must refuse).
    pub framing: Result<(Framing, bool), HeadError>,
    /// The fields `keep` wanted.
    pub fields: Fields,
}

/// Take a response (to a `method` request) head off the front of `buf`,
/// keeping the fields `keep` wants; `Ok(None)`: incomplete.
pub fn parse(
    buf: &mut BytesMut,
    method: &Method,
    keep: impl Fn(&[u8]) -> bool,
) -> Result<Option<KeptHead>, HeadError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS + 1];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
    let Some(len) = head_len(parsed, buf.len(), MAX_HEAD)? else {
        return Ok(None);
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|_| HeadError::Malformed)?;
    let mut present = Present::default();
    let mut fields = Vec::new();
    for f in resp.headers.iter() {
        let name = f.name.as_bytes();
        note_field(name, f.value, &mut present);
        if keep(name) {
            // httparse accepted both: they are a valid name and value.
            if let (Ok(n), Ok(v)) = (field_name(name), HeaderValue::from_bytes(f.value)) {
                fields.push((n, v));
            }
        }
    }
    let framing = response_framing_of(method, status, version(resp.version), present);
    buf.advance(len);
    Ok(Some(KeptHead {
        status,
        framing,
        fields,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(raw: &str, method: &Method) -> Result<Option<KeptHead>, HeadError> {
        parse(&mut BytesMut::from(raw), method, |n| {
            n.eq_ignore_ascii_case(b"content-type")
        })
    }

    #[test]
    fn kept_fields_framing_and_the_rest_of_the_buffer() {
        let mut buf = BytesMut::from(
            "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}HTTP/1.1",
        );
        let h = parse(&mut buf, &Method::GET, |n| {
            n.eq_ignore_ascii_case(b"content-type")
        })
        .unwrap()
        .unwrap();
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.framing, Ok((Framing::Length(2), true)));
        assert_eq!(
            h.fields,
            [(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json")
            )]
        );
        assert_eq!(&buf[..], b"{}HTTP/1.1");
    }

    /// A kept field in an unusual spelling gets the usual name; every
    /// value is kept, in order, as its bytes (obs-text included).
    #[test]
    fn kept_fields_any_spelling_every_value() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nCONTENT-TYPE: text/plain\r\ncontent-type: caf\xe9\r\nContent-Length: 0\r\n\r\n"[..],
        );
        let h = parse(&mut buf, &Method::GET, |n| {
            n.eq_ignore_ascii_case(b"content-type")
        })
        .unwrap()
        .unwrap();
        let values: Vec<_> = h
            .fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(
            values,
            [
                ("content-type", &b"text/plain"[..]),
                ("content-type", &b"caf\xe9"[..])
            ]
        );
    }

    #[test]
    fn framing_is_judged_as_for_the_pool() {
        let get = &Method::GET;
        let framing = |raw: &str, m: &Method| parse_str(raw, m).unwrap().unwrap().framing;
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
                get
            ),
            Ok((Framing::Length(1), false))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", get),
            Ok((Framing::Chunked, true))
        );
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", get),
            Ok((Framing::None, false))
        );
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                &Method::HEAD
            ),
            Ok((Framing::None, true))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n", get),
            Ok((Framing::Eof, false))
        );
        assert!(framing(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            get
        )
        .is_err());
        assert!(framing("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", get).is_err());
        assert!(parse_str("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", get)
            .unwrap()
            .is_none());
        assert_eq!(
            parse_str("NOT HTTP\r\n\r\n", get).err(),
            Some(HeadError::Malformed)
        );
    }
}
