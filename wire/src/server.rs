//! One HTTP/1.1 client connection, request after request:
//!
//! ```text
//! read head (header_read_timeout; idle keep-alive wait holds no buffer)
//!   ─▶ framing checks ─▶ Handler::call ─┬─ feed the request body on demand
//!   ─▶ write the response head + body ──┘  (both ways at once: full duplex)
//!   ─▶ keep-alive? next request : close
//!   (a 101 instead: the connection becomes a tunnel, `crate::tunnel`)
//! ```
//!
//! Everything between the head and the response is the [`Handler`]'s
//! (for the proxy: routing, headers, dispatch); this module owns only the
//! wire. An idle connection keeps no read or write buffer, so 10,000 idle
//! clients cost little memory.

use std::io;
use std::pin::{pin, Pin};
use std::time::Duration;

use bytes::BytesMut;
use http::{header, HeaderName, Method, Request, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep_until, Instant};

use crate::bridge::{Feed, RequestBody, CONTINUE};
use crate::codec::{self, HeadError, RequestHead};
use crate::conn::read_fresh;
use crate::drain::Watch;
use crate::framing::{self, Decoder, Framing};
use crate::handler::{Handled, Handler, Refusal};
use crate::tunnel;
use crate::write::{refuse, write_response, How};
use crate::{Limits, CLIENT_CLOSED};

/// The field a handler's request id is written as.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The idle deadline is moved only when it is this much too early: most
/// waits then cost a clock read, not a timer update.
const IDLE_SLACK: Duration = Duration::from_secs(15);

/// How a connection ended.
pub enum Ended {
    Done,
    /// The client opened with the HTTP/2 preface (prior knowledge): these
    /// bytes were read, the caller hands the connection to HTTP/2.
    Http2(BytesMut),
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serve requests from `rd`/`wr` (the two halves of one connection) until
/// it ends. `sniff_h2`: a plain listener, where the first bytes may be the
/// HTTP/2 preface instead.
pub async fn serve<R, W, H>(
    mut rd: R,
    mut wr: W,
    handler: &H,
    drain: &Watch,
    sniff_h2: bool,
) -> Ended
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    H: Handler,
{
    // Both live as long as the connection: an idle wait then only resets a
    // deadline (no timer registration) and registers no waiter.
    let mut on_drain = pin!(drain.notified());
    on_drain.as_mut().enable();
    let mut idle_timer = pin!(tokio::time::sleep(Duration::ZERO));
    let mut buf = BytesMut::new();
    let mut first = true;
    // Asked once per connection; then each answer says the timeout of the
    // configuration it was made under (the handler loads that once per request).
    let mut header_timeout = handler.header_read_timeout();
    // When the last request was done, as its handler read it: the idle
    // deadline counts from there, with no clock read of its own.
    let mut finished: Option<Instant> = None;
    loop {
        if buf.is_empty() || (first && sniff_h2 && H2_PREFACE.starts_with(&buf)) {
            if drain.draining() {
                return Ended::Done;
            }
            // A new connection has the header timeout to start its request;
            // a kept-alive one may idle longer.
            let idle = if first {
                header_timeout
            } else {
                handler.limits().keepalive_idle
            };
            let now = finished.take().unwrap_or_else(Instant::now);
            if (first && buf.is_empty()) || idle_timer.deadline() < now + idle - IDLE_SLACK {
                idle_timer.as_mut().reset(now + idle);
            }
            let got = tokio::select! {
                // Biased: data first, and no random draw per wait.
                biased;
                r = read_fresh::<_, 4096>(&mut rd, &mut buf) => matches!(r, Ok(n) if n > 0),
                () = &mut idle_timer => false,
                () = &mut on_drain => false,
            };
            if !got {
                return Ended::Done;
            }
            if first && sniff_h2 && buf.starts_with(H2_PREFACE) {
                return Ended::Http2(buf);
            }
            if first && sniff_h2 && H2_PREFACE.starts_with(&buf) {
                // A prefix of the preface: more bytes decide.
                continue;
            }
        }
        first = false;
        // Boxed: a request's state exists only while it is in flight, so an
        // idle connection's task stays small.
        let next = boxed_with(|| {
            request(
                &mut rd,
                &mut wr,
                &mut buf,
                &mut header_timeout,
                &mut finished,
                handler,
                drain,
            )
        });
        if !next.await || drain.draining() {
            let _ = wr.shutdown().await;
            if !drain.draining() {
                Box::pin(linger(&mut rd, handler.limits().linger)).await;
            }
            return Ended::Done;
        }
        if buf.is_empty() {
            // Idle until the next request: hold no buffer.
            buf = BytesMut::new();
        }
    }
}

/// Await `$fut` (pinned) while the request body is fed to the handler as
/// it asks for it (both ways at once); `$wr`: where a `100 Continue` may be
/// written. A macro, not a function: the future stays where it is, in the
/// request's state, rather than being moved into another.
macro_rules! fed {
    ($fut:ident, $feed:ident, $rd:ident, $buf:ident, $wr:expr) => {
        loop {
            if $feed.feeder.is_none() {
                break (&mut $fut).await;
            }
            tokio::select! {
                biased;
                r = &mut $fut => break r,
                () = $feed.run($rd, $buf, $wr) => {}
            }
        }
    };
}

/// `make()`'s future in a box allocated first, so that the compiler can
/// build the future in its box rather than on the stack and then copy it
/// there whole (`Box::pin(f)`: a memcpy of its full size, 2.9 KB for
/// `request`, 4.7 KB for the proxy's handler, `proxy::answer`, on every
/// request). It does so when the future's arguments are references and
/// small values; one moved in by value (a `Request`) makes it build on the
/// stack again, which is why [`Handler::call`] takes its request out of a
/// slot.
pub fn boxed_with<F>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    Box::into_pin(Box::write(Box::new_uninit(), make()))
}

/// After the proxy's FIN: what the client still sends (the rest of an
/// upload that was refused, say) is read and dropped until it closes, for
/// at most `linger` ([`Limits::linger`]). Closed at once, unread data would make the kernel
/// send a reset, which can destroy the answer in the client's buffers
/// before it is read (NGINX's lingering close).
async fn linger<R: AsyncRead + Unpin>(rd: &mut R, linger: Duration) {
    let mut sink = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(linger, async {
        while let Ok(n) = tokio::io::AsyncReadExt::read(rd, &mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Read, check and answer one request; `true`: the connection can carry another.
///
/// Not inlined: `boxed_with` then gets the future built straight in its box.
/// Inlined, the compiler built it on the stack and copied its ~3 KB into the
/// box on every request (callgrind: 244 instructions, 34 cache lines written).
#[inline(never)]
async fn request<R, W, H>(
    rd: &mut R,
    wr: &mut W,
    buf: &mut BytesMut,
    header_timeout: &mut Duration,
    finished: &mut Option<Instant>,
    handler: &H,
    drain: &Watch,
) -> bool
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    H: Handler,
{
    // In blocks: a local's storage lasts to the end of its scope, moved out
    // or not, and the future keeps it across every await in that scope. The
    // head (256 bytes) ends before the handler runs, the request's slot
    // (248) before the answer is written.
    let (req, mut feed, is_head, version, close) = {
        let head = match read_head(rd, buf, *header_timeout, handler.limits()).await {
            Ok(Some(h)) => h,
            Ok(None) => return false,
            // Boxed, like the other rare paths: the answer to a refused head
            // (~1.3 KB of state) is not carried by every request's future.
            Err(e) => return Box::pin(refused(wr, handler, refusal(e, true))).await,
        };
        let (framing, close) = match framing::request_framing(&head) {
            Ok(f) => f,
            Err(e) => return Box::pin(refused(wr, handler, refusal(e, false))).await,
        };
        // The connection closes after this exchange: the client asked, or its framing.
        let close = close || !keeps_alive(&head);
        // The exchange is written out here rather than called: an async fn
        // awaited is built and then moved into this future, two copies of its
        // ~1.7 KB state on every request (callgrind: 225 instructions and 28
        // cache lines written). Only its synchronous start is a function
        // (`exchange`, inlined).
        let is_head = head.method == Method::HEAD;
        let version = head.version;
        let (req, feed) = exchange(head, framing);
        (req, feed, is_head, version, close)
    };
    // The handler runs while the body is fed to it on demand.
    let handled = {
        let mut slot = Some(req);
        let mut handling = handler.call_boxed(&mut slot);
        fed!(handling, feed, rd, buf, Some(&mut *wr))
    };
    let Handled {
        response: resp,
        request_id,
        raw,
        header_read_timeout,
        finished: done_at,
    } = handled;
    if let Some(t) = header_read_timeout {
        *header_timeout = t;
    }
    *finished = done_at.map(Instant::from_std);
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        // Boxed: the common request's future carries no tunnel state.
        return Box::pin(tunnel::switch(rd, wr, buf, resp, request_id, drain)).await;
    }
    if resp.status().as_u16() == CLIENT_CLOSED {
        // The client went away mid-request: nobody to answer.
        return false;
    }
    // The response goes out while the rest of the body may still come in.
    // A body the handler dropped unread leaves the connection's framing
    // unknown: say so, and close after the response.
    let abandoned = !feed.decoder.is_done() && feed.feeder.as_ref().is_none_or(|f| f.dropped());
    let close_after = close || drain.draining() || abandoned;
    if feed.send_continue && !abandoned && feed.feeder.is_some() {
        // The answer came before the body was asked for (an upstream that
        // answers at once), but the body is still wanted: the client waits
        // for this before sending it.
        feed.send_continue = false;
        if wr.write_all(CONTINUE).await.is_err() {
            return false;
        }
    }
    let written = {
        let id = [(&X_REQUEST_ID, request_id)];
        let added: [&[_]; 1] = [&id];
        let how = How {
            is_head,
            version,
            close: close_after,
        };
        let mut writing = pin!(write_response(wr, resp, raw.as_ref(), &added, how));
        fed!(writing, feed, rd, buf, None::<&mut W>)
    };
    match written {
        Ok(reuse) => reuse && feed.decoder.is_done() && !close,
        Err(e) => {
            handler.ended_mid_response(&e);
            false
        }
    }
}

/// The request handed to the handler, and the feed of its body (decoded
/// as `framing` says, an `Expect: 100-continue` answered when it is first
/// wanted). Always inlined: its values are then built in place in the
/// request's future, as when this was written out there.
#[inline(always)]
fn exchange(mut head: RequestHead, framing: Framing) -> (Request<RequestBody>, Feed) {
    if framing == Framing::Chunked {
        // Transfer-Encoding wins; a Content-Length beside it is a lie that
        // must not travel on (RFC 9112 §6.3) nor be trusted here.
        head.headers.remove(header::CONTENT_LENGTH);
    }
    let expects = head.present.expect
        && head
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects {
        // Answered here, when the body is first wanted; not forwarded.
        head.headers.remove(header::EXPECT);
    }
    let (body, feeder) = match framing {
        Framing::None | Framing::Eof => (RequestBody::empty(), None),
        Framing::Length(n) => {
            let (b, f) = RequestBody::channel(Some(n));
            (b, Some(f))
        }
        Framing::Chunked => {
            let (b, f) = RequestBody::channel(None);
            (b, Some(f))
        }
    };
    let feed = Feed {
        decoder: Decoder::new(framing),
        feeder,
        send_continue: expects && head.version == Version::HTTP_11,
    };
    let mut req = Request::new(body);
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.version_mut() = head.version;
    *req.headers_mut() = head.headers;
    (req, feed)
}

/// A head error as the handler is told it; `reading`: the head itself
/// could not be read (else: its framing is refused).
fn refusal(e: HeadError, reading: bool) -> Refusal {
    match e {
        HeadError::TooLarge if reading => Refusal::HeadTooLarge,
        HeadError::Framing(why) => Refusal::Framing(why),
        HeadError::Unsupported(why) => Refusal::Unsupported(why),
        HeadError::Malformed | HeadError::TooLarge if reading => {
            Refusal::Malformed("malformed HTTP/1.1 request")
        }
        HeadError::Malformed | HeadError::TooLarge => Refusal::Malformed("malformed request"),
    }
}

/// Write the handler's answer to a request that cannot be read; `false`:
/// the connection closes.
async fn refused<W: AsyncWrite + Unpin, H: Handler>(wr: &mut W, handler: &H, why: Refusal) -> bool {
    let _ = refuse(wr, handler.refuse(why)).await;
    false
}

/// Whether the client asked to keep the connection open.
fn keeps_alive(h: &RequestHead) -> bool {
    match h.version {
        Version::HTTP_11 => !h.present.close,
        _ => h.present.keep_alive,
    }
}

pub(crate) async fn read_more<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> io::Result<usize> {
    tokio::io::AsyncReadExt::read_buf(rd, buf).await
}

/// The rest of a request head that has begun to arrive, within
/// `header_timeout`. `Ok(None)`: the client closed or was too slow.
async fn read_head<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    header_timeout: Duration,
    limits: &Limits,
) -> Result<Option<RequestHead>, HeadError> {
    let mut deadline = None;
    loop {
        if let Some(h) = codec::parse_request_within(buf, limits)? {
            return Ok(Some(h));
        }
        // Only a head split across reads needs a clock and a timer.
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + header_timeout);
        buf.reserve(4096);
        tokio::select! {
            biased;
            r = read_more(rd, buf) => match r {
                Ok(0) | Err(_) => return Ok(None),
                Ok(_) => {}
            },
            () = sleep_until(deadline) => return Ok(None),
        }
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
