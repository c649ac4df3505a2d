//! strangler's HTTP/1.1 wire, both sides, built for a proxy's hot path
//! (the way pingora and sozu own theirs): heads parsed by httparse straight
//! into `http` types, bodies decoded without copies, an idle client
//! connection holding no buffer, upstream connections pooled and driven
//! from the request's own task. It knows nothing of the proxy: a server
//! connection hands each request to a [`Handler`] and writes what it
//! returns. HTTP/2 and TLS stay with the caller (hyper, rustls).
//!
//! - [`codec`]: heads parsed ([`present`]: what their fields say about
//!   framing, noted as they are read); [`encode`]: heads written;
//! - [`framing`]: how a body is delimited (smuggling refused), and decoded;
//! - [`raw`]: an upstream answer's fields passed on as they came;
//! - [`mod@write`]: a response or a body onto a connection, in few writes;
//! - [`bridge`]: a client's request body, fed to the handler on demand;
//! - [`handler`]: what a server connection asks of its caller
//!   ([`Handler`], [`Handled`], [`Refusal`]);
//! - [`server`]: one client connection, request after request;
//!   [`tunnel`]: an upgraded one (101), joined byte for byte to its upstream;
//! - [`client`]: one upstream's pool and exchanges; [`conn`]: dialing,
//!   liveness and response heads, for it and the lane;
//! - [`pipeline`]: pipelined exchanges no client waits on (shadow copies),
//!   whose answers are read by [`kept`]: no map, only the compared fields;
//! - [`body`]: the body types shared with the handler; [`drain`]: graceful
//!   shutdown signalling, watched by every connection;
//! - here: [`Limits`], and [`idempotent`].

use std::time::Duration;

use http::Method;

pub mod body;
pub mod bridge;
pub mod client;
pub mod codec;
pub mod conn;
pub mod drain;
pub mod encode;
pub mod framing;
pub mod handler;
pub mod kept;
pub mod pipeline;
pub mod present;
pub mod raw;
pub mod server;
pub mod tunnel;
pub mod write;

pub use codec::{MAX_FIELD_BYTES, MAX_HEAD, MAX_HEADERS};
pub use handler::{Handled, Handler, Refusal};
pub use server::boxed_with;

/// The status a handler answers when its client went away mid-request
/// (nginx's 499): the server writes nothing and closes.
pub const CLIENT_CLOSED: u16 = 499;

/// A server connection's fixed limits (the header read timeout, which a
/// proxy reloads, is asked of the [`Handler`] at each request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most fields in a request head; at most [`MAX_HEADERS`] (the parser's
    /// slots live on the stack, sized by it).
    pub max_headers: usize,
    /// Longest request head accepted, in bytes.
    pub max_head_bytes: usize,
    /// How long a keep-alive connection may wait for its next request.
    pub keepalive_idle: Duration,
    /// How long a closing connection reads what its client still sends.
    pub linger: Duration,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_headers: MAX_HEADERS,
        max_head_bytes: MAX_HEAD,
        keepalive_idle: Duration::from_secs(75),
        linger: Duration::from_secs(2),
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Whether a request with this method may be sent again after it may have
/// reached the server (RFC 9110 §9.2.2). TRACE, idempotent too, is left
/// out: a proxy has no reason to repeat it.
pub fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod codec_tests;
#[cfg(test)]
#[path = "framing_tests.rs"]
mod framing_tests;
