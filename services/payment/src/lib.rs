//! payment service (placeholder)
