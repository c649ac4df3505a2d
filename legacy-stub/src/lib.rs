//! legacy stub (placeholder)
