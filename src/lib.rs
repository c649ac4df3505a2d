//! strangler: an edge proxy for strangler-fig migrations.
pub mod config;
