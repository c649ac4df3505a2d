//! order service (placeholder)
