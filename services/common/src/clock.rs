//! Time as the API shows it: RFC 3339 strings in UTC, to the second.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `t` as an RFC 3339 string, e.g. `2026-01-05T09:00:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `secs` after the Unix epoch, as RFC 3339; used for the fixed seed timestamps.
pub fn rfc3339_at(secs: u64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The current time, for resources created at runtime.
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_seconds() {
        assert_eq!(super::rfc3339_at(1_767_603_600), "2026-01-05T09:00:00Z");
    }
}
