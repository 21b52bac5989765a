//! When to try a failed call again, and how long to wait.

use crate::runtime::{FetchError, InvokeError};
use std::time::Duration;

/// Retries with exponential backoff, honouring `Retry-After`.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff.
    pub base: Duration,
    /// The longest wait, whatever the source asks.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_millis(500),
            max: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` after `error`, or none
    /// if the call should not be retried.
    pub fn delay(&self, attempt: u32, error: &InvokeError) -> Option<Duration> {
        // A refused token was dropped from the cache by the gate: the first
        // retry runs at once with a fresh one; a second refusal is real.
        if let InvokeError::Failed {
            error: FetchError::Unauthorized(_),
            ..
        } = error
        {
            return (attempt == 1).then_some(Duration::ZERO);
        }
        if !error.is_retryable() || attempt >= self.max_attempts {
            return None;
        }
        let backoff = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let wanted = error.retry_after().unwrap_or(backoff);
        Some(wanted.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Throttle;

    fn err(error: FetchError) -> InvokeError {
        InvokeError::Failed {
            component: "c".into(),
            function: "step",
            error,
        }
    }

    #[test]
    fn honours_retry_after_and_backs_off_otherwise() {
        let p = RetryPolicy::default();
        let throttled = err(FetchError::Throttled(Throttle {
            retry_after: Some(7000),
            message: String::new(),
        }));
        assert_eq!(p.delay(1, &throttled), Some(Duration::from_secs(7)));
        let transient = err(FetchError::Transient("503".into()));
        assert_eq!(p.delay(1, &transient), Some(Duration::from_millis(500)));
        assert_eq!(p.delay(3, &transient), Some(Duration::from_millis(2000)));
        assert_eq!(p.delay(8, &transient), None);
        assert_eq!(p.delay(1, &err(FetchError::Fatal("x".into()))), None);
        let refused = err(FetchError::Unauthorized("401".into()));
        assert_eq!(p.delay(1, &refused), Some(Duration::ZERO));
        assert_eq!(p.delay(2, &refused), None);
    }
}
