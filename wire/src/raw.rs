//! An upstream response's fields passed on as they came ([`RawFields`]).
//!
//! When nothing between the upstream and an HTTP/1.1 client reads an
//! answer's fields (no shadow comparison, no gRPC, no rewriting), they are
//! not built into a map to be encoded again: the head's own bytes are
//! written on, less what must not travel (hop-by-hop fields, `Connection`,
//! framing look-alikes, an `X-Request-Id` the proxy replaces). A map entry,
//! its drop and its encoding cost several hundred instructions a field;
//! copying the kept lines is one `memcpy` for each run of them. NGINX
//! passes fields the same way (names keep their case).
//!
//! Built by `codec::parse_response_passing`, which falls back to the map
//! for whatever it cannot pass faithfully: a `Connection` naming other
//! fields, bare-LF line ends, more runs than [`RUNS`], heads over 64 KiB.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::present::parsed_is;

/// Most runs of kept lines a head may have to be passed raw.
pub const RUNS: usize = 6;

/// The fields of a response head, as received, that travel on: runs of
/// whole lines (each with its CRLF), and the `Content-Length` line apart
/// (written only for an answer with no body: HEAD, 304; otherwise the
/// writer frames the body itself). Boxed: the answer is moved through
/// several futures on its way to the client, each move a copy of it.
#[derive(Debug, Clone)]
pub struct RawFields(Box<Fields>);

#[derive(Debug, Clone)]
struct Fields {
    head: Bytes,
    runs: [(u16, u16); RUNS],
    count: u8,
    length: Option<(u16, u16)>,
}

/// What to do with a field line when passing a head on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    Keep,
    Drop,
    Length,
}

/// The hop-by-hop names (RFC 9110 §7.6.1, and those proxies agree on):
/// the one list, which the proxy's map stripping (`headers::HOP_BY_HOP`)
/// is tested against.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

/// [`HOP_BY_HOP`] and the one field the proxy writes itself: never passed
/// on. Matched by length first (every field of an answer is asked).
pub(crate) fn dropped(name: &[u8]) -> bool {
    let is = |n: &[u8]| parsed_is(name, n);
    match name.len() {
        2 => is(b"te"),
        7 => is(b"trailer") || is(b"upgrade"),
        10 => is(b"keep-alive") || is(b"connection"),
        12 => is(b"x-request-id"),
        14 => is(b"http2-settings"),
        16 => is(b"proxy-connection"),
        17 => is(b"transfer-encoding"),
        _ => false,
    }
}

impl RawFields {
    /// The fields of `head`, each line from where its name starts (`lines`,
    /// in order; the head ends with its empty line), sorted by `judge`;
    /// `None` when they cannot be passed raw.
    pub(crate) fn of(
        head: &Bytes,
        lines: impl ExactSizeIterator<Item = (usize, Line)>,
    ) -> Option<RawFields> {
        let end = head.len().checked_sub(2)?;
        if end > u16::MAX as usize || !head.ends_with(b"\r\n\r\n") {
            return None;
        }
        let mut raw = Fields {
            head: head.clone(),
            runs: [(0, 0); RUNS],
            count: 0,
            length: None,
        };
        let mut lines = lines.peekable();
        while let Some((at, what)) = lines.next() {
            let next = lines.peek().map_or(end, |(n, _)| *n);
            // Every line must end in CRLF for runs of them to be copied whole.
            if next < at + 2 || &head[next - 2..next] != b"\r\n" {
                return None;
            }
            let span = (at as u16, next as u16);
            match what {
                Line::Drop => {}
                Line::Length if raw.length.is_none() => raw.length = Some(span),
                // A repeated (equal) Content-Length travels once.
                Line::Length => {}
                Line::Keep => {
                    let n = raw.count as usize;
                    if n > 0 && raw.runs[n - 1].1 == span.0 {
                        raw.runs[n - 1].1 = span.1;
                    } else if n == RUNS {
                        return None;
                    } else {
                        raw.runs[n] = span;
                        raw.count += 1;
                    }
                }
            }
        }
        Some(RawFields(Box::new(raw)))
    }

    /// Append the kept lines (and the `Content-Length` one when
    /// `keep_length`) to a head being written.
    pub(crate) fn write(&self, out: &mut Vec<u8>, keep_length: bool) {
        let f = &*self.0;
        for &(a, b) in &f.runs[..f.count as usize] {
            out.extend_from_slice(&f.head[a as usize..b as usize]);
        }
        if let (true, Some((a, b))) = (keep_length, f.length) {
            out.extend_from_slice(&f.head[a as usize..b as usize]);
        }
    }

    /// The kept fields (with `Content-Length`) appended to a map, for a
    /// writer that writes maps only (HTTP/2).
    pub fn append_to(&self, map: &mut HeaderMap) {
        let f = &*self.0;
        let runs = f.runs[..f.count as usize].iter().chain(&f.length);
        for &(a, b) in runs {
            let text = &f.head[a as usize..b as usize];
            for line in text.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                let Some(colon) = line.iter().position(|c| *c == b':') else {
                    continue;
                };
                let value = line[colon + 1..].trim_ascii();
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(&line[..colon]),
                    HeaderValue::from_maybe_shared(f.head.slice_ref(value)),
                ) else {
                    continue;
                };
                map.append(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::parse_response_passing;
    use bytes::BytesMut;

    fn passed(head: &str, keep_length: bool) -> Option<String> {
        let mut buf = BytesMut::from(head);
        let parsed = parse_response_passing(&mut buf).unwrap().unwrap();
        let raw = parsed.raw?;
        assert!(parsed.headers.is_empty());
        let mut out = Vec::new();
        raw.write(&mut out, keep_length);
        Some(String::from_utf8(out).unwrap())
    }

    #[test]
    fn kept_lines_pass_as_they_came_and_hop_by_hop_ones_do_not() {
        let head = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: x\r\nContent-Length: 2\r\n\
                    Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Request-Id: theirs\r\n\
                    ETag: \"a\"\r\nTE: trailers\r\nVary: Accept\r\n\r\n";
        assert_eq!(
            passed(head, false).unwrap(),
            "Server: nginx\r\nDate: x\r\nETag: \"a\"\r\nVary: Accept\r\n"
        );
        assert_eq!(
            passed(head, true).unwrap(),
            "Server: nginx\r\nDate: x\r\nETag: \"a\"\r\nVary: Accept\r\nContent-Length: 2\r\n"
        );
    }

    #[test]
    fn what_cannot_pass_raw_falls_back_to_the_map() {
        // A Connection naming another field: the map strips that field.
        let named = "HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\n\r\n";
        assert_eq!(passed(named, false), None);
        // Bare LF line ends.
        assert_eq!(passed("HTTP/1.1 200 OK\nA: 1\nB: 2\n\n", false), None);
        // More runs than fit.
        let mut many = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..RUNS + 1 {
            many.push_str(&format!("A{i}: 1\r\nTE: x\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(passed(&many, false), None);
        // The map has them all, for the proxy to strip as it always did.
        let mut buf = BytesMut::from(named);
        let parsed = parse_response_passing(&mut buf).unwrap().unwrap();
        assert!(parsed.headers.get("x-secret").is_some());
        assert!(parsed.headers.get("connection").is_some());
    }

    #[test]
    fn dropped_is_the_hop_by_hop_list_and_x_request_id() {
        for n in HOP_BY_HOP.iter().chain(&["x-request-id"]) {
            assert!(dropped(n.as_bytes()), "{n}");
            assert!(dropped(n.to_ascii_uppercase().as_bytes()), "{n}");
        }
        for n in [
            "content-type",
            "server",
            "date",
            "set-cookie",
            "connections",
            "tee",
            "x-request",
        ] {
            assert!(!dropped(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn framing_look_alikes_never_pass() {
        let head = "HTTP/1.1 200 OK\r\nContent_Length: 5\r\nA: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(passed(head, true).unwrap(), "A: 1\r\nContent-Length: 2\r\n");
    }

    #[test]
    fn the_fields_rebuild_a_map() {
        let head = "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: close\r\nContent-Length: 2\r\n\
                    Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n";
        let mut buf = BytesMut::from(head);
        let raw = parse_response_passing(&mut buf)
            .unwrap()
            .unwrap()
            .raw
            .unwrap();
        let mut map = HeaderMap::new();
        raw.append_to(&mut map);
        assert_eq!(map["server"], "nginx");
        assert_eq!(map["content-length"], "2");
        assert_eq!(map.get_all("set-cookie").iter().count(), 2);
        assert!(map.get("connection").is_none());
    }
}
