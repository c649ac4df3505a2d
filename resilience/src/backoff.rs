//! Retrying with exponential backoff: the proxy's retries (fully jittered,
//! [`Backoff::jittered`]), calls between the services and saga compensations.

use std::future::Future;
use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Total tries, the first included; `1` means no retry.
    pub attempts: u32,
    /// The wait before the first retry; each further retry waits twice as long.
    pub first_delay: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 3,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (1-based): `first_delay`
    /// doubled per retry, at most `max_delay`.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(20);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// [`Backoff::delay`] with full jitter: uniform in `[0, delay]` for
    /// `unit` uniform in `[0, 1]` (clients that failed together do not
    /// retry together).
    pub fn jittered(&self, retry: u32, unit: f64) -> Duration {
        self.delay(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Runs `op` until it succeeds, fails with an error `retryable` refuses, or the attempts
    /// run out; returns the last result.
    pub async fn retry<T, E, Fut>(
        &self,
        mut op: impl FnMut() -> Fut,
        retryable: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if attempt < self.attempts && retryable(&e) => {
                    tokio::time::sleep(self.delay(attempt)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff {
            attempts: 10,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(2), Duration::from_millis(200));
        assert_eq!(b.delay(3), Duration::from_millis(350));
    }

    #[test]
    fn jitter_is_a_fraction_of_the_delay() {
        let b = Backoff {
            attempts: 3,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(b.jittered(1, 1.0), Duration::from_millis(50));
        assert_eq!(b.jittered(3, 1.0), Duration::from_millis(200));
        assert_eq!(b.jittered(10, 1.0), Duration::from_secs(1));
        assert_eq!(b.jittered(3, 0.0), Duration::ZERO);
        assert_eq!(b.jittered(3, 0.5), Duration::from_millis(100));
        assert_eq!(b.jittered(3, 7.0), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_what_is_retryable() {
        let b = Backoff::default();
        let mut calls = 0;
        let r: Result<(), bool> = b
            .retry(
                || {
                    calls += 1;
                    async { Err(true) }
                },
                |retryable| *retryable,
            )
            .await;
        assert_eq!((r, calls), (Err(true), 3));
        let mut calls = 0;
        let r: Result<(), bool> = b
            .retry(
                || {
                    calls += 1;
                    async { Err(false) }
                },
                |retryable| *retryable,
            )
            .await;
        assert_eq!((r, calls), (Err(false), 1));
    }
}
