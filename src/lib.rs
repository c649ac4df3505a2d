//! strangler: an edge proxy for strangler-fig migrations.
pub mod app;
pub mod body;
pub mod breaker;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod headers;
pub mod normalize;
pub mod proxy;
pub mod request;
pub mod routing;
pub mod server;
pub mod shadow;
pub mod snapshot;
pub mod upstream;
