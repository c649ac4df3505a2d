//! How an HTTP/1.1 message body is delimited, and reading it (RFC 9112 §6):
//!
//! - [`request_framing`] / [`response_framing`]: from the head, refusing
//!   what request smuggling relies on (TE with CL, obfuscated or non-final
//!   `chunked`, duplicate or malformed Content-Length);
//! - [`Decoder`]: a body out of a connection buffer, fixed-length, chunked
//!   (trailers read and dropped), or to EOF; the data shares the buffer.

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode, Version};

use super::codec::{HeadError, Length, Present, RequestHead, ResponseHead};

/// Longest chunk-size line (with extensions) and trailer section.
const MAX_CHUNK_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 64 * 1024;

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (responses only).
    Eof,
}

/// The one Content-Length all of a message's fields agree on.
fn content_length(p: Present) -> Result<Option<u64>, HeadError> {
    match p.length {
        Length::Absent => Ok(None),
        Length::Is(n) => Ok(Some(n)),
        Length::Bad(why) => Err(HeadError::Framing(why)),
    }
}

/// Whether the Transfer-Encoding fields end in `chunked` (`None`: absent).
/// Each coding must be a plain token; `chunked` may appear only last.
fn chunked(p: Present) -> Result<Option<bool>, HeadError> {
    let c = p.codings;
    if c.bad {
        return Err(HeadError::Framing("chunked is not the final coding"));
    }
    Ok(c.any.then_some(c.chunked_last))
}

/// Request framing, and whether the connection must close after it: its
/// framing was ambiguous though acceptable (both TE and CL, a repeated CL,
/// a look-alike framing field, a GET or HEAD that frames a body or names
/// `TE`), so nothing after it on this connection can be trusted.
pub fn request_framing(h: &RequestHead) -> Result<(Framing, bool), HeadError> {
    let p = h.present;
    let cl = content_length(p)?;
    let te = chunked(p)?;
    let bodiless = matches!(h.method, Method::GET | Method::HEAD);
    let ambiguous = p.ambiguous
        || (bodiless && (cl.is_some() || te.is_some() || p.te))
        || (cl.is_some() && te.is_some());
    match te {
        Some(true) if h.version == Version::HTTP_10 => Err(HeadError::Framing(
            "Transfer-Encoding in an HTTP/1.0 request",
        )),
        // Passed on as `chunked` alone, the body would lose its coding.
        Some(true) if p.codings.other => Err(HeadError::Unsupported(
            "transfer codings other than chunked are not supported",
        )),
        Some(true) => Ok((Framing::Chunked, ambiguous)),
        // A request body must be delimited: anything but a final chunked is refused.
        Some(false) => Err(HeadError::Framing("unsupported Transfer-Encoding")),
        None => Ok((
            cl.filter(|n| *n > 0).map_or(Framing::None, Framing::Length),
            ambiguous,
        )),
    }
}

/// Response framing for a request made with `method`, and whether the
/// connection can be reused afterwards.
pub fn response_framing(method: &Method, h: &ResponseHead) -> Result<(Framing, bool), HeadError> {
    response_framing_of(method, h.status, h.version, h.present)
}

/// [`response_framing`] from a head's parts.
pub fn response_framing_of(
    method: &Method,
    status: StatusCode,
    version: Version,
    present: Present,
) -> Result<(Framing, bool), HeadError> {
    let s = status.as_u16();
    let reuse = match version {
        Version::HTTP_11 => !present.close,
        _ => present.keep_alive,
    };
    if *method == Method::HEAD || (100..200).contains(&s) || s == 204 || s == 304 {
        return Ok((Framing::None, reuse));
    }
    let cl = content_length(present)?;
    let te = chunked(present)?;
    Ok(match te {
        Some(true) => (Framing::Chunked, reuse && cl.is_none()),
        Some(false) => (Framing::Eof, false),
        None => match cl {
            Some(0) => (Framing::None, reuse),
            Some(n) => (Framing::Length(n), reuse),
            None => (Framing::Eof, false),
        },
    })
}

/// A trailer line as a field, unless malformed or a name that must not be
/// a trailer (RFC 9110 §6.5.1: framing, routing, authentication and
/// connection fields).
pub fn trailer_field(line: &[u8]) -> Option<(http::HeaderName, http::HeaderValue)> {
    let colon = line.iter().position(|b| *b == b':')?;
    let name = http::HeaderName::from_bytes(&line[..colon]).ok()?;
    let value = http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
    const BARRED: &[&str] = &[
        "content-length",
        "transfer-encoding",
        "content-encoding",
        "content-type",
        "content-range",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "authorization",
        "set-cookie",
        "cache-control",
        "expect",
    ];
    (!BARRED.contains(&name.as_str())).then_some((name, value))
}

/// What a [`Decoder`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// A line of a chunked body's trailer section, `name: value`, that
    /// [`trailer_field`] reads (fields that must not be trailers — framing,
    /// routing, hop-by-hop — and malformed lines are left out). The raw
    /// line, not the field: the variant stays as small as `Data`, so every
    /// decode returns no more than it did.
    Trailer(Bytes),
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
                    // Trailer fields, one a call, up to an empty line.
                    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
                        if seen + buf.len() > MAX_TRAILERS {
                            return Err("trailers too large");
                        }
                        return Ok(Decoded::Pending);
                    };
                    let mut line = buf.split_to(eol + 2);
                    if eol == 0 {
                        self.done = true;
                        return Ok(Decoded::Done);
                    }
                    if seen + eol > MAX_TRAILERS {
                        return Err("trailers too large");
                    }
                    self.chunk = Chunk::Trailers(seen + eol + 2);
                    line.truncate(eol);
                    if trailer_field(&line).is_some() {
                        return Ok(Decoded::Trailer(line.freeze()));
                    }
                }
            }
        }
    }
}
