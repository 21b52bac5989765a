//! Request budgets: how fast requests for one tenant may go to one API.
//!
//! The Microsoft APIs throttle per tenant (about 2,000 requests a minute for
//! the Management Activity API, 100 per 5 minutes for Graph message
//! traces). A component declares its API's budget with each endpoint; the
//! gate paces every request through it, so a catch-up runs as fast as the
//! budget allows and no faster: throttling answers are the exception, not the
//! way the pace is found. The burst is at most one second's worth of the
//! budget, so the pace is smooth rather than a burst followed by a wall, and
//! paced requests go out in small groups (every 250 ms), so that the calls
//! they feed run back to back while the caches are warm.
//!
//! Budgets are keyed by tenant and authority wherever the cycle runs in this
//! process. With several instances (scale-out, `crate::scale`) a tenant's
//! budget still holds whole: only the instance holding the tenant's
//! checkpoint lease for a source sends requests for it, so one budget paces
//! them at any moment (a cycle that ends on one instance and the next that
//! starts on another can overlap by one burst at most).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A rate: `requests` per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests allowed...
    pub requests: u32,
    /// ...per this long.
    pub per: Duration,
}

impl Rate {
    /// The pacer for this rate: one request per `per / requests`, in groups
    /// of up to [`GROUP_EVERY`]'s worth, after a burst of one second's worth
    /// less a group; none for a rate of zero.
    fn pacer(self) -> Option<Pacer> {
        if self.requests == 0 || self.per.is_zero() {
            return None;
        }
        let interval = self.per / self.requests;
        let per_second = (self.requests as f64 / self.per.as_secs_f64()).floor() as u32;
        let burst = per_second.clamp(1, self.requests);
        let in_group = (GROUP_EVERY.as_nanos() / interval.as_nanos().max(1)) as u32;
        let group = in_group.clamp(1, burst);
        Some(Pacer {
            interval,
            // A group released at once is up to `group - 1` requests ahead
            // of the rate; the burst makes room for it, so that no window
            // ever holds more than one second's worth above the rate.
            tolerance: interval * (burst - group),
            grid: interval * group,
            next: Mutex::new(None),
        })
    }
}

/// How far apart paced requests go out, in groups: a request waits for the
/// next multiple of this (of whole intervals) after its turn.
///
/// Why groups: a call that runs alone after tens of milliseconds of idling
/// finds the caches cold, and a paced catch-up at 2,000 requests a minute
/// (one every 30 ms) spent twice the CPU per event of an unpaced one. Sent
/// eight at a time every 240 ms, the calls run back to back: 1.49-1.50
/// instead of 1.92-2.13 CPU s for the same 100 k events at 2 % less pace
/// (`bench pipeline --latency-ms 500 --requests-per-minute 2000`). A rate of
/// less than one request in this time (Graph's 100 per 5 minutes) is not
/// grouped.
const GROUP_EVERY: Duration = Duration::from_millis(250);

/// One budget, paced by the generic cell rate algorithm with reservations:
/// each request takes the next instant the rate allows, rounded up to the
/// group grid, and sleeps until then on tokio's timer.
///
/// Why not a rate-limiter crate that polls: with `governor`'s
/// `until_ready`, every waiting request woke when a slot came free and all
/// but one went back to sleep, on a timer thread of its own; with 32
/// requests waiting on a paced catch-up, governor's allocations alone were
/// 14 % of the host's samples. A reservation wakes each request once, in
/// the order they asked. A request dropped while it waits (a deadline)
/// leaves its slot unused: the pace only ever gets slower.
struct Pacer {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of the sustained rate a burst may run.
    tolerance: Duration,
    /// Requests go out at multiples of this after the first one.
    grid: Duration,
    /// When the first request went, and the theoretical arrival time of the
    /// next: `None` until the first.
    next: Mutex<Option<(Instant, Instant)>>,
}

impl Pacer {
    /// Reserves the next allowed instant, from `now`.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let (anchor, theoretical) = next.map_or((now, now), |(a, t)| (a, t.max(now)));
        let at = theoretical
            .checked_sub(self.tolerance)
            .map_or(now, |earliest| earliest.max(now));
        *next = Some((anchor, theoretical + self.interval));
        if self.grid <= self.interval {
            return at;
        }
        // Only ever later than the rate allows, never earlier.
        let grid = self.grid.as_nanos();
        let slots = (at - anchor).as_nanos().div_ceil(grid);
        anchor + Duration::from_nanos(u64::try_from(slots * grid).unwrap_or(u64::MAX))
    }
}

/// All budgets of this process.
#[derive(Default)]
pub struct Budgets {
    pacers: Mutex<HashMap<(String, String, Rate), Arc<Pacer>>>,
}

impl Budgets {
    /// Waits until a request for `tenant` to `authority` fits in `rate`.
    pub async fn acquire(&self, tenant: &str, authority: &str, rate: Rate) {
        let pacer = {
            let mut map = self.pacers.lock().unwrap_or_else(|e| e.into_inner());
            let key = (tenant.to_string(), authority.to_string(), rate);
            match map.get(&key) {
                Some(pacer) => pacer.clone(),
                None => match rate.pacer() {
                    Some(pacer) => {
                        let pacer = Arc::new(pacer);
                        map.insert(key, pacer.clone());
                        pacer
                    }
                    None => return,
                },
            }
        };
        let at = pacer.reserve(Instant::now());
        tokio::time::sleep_until(at).await;
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

    /// When each of `n` requests, all asked for at once, was let through
    /// (ms after the start), on tokio's paused clock.
    async fn let_through(budgets: Arc<Budgets>, rate: Rate, n: usize) -> Vec<u128> {
        let start = tokio::time::Instant::now();
        let mut waiting = tokio::task::JoinSet::new();
        for i in 0..n {
            let budgets = budgets.clone();
            waiting.spawn(async move {
                budgets.acquire("t", "api", rate).await;
                (i, start.elapsed().as_millis())
            });
        }
        let mut times = waiting.join_all().await;
        times.sort();
        times.into_iter().map(|(_, ms)| ms).collect()
    }

    /// Checks that no run of requests went faster than the rate allows
    /// after one burst: requests `i..=j` need `(j - i + 1 - burst)`
    /// intervals between the first and the last.
    fn within_rate(times: &[u128], burst: u128, interval_ms: u128) {
        for i in 0..times.len() {
            for j in i..times.len() {
                let count = (j - i + 1) as u128;
                assert!(
                    count <= burst + (times[j] - times[i]) / interval_ms,
                    "requests {i}..={j} in {} ms: {times:?}",
                    times[j] - times[i]
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_requests_go_in_groups_within_the_rate() {
        let rate = Rate {
            requests: 2000,
            per: Duration::from_secs(60),
        };
        // 33 a second, one every 30 ms: a burst of 26 (33 less a group),
        // then groups of 8 every 240 ms, whoever waits.
        let times = let_through(Arc::new(Budgets::default()), rate, 60).await;
        let mut expected = vec![0; 26];
        for at in [240, 480, 720, 960] {
            expected.extend([at; 8]);
        }
        expected.extend([1200; 2]);
        assert_eq!(times, expected);
        within_rate(&times, 33, 30);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_budget_refills_its_burst_and_no_more() {
        let budgets = Arc::new(Budgets::default());
        let rate = Rate {
            requests: 10,
            per: Duration::from_secs(1),
        };
        // 10 a second: groups of 2 (250 ms holds 2 intervals of 100 ms),
        // after a burst of 9.
        let mut expected = vec![0; 9];
        expected.extend([200, 200, 400]);
        let first = let_through(budgets.clone(), rate, 12).await;
        assert_eq!(first, expected);
        within_rate(&first, 10, 100);
        // Idle for a minute: the burst is back, but only one burst.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let again = let_through(budgets, rate, 12).await;
        assert_eq!(again, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_slower_than_a_group_is_not_grouped() {
        // Graph's 100 per 5 minutes: one every 3 s, no burst to group in.
        let rate = Rate {
            requests: 100,
            per: Duration::from_secs(300),
        };
        let times = let_through(Arc::new(Budgets::default()), rate, 4).await;
        assert_eq!(times, vec![0, 3000, 6000, 9000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_given_up_while_waiting_never_speeds_the_pace_up() {
        let budgets = Arc::new(Budgets::default());
        let rate = Rate {
            requests: 1,
            per: Duration::from_secs(1),
        };
        let start = tokio::time::Instant::now();
        budgets.acquire("t", "api", rate).await;
        // The next slot is at 1 s; this request gives up at 0.5 s.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(500),
            budgets.acquire("t", "api", rate),
        )
        .await;
        assert!(gave_up.is_err());
        budgets.acquire("t", "api", rate).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn a_zero_rate_means_no_budget() {
        assert!(
            Rate {
                requests: 0,
                per: Duration::from_secs(60)
            }
            .pacer()
            .is_none()
        );
        assert!(
            Rate {
                requests: 5,
                per: Duration::ZERO
            }
            .pacer()
            .is_none()
        );
    }
}
