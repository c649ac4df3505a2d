//! What a server connection ([`crate::server`]) asks of its caller:
//!
//! ```text
//! head read ─▶ Handler::call(slot) ─▶ Handled { response, request_id }
//!     └─ unreadable ─▶ Handler::refuse(Refusal) ─▶ written, then close
//! ```
//!
//! The handler is a generic of the connection, never a `dyn`: its future is
//! built straight in the box the connection keeps for it (see
//! `server::boxed_with`), at no more cost than a plain call.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use http::{HeaderValue, Request, Response};

use crate::body::BoxedBody;
use crate::bridge::RequestBody;
use crate::raw::RawFields;
use crate::Limits;

/// A handler's answer to one request.
pub struct Handled {
    /// The response to write; a status of [`crate::CLIENT_CLOSED`] (499)
    /// means the client went away: nothing is written, the connection closes.
    pub response: Response<BoxedBody>,
    /// Written as the response's `X-Request-Id` field, as the head goes out.
    pub request_id: HeaderValue,
    /// The upstream's fields, passed on as they came (`crate::raw`),
    /// written before the response's map.
    pub raw: Option<RawFields>,
    /// The header read timeout of the configuration this answer was made
    /// under: the connection's next request gets it (`None`: keep the one
    /// in use). The handler loads its configuration once per request.
    pub header_read_timeout: Option<Duration>,
    /// When the handler was done with the request, if it read the clock
    /// then: the connection's idle deadline counts from it, with no read of
    /// its own (`None`: the connection reads the clock).
    pub finished: Option<std::time::Instant>,
}

/// Why a request could not be read; the handler turns it into the answer
/// written before the connection closes ([`Handler::refuse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The head is over the limits (bytes or fields): 431, say.
    HeadTooLarge,
    /// Not HTTP/1.x, or a malformed line or field: 400.
    Malformed(&'static str),
    /// Body framing that must be refused (smuggling vectors): 400.
    Framing(&'static str),
    /// Framing that cannot be passed on faithfully (a coding before
    /// `chunked`): 501.
    Unsupported(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::HeadTooLarge => f.write_str("request head too large"),
            Refusal::Malformed(why) | Refusal::Framing(why) | Refusal::Unsupported(why) => {
                f.write_str(why)
            }
        }
    }
}

impl std::error::Error for Refusal {}

/// The caller's side of a server connection.
pub trait Handler: Send + Sync {
    /// Answer one request. `slot` holds it; the handler takes it out when
    /// its future first runs, so that the future's arguments are all
    /// references and it can be built in place.
    fn call<'a>(
        &'a self,
        slot: &'a mut Option<Request<RequestBody>>,
    ) -> impl Future<Output = Handled> + Send + 'a;

    /// [`Handler::call`]'s future in a box, which is what the server
    /// drives (a request's state then lives only while it is in flight).
    /// A handler whose future is large should build it straight in its
    /// box, calling its async fn directly inside [`crate::boxed_with`]:
    /// through `call`, the compiler may build it on the stack and copy it
    /// (callgrind: ~430 instructions a request for a 4 KB future).
    fn call_boxed<'a>(
        &'a self,
        slot: &'a mut Option<Request<RequestBody>>,
    ) -> Pin<Box<impl Future<Output = Handled> + Send + 'a>> {
        crate::boxed_with(|| self.call(slot))
    }

    /// The answer to a request that could not be read (bad head, framing,
    /// too large, an unsupported coding), written before the connection
    /// closes.
    fn refuse(&self, why: Refusal) -> Response<BoxedBody>;

    /// How long a request head may take to arrive; asked at each request
    /// (a proxy reloads it).
    fn header_read_timeout(&self) -> Duration;

    /// The connection's fixed limits.
    fn limits(&self) -> &Limits {
        &Limits::DEFAULT
    }

    /// The connection broke while a response was being written.
    fn ended_mid_response(&self, error: &io::Error) {
        tracing::debug!(%error, "client connection ended mid-response");
    }
}
