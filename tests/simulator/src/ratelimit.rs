//! Per-tenant request quotas, as the real services enforce them: about 2,000
//! requests a minute on the Management Activity API and 100 requests per
//! five minutes on Graph message traces. Fixed windows keep it simple.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::errors::Api;

/// Counters per (API, tenant) and window.
#[derive(Default)]
pub(crate) struct RateLimiter {
    windows: Mutex<HashMap<(Api, String), (i64, u32)>>,
}

/// The quota of an API: (requests, window in seconds).
fn quota(api: Api) -> Option<(u32, i64)> {
    match api {
        Api::Management => Some((2000, 60)),
        Api::Graph => Some((100, 300)),
        Api::Token | Api::Reporting => None,
    }
}

impl RateLimiter {
    /// Counts one request; `Some(retry_after_secs)` when it is over quota.
    pub(crate) fn hit(&self, api: Api, tenant: &str, now: DateTime<Utc>) -> Option<u64> {
        let (limit, window) = quota(api)?;
        let window_start = now.timestamp().div_euclid(window) * window;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = windows
            .entry((api, tenant.to_string()))
            .or_insert((window_start, 0));
        if entry.0 != window_start {
            *entry = (window_start, 0);
        }
        entry.1 += 1;
        (entry.1 > limit).then(|| (window_start + window - now.timestamp()).max(1) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_allows_100_per_window_then_says_when_to_retry() {
        let limiter = RateLimiter::default();
        let now = DateTime::from_timestamp(3000, 0).unwrap();
        assert!((0..100).all(|_| limiter.hit(Api::Graph, "t", now).is_none()));
        assert_eq!(limiter.hit(Api::Graph, "t", now), Some(300));
        assert_eq!(limiter.hit(Api::Graph, "other", now), None);
        assert_eq!(
            limiter.hit(Api::Graph, "t", DateTime::from_timestamp(3300, 0).unwrap()),
            None
        );
    }
}
