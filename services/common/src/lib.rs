//! shared pieces of the services (placeholder)
