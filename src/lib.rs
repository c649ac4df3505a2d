//! strangler: an edge proxy for strangler-fig migrations.
pub mod config;
pub mod normalize;
pub mod routing;
