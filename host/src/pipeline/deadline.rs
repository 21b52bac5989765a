//! When a run must stop: an invocation under a platform timeout (an Azure
//! Functions `functionTimeout`) has to answer before the platform kills it,
//! or the work since the last checkpoint is lost and the invocation fails
//! without a word.
//!
//! Two instants, both before the timeout:
//! - **stop new work**: no new slice is planned and no new work item is
//!   started; items already running may finish and are checkpointed as
//!   usual;
//! - **abandon running work**: items still running are dropped. An item's
//!   events reach the sink only once the item finished, so a dropped item
//!   published nothing and stays outstanding in the checkpoint: the next run
//!   does it again. The checkpoint therefore never moves past anything that
//!   was not acknowledged.
//!
//! What is left after the second instant is for the final flush, the
//! checkpoint write and the answer.

use std::time::{Duration, Instant};

/// The instants at which a run stops taking work and abandons what runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// From here on no slice is planned and no work item started.
    pub stop_new_work: Instant,
    /// From here on running work items are dropped (they stay outstanding).
    pub abandon_running: Instant,
    /// The timeout this deadline keeps clear of (for messages).
    pub timeout: Duration,
}

/// The most a run keeps in reserve before a timeout, however long it is.
const MAX_MARGIN: Duration = Duration::from_secs(5 * 60);

impl Deadline {
    /// The deadline of a run that started at `started` under `timeout`: new
    /// work stops a quarter of the timeout (at most 5 minutes) before it,
    /// running work is abandoned a third of that margin before it.
    ///
    /// A 10-minute timeout stops new work after 7 min 30 s and abandons
    /// running work after 9 min 10 s; a 30-minute one after 25 and 28 min 20 s.
    pub fn before_timeout(started: Instant, timeout: Duration) -> Self {
        let margin = (timeout / 4).min(MAX_MARGIN);
        // A timeout beyond what an Instant can hold is as good as none.
        let at = |after: Duration| {
            started
                .checked_add(after)
                .unwrap_or_else(|| started + Duration::from_secs(365 * 86_400))
        };
        Self {
            stop_new_work: at(timeout - margin),
            abandon_running: at(timeout - margin / 3),
            timeout,
        }
    }

    /// Whether new work may no longer start.
    pub fn stops_new_work(&self) -> bool {
        Instant::now() >= self.stop_new_work
    }

    /// Whether running work must be dropped now.
    pub fn abandons_running(&self) -> bool {
        Instant::now() >= self.abandon_running
    }

    /// Why a run stopped here, for reports and logs.
    pub fn reason(&self) -> String {
        format!(
            "stopped before the function timeout of {}: the checkpoint keeps everything acknowledged \
             and the next invocation continues from it",
            crate::fmt::human_ms(self.timeout.as_millis() as u64)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_a_quarter_of_the_timeout_and_at_most_five_minutes() {
        let t0 = Instant::now();
        let ten = Deadline::before_timeout(t0, Duration::from_secs(600));
        assert_eq!(ten.stop_new_work - t0, Duration::from_secs(450));
        assert_eq!(ten.abandon_running - t0, Duration::from_secs(550));
        let thirty = Deadline::before_timeout(t0, Duration::from_secs(1800));
        assert_eq!(thirty.stop_new_work - t0, Duration::from_secs(1500));
        assert_eq!(thirty.abandon_running - t0, Duration::from_secs(1700));
        let eight = Deadline::before_timeout(t0, Duration::from_secs(8));
        assert_eq!(eight.stop_new_work - t0, Duration::from_secs(6));
        assert!(eight.abandon_running - t0 > Duration::from_secs(7));
        assert!(eight.abandon_running - t0 < Duration::from_secs(8));
    }

    #[test]
    fn an_enormous_timeout_does_not_overflow() {
        let d = Deadline::before_timeout(Instant::now(), Duration::from_secs(u64::MAX / 2));
        assert!(!d.stops_new_work());
        assert!(!d.abandons_running());
    }

    #[test]
    fn a_past_deadline_stops_and_abandons() {
        let d = Deadline::before_timeout(
            Instant::now() - Duration::from_secs(60),
            Duration::from_secs(10),
        );
        assert!(d.stops_new_work());
        assert!(d.abandons_running());
        let d = Deadline::before_timeout(Instant::now(), Duration::from_secs(600));
        assert!(!d.stops_new_work());
        assert!(d.reason().contains("10m"), "{}", d.reason());
    }
}
