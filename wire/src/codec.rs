//! HTTP/1.1 message heads read, without I/O (RFC 9112): [`parse_request`]
//! (or [`parse_request_within`] given [`Limits`]) / [`parse_response`] take
//! a head from the front of a buffer (httparse), into `http` types whose
//! values share the buffer. Writing heads is [`crate::encode`]'s.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use crate::raw::{self, Line, RawFields};
use crate::Limits;

pub(crate) use crate::present::note_field;
pub use crate::present::{Codings, Length, Present};

/// Most fields in a head: the parser's slots for them live on the stack.
pub const MAX_HEADERS: usize = 100;
/// Longest head accepted: 64 KiB of header fields plus an 8 KiB request line.
pub const MAX_HEAD: usize = 72 * 1024;
/// Most bytes of a request's header fields (after the request line), the
/// line ends included.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or a malformed line or field.
    Malformed,
    /// Over [`MAX_HEAD`] bytes, [`MAX_FIELD_BYTES`] of fields or
    /// [`MAX_HEADERS`] fields.
    TooLarge,
    /// Body framing a proxy must refuse (smuggling vectors).
    Framing(&'static str),
    /// Framing it cannot pass on faithfully (a coding before `chunked`): 501.
    Unsupported(&'static str),
}

pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub present: Present,
}

pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    /// Empty when the fields are passed raw.
    pub headers: HeaderMap,
    pub present: Present,
    /// The fields passed raw ([`parse_response_passing`]).
    pub raw: Option<RawFields>,
}

pub(super) fn version(v: Option<u8>) -> Version {
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

impl Span {
    fn name_in<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        let (at, len) = (self.name.0 as usize, self.name.1 as usize);
        &head[at..at + len]
    }
    fn value_range(&self) -> std::ops::Range<usize> {
        let (at, len) = (self.value.0 as usize, self.value.1 as usize);
        at..at + len
    }
    fn value_in<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        &head[self.value_range()]
    }
}

/// Most heads have few fields: their spans live on the stack.
const INLINE_SPANS: usize = 32;

/// Where the spans of a head's fields are kept: in place on the caller's
/// stack for most heads, in a `Vec` past [`INLINE_SPANS`] (the head's buffer
/// is then free to be split off and frozen). Filled where it lives:
/// returned by value, the array was copied on every parse.
/// The inline spans start uninitialized: zeroing 512 bytes on every parse
/// cost more than filling the few used.
struct SpanStore {
    inline: [MaybeUninit<Span>; INLINE_SPANS],
    heap: Vec<Span>,
}

impl SpanStore {
    fn new() -> SpanStore {
        SpanStore {
            inline: [const { MaybeUninit::uninit() }; INLINE_SPANS],
            heap: Vec::new(),
        }
    }

    /// The spans of `fields` (parsed from `buf`), kept here.
    fn of(&mut self, buf: &[u8], fields: &[httparse::Header<'_>]) -> &[Span] {
        let base = buf.as_ptr() as usize;
        let span = |f: &httparse::Header<'_>| Span {
            name: (
                (f.name.as_ptr() as usize - base) as u32,
                f.name.len() as u32,
            ),
            value: (
                (f.value.as_ptr() as usize - base) as u32,
                f.value.len() as u32,
            ),
        };
        if fields.len() <= INLINE_SPANS {
            for (f, s) in fields.iter().zip(self.inline.iter_mut()) {
                s.write(span(f));
            }
            let filled = &self.inline[..fields.len()];
            // SAFETY: the first `fields.len()` spans were written just above
            // (`Span` is `Copy`: nothing to drop); `MaybeUninit<Span>` has
            // `Span`'s layout.
            unsafe { &*(filled as *const [MaybeUninit<Span>] as *const [Span]) }
        } else {
            self.heap = fields.iter().map(span).collect();
            &self.heap
        }
    }
}

/// `extra`: room for fields added later, so that adding them does not
/// grow the map.
fn header_map(
    spans: &[Span],
    head: &Bytes,
    extra: usize,
) -> Result<(HeaderMap, Present), HeadError> {
    let mut map = HeaderMap::with_capacity(spans.len() + extra);
    let mut present = Present::default();
    for s in spans {
        let raw = s.name_in(head);
        if !note_field(raw, s.value_in(head), &mut present) {
            continue;
        }
        let name = field_name(raw)?;
        // SAFETY: a `HeaderValue` may hold HTAB, SP, visible ASCII and
        // obs-text, no other control byte — exactly what httparse accepts in
        // a value, so this one is valid as it is. (The function's doc also
        // asks for UTF-8; that line is a known error of the `http` docs,
        // hyperium/http#873: the type holds obs-text by design, `from_bytes`
        // accepts it, nothing reads it as UTF-8 unchecked. hyper and pingora
        // build their values from httparse this way.) Checking every byte
        // again was ~2% of the instructions of a proxied request; debug
        // builds still check, in `http`.
        let value =
            unsafe { HeaderValue::from_maybe_shared_unchecked(head.slice(s.value_range())) };
        map.append(name, value);
    }
    Ok((map, present))
}

/// A field's name. The usual names in their usual spellings are matched
/// here, as constants: `HeaderName::from_bytes` copies a name to lower-case
/// it and then looks it up, ~100 instructions a name.
#[inline]
pub(super) fn field_name(raw: &[u8]) -> Result<HeaderName, HeadError> {
    use http::header::*;
    Ok(match raw {
        b"Host" | b"host" => HOST,
        b"Date" | b"date" => DATE,
        b"Server" | b"server" => SERVER,
        b"Content-Type" | b"content-type" => CONTENT_TYPE,
        b"Content-Length" | b"content-length" => CONTENT_LENGTH,
        b"Connection" | b"connection" => CONNECTION,
        b"User-Agent" | b"user-agent" => USER_AGENT,
        b"Accept" | b"accept" => ACCEPT,
        b"Accept-Encoding" | b"accept-encoding" => ACCEPT_ENCODING,
        b"Content-Encoding" | b"content-encoding" => CONTENT_ENCODING,
        b"Cache-Control" | b"cache-control" => CACHE_CONTROL,
        b"ETag" | b"etag" => ETAG,
        b"Last-Modified" | b"last-modified" => LAST_MODIFIED,
        b"Vary" | b"vary" => VARY,
        _ => HeaderName::from_bytes(raw).map_err(|_| HeadError::Malformed)?,
    })
}

/// httparse's verdict on `buffered` bytes: the head's length, `None` while
/// it is incomplete, an error past `max_head` bytes or the slots given.
pub(crate) fn head_len(
    parsed: httparse::Result<usize>,
    buffered: usize,
    max_head: usize,
) -> Result<Option<usize>, HeadError> {
    match parsed {
        Ok(httparse::Status::Complete(n)) if n > max_head => Err(HeadError::TooLarge),
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) if buffered >= max_head => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Malformed),
    }
}

/// Take a request head off the front of `buf`, within the default
/// [`Limits`]; `Ok(None)`: incomplete.
pub fn parse_request(buf: &mut BytesMut) -> Result<Option<RequestHead>, HeadError> {
    parse_request_within(buf, &Limits::DEFAULT)
}

/// Take a request head off the front of `buf`, within `limits`' head size
/// and field count; `Ok(None)`: incomplete.
pub fn parse_request_within(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<RequestHead>, HeadError> {
    // httparse fills these; the slots it does not use are never initialized.
    // One more than the limit: a head that fills them all is too large.
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS + 1];
    let fields = &mut fields[..limits.max_headers.min(MAX_HEADERS) + 1];
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(buf, fields);
    let Some(len) = head_len(parsed, buf.len(), limits.max_head_bytes)? else {
        return Ok(None);
    };
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Malformed)?;
    let path = req.path.unwrap_or("");
    let path_at = path.as_ptr() as usize - buf.as_ptr() as usize;
    let path_len = path.len();
    let ver = version(req.version);
    let mut store = SpanStore::new();
    let spans = store.of(buf, req.headers);
    if spans
        .first()
        .is_some_and(|f| len - f.name.0 as usize > MAX_FIELD_BYTES)
    {
        return Err(HeadError::TooLarge);
    }
    // The head becomes shared bytes: the target and the values point into it.
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_at..path_at + path_len))
        .map_err(|_| HeadError::Malformed)?;
    let (headers, present) = header_map(spans, &head, 5)?;
    Ok(Some(RequestHead {
        method,
        uri,
        version: ver,
        headers,
        present,
    }))
}

/// Take a response head off the front of `buf`; `Ok(None)`: incomplete.
pub fn parse_response(buf: &mut BytesMut) -> Result<Option<ResponseHead>, HeadError> {
    parse_response_with(buf, false)
}

/// [`parse_response`], its fields passed raw ([`RawFields`], the map left
/// empty) when they can be.
pub fn parse_response_passing(buf: &mut BytesMut) -> Result<Option<ResponseHead>, HeadError> {
    parse_response_with(buf, true)
}

fn parse_response_with(buf: &mut BytesMut, pass: bool) -> Result<Option<ResponseHead>, HeadError> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS + 1];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut fields,
    );
    let Some(len) = head_len(parsed, buf.len(), MAX_HEAD)? else {
        return Ok(None);
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|_| HeadError::Malformed)?;
    let ver = version(resp.version);
    let mut store = SpanStore::new();
    let spans = store.of(buf, resp.headers);
    let head = buf.split_to(len).freeze();
    let mut present = Present::default();
    let raw = if pass {
        passing(spans, &head, &mut present)
    } else {
        None
    };
    let headers = match raw {
        Some(_) => HeaderMap::new(),
        None => {
            let (headers, p) = header_map(spans, &head, 1)?;
            present = p;
            headers
        }
    };
    Ok(Some(ResponseHead {
        status,
        version: ver,
        headers,
        present,
        raw,
    }))
}

/// The fields of `head` as [`RawFields`], what they say noted in `present`;
/// `None`: they cannot pass raw (see `crate::raw`).
fn passing(spans: &[Span], head: &Bytes, present: &mut Present) -> Option<RawFields> {
    let mut named_other = false;
    let lines = spans.iter().map(|s| {
        let name = s.name_in(head);
        let keep = note_field(name, s.value_in(head), present);
        let what = if name.len() == 14 && crate::present::parsed_is(name, b"content-length") {
            Line::Length
        } else if !keep || raw::dropped(name) {
            // A Connection with tokens other than close/keep-alive is kept
            // by `note_field` (for the map to strip what it names).
            named_other |= keep && crate::present::parsed_is(name, b"connection");
            Line::Drop
        } else {
            Line::Keep
        };
        (s.name.0 as usize, what)
    });
    let raw = RawFields::of(head, lines)?;
    (!named_other).then_some(raw)
}
