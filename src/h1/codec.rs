//! HTTP/1.1 message heads and framing, without I/O (RFC 9112):
//!
//! - [`parse_request`] / [`parse_response`]: a head from the front of a
//!   buffer (httparse), into `http` types whose values share the buffer;
//! - [`request_framing`] / [`response_framing`]: how the body is delimited,
//!   refusing what request smuggling relies on (TE with CL, obfuscated or
//!   non-final `chunked`, duplicate or malformed Content-Length);
//! - [`Decoder`]: a body out of a buffer, fixed-length, chunked, or to EOF;
//! - [`write_request_head`] / [`write_response_head`]: heads into a `Vec`.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use crate::request::MAX_HEADERS;

/// Longest head accepted: 64 KiB of header fields plus an 8 KiB request line.
pub const MAX_HEAD: usize = 72 * 1024;
/// Longest chunk-size line (with extensions) and trailer section.
const MAX_CHUNK_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or a malformed line or field.
    Malformed,
    /// Over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields.
    TooLarge,
    /// Body framing a proxy must refuse (smuggling vectors).
    Framing(&'static str),
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (responses only).
    Eof,
}

pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
}

fn version(v: Option<u8>) -> Version {
    match v {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    }
}

/// Where a field's name and value sit in the head (offsets, so that the
/// head can be frozen into shared bytes after parsing).
#[derive(Clone, Copy, Default)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

fn spans(buf: &[u8], fields: &[httparse::Header<'_>], out: &mut [Span]) {
    let base = buf.as_ptr() as usize;
    for (f, s) in fields.iter().zip(out.iter_mut()) {
        s.name = (
            (f.name.as_ptr() as usize - base) as u32,
            f.name.len() as u32,
        );
        s.value = (
            (f.value.as_ptr() as usize - base) as u32,
            f.value.len() as u32,
        );
    }
}

/// `extra`: room for the fields the proxy will add (X-Forwarded-*, the
/// request id), so that adding them does not grow the map.
fn header_map(spans: &[Span], head: &Bytes, extra: usize) -> Result<HeaderMap, HeadError> {
    let mut map = HeaderMap::with_capacity(spans.len() + extra);
    for s in spans {
        let (ns, nl) = (s.name.0 as usize, s.name.1 as usize);
        let (vs, vl) = (s.value.0 as usize, s.value.1 as usize);
        let name = HeaderName::from_bytes(&head[ns..ns + nl]).map_err(|_| HeadError::Malformed)?;
        let value = HeaderValue::from_maybe_shared(head.slice(vs..vs + vl))
            .map_err(|_| HeadError::Malformed)?;
        map.append(name, value);
    }
    Ok(map)
}

/// Take a request head off the front of `buf`; `Ok(None)`: incomplete.
pub fn parse_request(buf: &mut BytesMut) -> Result<Option<RequestHead>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS + 1];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Malformed)?;
    let path = req.path.unwrap_or("");
    let ver = version(req.version);
    let count = req.headers.len();
    let mut at = [Span::default(); MAX_HEADERS + 1];
    spans(buf, req.headers, &mut at);
    let path_at = path.as_ptr() as usize - buf.as_ptr() as usize;
    let path_len = path.len();
    // The head becomes shared bytes: the target and the values point into it.
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_at..path_at + path_len))
        .map_err(|_| HeadError::Malformed)?;
    let headers = header_map(&at[..count], &head, 5)?;
    Ok(Some(RequestHead {
        method,
        uri,
        version: ver,
        headers,
    }))
}

/// Take a response head off the front of `buf`; `Ok(None)`: incomplete.
pub fn parse_response(buf: &mut BytesMut) -> Result<Option<ResponseHead>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS + 1];
    let mut resp = httparse::Response::new(&mut fields);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|_| HeadError::Malformed)?;
    let ver = version(resp.version);
    let count = resp.headers.len();
    let mut at = [Span::default(); MAX_HEADERS + 1];
    spans(buf, resp.headers, &mut at);
    let head = buf.split_to(len).freeze();
    let headers = header_map(&at[..count], &head, 1)?;
    Ok(Some(ResponseHead {
        status,
        version: ver,
        headers,
    }))
}

/// The one Content-Length all of a message's fields agree on.
fn content_length(h: &HeaderMap) -> Result<Option<u64>, HeadError> {
    let mut found = None;
    for v in h.get_all(header::CONTENT_LENGTH) {
        let b = v.as_bytes();
        if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
            return Err(HeadError::Framing("malformed Content-Length"));
        }
        let n: u64 = std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(HeadError::Framing("malformed Content-Length"))?;
        if found.is_some_and(|f| f != n) {
            return Err(HeadError::Framing("conflicting Content-Length"));
        }
        found = Some(n);
    }
    Ok(found)
}

/// Whether the Transfer-Encoding fields end in `chunked` (`None`: absent).
/// Each coding must be a plain token; `chunked` may appear only last.
fn chunked(h: &HeaderMap) -> Result<Option<bool>, HeadError> {
    let mut codings = 0usize;
    let mut last_chunked = false;
    for v in h.get_all(header::TRANSFER_ENCODING) {
        for c in v.as_bytes().split(|b| *b == b',') {
            let c = c.trim_ascii();
            if c.is_empty() {
                continue;
            }
            if last_chunked {
                return Err(HeadError::Framing("chunked is not the final coding"));
            }
            last_chunked = c.eq_ignore_ascii_case(b"chunked");
            codings += 1;
        }
    }
    Ok((codings > 0).then_some(last_chunked))
}

/// Request framing, and whether the connection must close after it
/// (a message that carried both TE and CL).
pub fn request_framing(h: &RequestHead) -> Result<(Framing, bool), HeadError> {
    let cl = content_length(&h.headers)?;
    match chunked(&h.headers)? {
        Some(true) if h.version == Version::HTTP_10 => Err(HeadError::Framing(
            "Transfer-Encoding in an HTTP/1.0 request",
        )),
        Some(true) => Ok((Framing::Chunked, cl.is_some())),
        // A request body must be delimited: anything but a final chunked is refused.
        Some(false) => Err(HeadError::Framing("unsupported Transfer-Encoding")),
        None => Ok((
            cl.filter(|n| *n > 0).map_or(Framing::None, Framing::Length),
            false,
        )),
    }
}

/// Response framing for a request made with `method`, and whether the
/// connection can be reused afterwards.
pub fn response_framing(method: &Method, h: &ResponseHead) -> Result<(Framing, bool), HeadError> {
    let s = h.status.as_u16();
    let mut reuse = h.version == Version::HTTP_11 && !has_token(&h.headers, "close");
    if h.version == Version::HTTP_10 && has_token(&h.headers, "keep-alive") {
        reuse = true;
    }
    if *method == Method::HEAD || (100..200).contains(&s) || s == 204 || s == 304 {
        return Ok((Framing::None, reuse));
    }
    let cl = content_length(&h.headers)?;
    Ok(match chunked(&h.headers)? {
        Some(true) => (Framing::Chunked, reuse && cl.is_none()),
        Some(false) => (Framing::Eof, false),
        None => match cl {
            Some(0) => (Framing::None, reuse),
            Some(n) => (Framing::Length(n), reuse),
            None => (Framing::Eof, false),
        },
    })
}

/// Whether a `Connection` field lists `token`.
pub fn has_token(h: &HeaderMap, token: &str) -> bool {
    h.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// What a [`Decoder`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// More bytes are needed.
    Pending,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
}

/// A body out of a connection buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    kind: Framing,
    remaining: u64,
    chunk: Chunk,
    done: bool,
}

impl Decoder {
    pub fn new(kind: Framing) -> Self {
        let remaining = match kind {
            Framing::Length(n) => n,
            _ => 0,
        };
        Decoder {
            kind,
            remaining,
            chunk: Chunk::Size,
            done: kind == Framing::None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes still expected, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self.kind {
            Framing::Length(_) => Some(self.remaining),
            Framing::None => Some(0),
            _ => None,
        }
    }

    /// The connection reached EOF: the end of an EOF-delimited body, an
    /// error for any other.
    pub fn eof(&mut self) -> Result<Decoded, &'static str> {
        if self.kind == Framing::Eof || self.done {
            self.done = true;
            Ok(Decoded::Done)
        } else {
            Err("connection closed before the end of the body")
        }
    }

    /// Decode what `buf` holds; the data returned shares `buf`'s memory.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, &'static str> {
        if self.done {
            return Ok(Decoded::Done);
        }
        match self.kind {
            Framing::None => Ok(Decoded::Done),
            Framing::Length(_) => {
                if buf.is_empty() {
                    return Ok(Decoded::Pending);
                }
                let n = (buf.len() as u64).min(self.remaining) as usize;
                self.remaining -= n as u64;
                self.done = self.remaining == 0;
                Ok(Decoded::Data(buf.split_to(n).freeze()))
            }
            Framing::Eof => {
                if buf.is_empty() {
                    Ok(Decoded::Pending)
                } else {
                    Ok(Decoded::Data(buf.split().freeze()))
                }
            }
            Framing::Chunked => self.decode_chunked(buf),
        }
    }

    fn decode_chunked(&mut self, buf: &mut BytesMut) -> Result<Decoded, &'static str> {
        loop {
            match self.chunk {
                Chunk::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        self.chunk = if size == 0 {
                            Chunk::Trailers(0)
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_CHUNK_LINE => {
                        return Err("chunk-size line too long")
                    }
                    Ok(httparse::Status::Partial) => return Ok(Decoded::Pending),
                    Err(_) => return Err("malformed chunk size"),
                },
                Chunk::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::Pending);
                    }
                    let n = (buf.len() as u64).min(left) as usize;
                    self.chunk = if n as u64 == left {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - n as u64)
                    };
                    return Ok(Decoded::Data(buf.split_to(n).freeze()));
                }
                Chunk::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::Pending);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err("chunk data not followed by CRLF");
                    }
                    buf.advance(2);
                    self.chunk = Chunk::Size;
                }
                Chunk::Trailers(seen) => {
                    // Trailer fields are read and dropped, up to an empty line.
                    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
                        if seen + buf.len() > MAX_TRAILERS {
                            return Err("trailers too large");
                        }
                        return Ok(Decoded::Pending);
                    };
                    buf.advance(eol + 2);
                    if eol == 0 {
                        self.done = true;
                        return Ok(Decoded::Done);
                    }
                    if seen + eol > MAX_TRAILERS {
                        return Err("trailers too large");
                    }
                    self.chunk = Chunk::Trailers(seen + eol + 2);
                }
            }
        }
    }
}

/// Append `name: value\r\n` for every field.
fn write_fields(out: &mut Vec<u8>, h: &HeaderMap) {
    for (k, v) in h {
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
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

/// Request line and fields; `headers` must not carry Content-Length or
/// Transfer-Encoding (the framing is written from `framing`).
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    framing: Framing,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_fields(out, headers);
    write_framing(out, framing);
    out.extend_from_slice(b"\r\n");
}

/// Status line and fields, plus the framing and `connection: close` when asked.
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    write_fields(out, headers);
    write_framing(out, framing);
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
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

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
