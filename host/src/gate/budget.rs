//! Request budgets: how fast requests for one tenant may go to one API.
//!
//! The Microsoft APIs throttle per tenant (about 2,000 requests a minute for
//! the Management Activity API, 100 per 5 minutes for Graph message
//! traces). A component declares its API's budget with each endpoint; the
//! gate paces every request through it, so a catch-up runs as fast as the
//! budget allows and no faster: throttling answers are the exception, not the
//! way the pace is found. The burst is one second's worth of the budget, so
//! the pace is smooth rather than a burst followed by a wall.
//!
//! Budgets are keyed by tenant and authority wherever the cycle runs in this
//! process. With several instances (scale-out, `crate::scale`) a tenant's
//! budget still holds whole: only the instance holding the tenant's
//! checkpoint lease for a source sends requests for it, so one budget paces
//! them at any moment (a cycle that ends on one instance and the next that
//! starts on another can overlap by one burst at most).

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A rate: `requests` per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests allowed...
    pub requests: u32,
    /// ...per this long.
    pub per: Duration,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let requests = NonZeroU32::new(self.requests)?;
        if self.per.is_zero() {
            return None;
        }
        let interval = self.per / requests.get();
        let per_second = (self.requests as f64 / self.per.as_secs_f64()).floor() as u32;
        let burst = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(interval).map(|q| q.allow_burst(burst))
    }
}

/// All budgets of this process.
#[derive(Default)]
pub struct Budgets {
    limiters: Mutex<HashMap<(String, String, Rate), Arc<DefaultDirectRateLimiter>>>,
}

impl Budgets {
    /// Waits until a request for `tenant` to `authority` fits in `rate`.
    pub async fn acquire(&self, tenant: &str, authority: &str, rate: Rate) {
        let limiter = {
            let Ok(mut map) = self.limiters.lock() else {
                return;
            };
            let key = (tenant.to_string(), authority.to_string(), rate);
            match map.get(&key) {
                Some(limiter) => limiter.clone(),
                None => match rate.quota() {
                    Some(quota) => {
                        let limiter = Arc::new(RateLimiter::direct(quota));
                        map.insert(key, limiter.clone());
                        limiter
                    }
                    None => return,
                },
            }
        };
        limiter.until_ready().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn paces_requests_at_the_rate_after_a_one_second_burst() {
        let budgets = Budgets::default();
        let rate = Rate {
            requests: 600,
            per: Duration::from_secs(60),
        };
        let started = Instant::now();
        for _ in 0..15 {
            budgets.acquire("t", "api", rate).await;
        }
        // 10 per second: a burst of 10, then 5 more at 100 ms each.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(450), "{took:?}");
        // Another tenant has its own budget.
        let other = Instant::now();
        budgets.acquire("u", "api", rate).await;
        assert!(other.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn a_zero_rate_means_no_budget() {
        assert!(
            Rate {
                requests: 0,
                per: Duration::from_secs(60)
            }
            .quota()
            .is_none()
        );
        assert!(
            Rate {
                requests: 5,
                per: Duration::ZERO
            }
            .quota()
            .is_none()
        );
    }
}
