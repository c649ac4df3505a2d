//! strangler: an edge proxy for strangler-fig migrations.
pub mod body;
pub mod breaker;
pub mod config;
pub mod error;
pub mod headers;
pub mod normalize;
pub mod routing;
