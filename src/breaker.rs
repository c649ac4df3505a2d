//! The circuit breaker of each upstream: the shared one (the `resilience`
//! crate, also the demo services'), set from routes.yaml's `breaker:`.

pub use resilience::breaker::*;

use crate::config::BreakerConfig;

impl BreakerConfig {
    /// The breaker's settings from the validated config.
    pub fn settings(&self) -> Settings {
        Settings {
            failure_threshold: self.failure_threshold.0,
            recovery_timeout: self.recovery_timeout.0,
            success_threshold: self.success_threshold.0,
            half_open_requests: self.half_open_requests.0,
        }
    }
}
