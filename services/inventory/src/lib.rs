//! inventory service (placeholder)
