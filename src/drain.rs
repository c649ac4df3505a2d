//! Graceful drain: the signalling lives with the wire
//! (`strangler_wire::drain`), whose connections watch it; re-exported here
//! for the listener and the admin side.

pub use strangler_wire::drain::{Drain, Watch};
