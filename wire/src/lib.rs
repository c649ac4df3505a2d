//! The HTTP/1.1 wire of the edge, both sides, built for a proxy's hot path
//! (the way pingora and sozu own theirs): heads parsed by httparse straight
//! into `http` types, bodies decoded without copies, an idle client
//! connection holding no buffer, upstream connections pooled and driven
//! from the request's own task. HTTP/2 and TLS upstreams stay on hyper.
//!
//! - [`codec`]: heads parsed; [`encode`]: heads written;
//! - [`framing`]: how a body is delimited (smuggling refused), and decoded;
//! - [`mod@write`]: a response or a body onto a connection, in few writes;
//! - [`bridge`]: a client's request body, fed to the handler on demand;
//! - [`server`]: one client connection, request after request;
//! - [`client`]: one upstream's pool and exchanges; [`conn`]: dialing,
//!   liveness and response heads, for it and the lane;
//! - [`pipeline`]: pipelined exchanges no client waits on (shadow copies),
//!   whose answers are read by [`kept`]: no map, only the compared fields.

pub mod bridge;
pub mod client;
pub mod codec;
pub mod conn;
pub mod encode;
pub mod framing;
pub mod kept;
pub mod pipeline;
pub mod server;
pub mod write;

#[cfg(test)]
#[path = "codec_tests.rs"]
mod codec_tests;
