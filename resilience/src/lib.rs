//! Resilience primitives, one of each, shared by the proxy (per upstream)
//! and the demo services (per peer):
//!
//! - [`breaker`]: a circuit breaker — a pure state machine with time passed
//!   in ([`breaker::Core`]) and its concurrent wrapper ([`breaker::Breaker`],
//!   admitting by [`breaker::Permit`]s whose outcome is recorded, or which,
//!   dropped unused, free their half-open slot);
//! - [`backoff`]: exponential backoff (capped, optionally fully jittered)
//!   and a retry loop.
//!
//! Both read `tokio::time::Instant`, so their tests run on paused time.

pub mod backoff;
pub mod breaker;
