//! HTTP/1.1 message heads written, without I/O (RFC 9112):
//! [`write_request_head`] / [`write_response_head`] put a head into a `Vec`,
//! with the framing chosen by `framing` and the connection fields a
//! [`Persist`] asks for; [`chunk_header`] a chunk's size line.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use super::framing::Framing;
use super::raw::RawFields;

/// Fields a head carries beside its map (a proxy's own: a request id,
/// forwarding fields), in one or more lists: written after the map's, each
/// replacing the map's fields of its name.
pub type AddedFields<'a> = &'a [&'a [(&'a HeaderName, HeaderValue)]];

/// Append `name: value\r\n` for every field but the framing and
/// connection ones (a head writes its own) and those `added` replaces, then
/// the `added` ones; `keep_length`: except a Content-Length that describes a
/// body not sent (HEAD, 304). Returns whether a `Connection` field listed
/// `close`.
fn write_fields(
    out: &mut Vec<u8>,
    h: &HeaderMap,
    added: AddedFields<'_>,
    keep_length: bool,
) -> bool {
    let mut close = false;
    for (k, v) in h {
        if k == header::CONNECTION {
            close |= v
                .as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            continue;
        }
        if k == header::TRANSFER_ENCODING
            || (k == header::CONTENT_LENGTH && !keep_length)
            || added.iter().any(|a| a.iter().any(|(n, _)| *n == k))
        {
            continue;
        }
        field(out, k, v);
    }
    for (k, v) in added.iter().flat_map(|a| a.iter()) {
        field(out, k, v);
    }
    close
}

pub(crate) fn field(out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_framing(out: &mut Vec<u8>, framing: Framing) {
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa_buf(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None | Framing::Eof => {}
    }
}

/// Request line (the target given in pieces, written one after the other)
/// and fields (`headers`, then `added`). Any Content-Length
/// or Transfer-Encoding among `headers` is left out: the framing written is
/// `framing`'s, and only it.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &[&str],
    headers: &HeaderMap,
    added: AddedFields<'_>,
    framing: Framing,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    for piece in target {
        out.extend_from_slice(piece.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_fields(out, headers, added, false);
    write_framing(out, framing);
    out.extend_from_slice(b"\r\n");
}

/// How a response head ends its connection fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// HTTP/1.1: nothing to say.
    Default,
    /// An HTTP/1.0 client that asked to keep the connection.
    KeepAlive,
    /// The connection closes after this response.
    Close,
    /// A 101: the connection becomes the tunnel the response's `Upgrade`
    /// field names.
    Upgrade,
}

/// A response's fields: the upstream's passed raw, if any (see
/// [`crate::raw`]), and its map.
#[derive(Clone, Copy)]
pub struct ResponseFields<'a> {
    pub raw: Option<&'a RawFields>,
    pub map: &'a HeaderMap,
}

/// Status line, fields (raw ones, then the map's and `added`, see
/// `write_fields`), framing and connection fields; returns whether the
/// connection closes after this response (asked by `persist`, or by a
/// `Connection: close` in the map).
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    fields: ResponseFields<'_>,
    added: AddedFields<'_>,
    framing: Framing,
    keep_length: bool,
    persist: Persist,
) -> bool {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(raw) = fields.raw {
        raw.write(out, keep_length);
    }
    let listed = write_fields(out, fields.map, added, keep_length);
    write_framing(out, framing);
    let close = listed || persist == Persist::Close;
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if persist == Persist::KeepAlive {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    } else if persist == Persist::Upgrade {
        out.extend_from_slice(b"connection: upgrade\r\n");
    }
    out.extend_from_slice(b"\r\n");
    close
}

/// Decimal digits of `n` without allocating.
fn itoa_buf(n: u64) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        start: 20,
    };
    let mut n = n;
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break d;
        }
    }
}

struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// The chunk-size line for `len` bytes of data.
pub fn chunk_header(out: &mut Vec<u8>, len: usize) {
    use std::io::Write;
    let _ = write!(out, "{len:x}\r\n");
}
