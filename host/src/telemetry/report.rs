//! A cycle's report in words, for people: one headline (the outcome and the
//! counts), then one line for each thing an operator has to know or act on
//! (where it stopped and why, data lost, a swap, what lags, what failed, what
//! was set aside).
//!
//! One renderer for both places a person reads it, so that neither misses
//! a line the other has: the command line prints it to stderr
//! (`once`, `demo`), the Functions handler returns it as the invocation's
//! `Logs` (`crate::functions::logs`), where each line carries its source and
//! tenant because lines of several cycles interleave there.

use crate::pipeline::CycleReport;

/// At most this many item failures are listed; a last line counts the rest.
pub const MAX_FAILURES: usize = 10;

/// A cycle's report in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportText {
    /// `complete: 1200 events (300/s), 2 of 2 slices, ...; checkpoint at
    /// <time>; <component>`, or that the cycle was skipped.
    pub headline: String,
    /// What else the operator needs, one line each; empty for a plain
    /// complete cycle.
    pub details: Vec<String>,
}

/// The report of `report` in words.
pub fn describe(report: &CycleReport) -> ReportText {
    if report.skipped_busy {
        return ReportText {
            headline: "skipped, another instance holds this tenant's lease for this source".into(),
            details: Vec::new(),
        };
    }
    let s = &report.summary;
    let status = if report.complete {
        "complete"
    } else {
        "INCOMPLETE"
    };
    let rate = s.events as f64 / report.seconds.max(1e-9);
    let mut headline = format!(
        "{status}: {} events ({rate:.0}/s), {} of {} slices, {} items, {} duplicate items and {} duplicate events dropped, {} throttled, {} retries, {} expired, {:.1}s; checkpoint at {}",
        s.events,
        report.slices_done,
        report.slices_total,
        s.items,
        s.duplicate_items,
        s.duplicate_events,
        s.throttled,
        s.retries,
        s.expired,
        report.seconds,
        iso(report.high_water_mark),
    );
    if !report.component.is_empty() {
        headline.push_str("; ");
        headline.push_str(&report.component);
    }

    let mut details = Vec::new();
    if let Some(reason) = &report.stopped {
        details.push(reason.clone());
    }
    if let Some((start, end)) = report.unrecoverable {
        details.push(format!(
            "DATA LOSS: {} to {} is older than the source keeps and could not be fetched",
            iso(start),
            iso(end)
        ));
    }
    if report.swaps > 0 {
        details.push(format!(
            "component: swapped {} time(s) during the cycle; the last slices ran {}",
            report.swaps, report.component
        ));
    }
    if !s.counters.is_empty() {
        let counters: Vec<String> = s.counters.iter().map(|(k, v)| format!("{k} {v}")).collect();
        details.push(format!("counters: {}", counters.join(", ")));
    }
    for (kind, lag) in &s.lagging {
        details.push(format!(
            "behind: {kind} is {} behind ({}); its window stays open until it catches up",
            crate::fmt::human_ms(lag.seconds.saturating_mul(1000)),
            lag.reason
        ));
    }
    for failure in s.failures.iter().take(MAX_FAILURES) {
        details.push(format!("failed: {failure}"));
    }
    if s.failures.len() > MAX_FAILURES {
        details.push(format!(
            "{} more failures (see the process log)",
            s.failures.len() - MAX_FAILURES
        ));
    }
    if s.set_aside > 0 || report.set_aside_total > 0 {
        details.push(format!(
            "set aside: {} item(s) this cycle, {} waiting; `o365-host set-aside list` shows them and why",
            s.set_aside, report.set_aside_total
        ));
    }
    ReportText { headline, details }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Lag;

    #[test]
    fn a_plain_complete_cycle_is_one_line_with_the_counts_and_the_component() {
        let mut report = CycleReport {
            source: "audit".into(),
            tenant: "t1".into(),
            component: "audit 0.4.0 (sha256:0123abcd)".into(),
            complete: true,
            slices_done: 2,
            slices_total: 2,
            high_water_mark: 1_795_593_600_000,
            seconds: 2.0,
            ..CycleReport::default()
        };
        report.summary.events = 1200;
        let text = describe(&report);
        assert_eq!(
            text.headline,
            "complete: 1200 events (600/s), 2 of 2 slices, 0 items, 0 duplicate items and 0 duplicate events dropped, 0 throttled, 0 retries, 0 expired, 2.0s; checkpoint at 2026-11-25T08:00:00Z; audit 0.4.0 (sha256:0123abcd)"
        );
        assert!(text.details.is_empty(), "{:?}", text.details);
    }

    #[test]
    fn every_thing_to_act_on_has_its_line_in_order() {
        let mut report = CycleReport {
            source: "audit".into(),
            tenant: "t1".into(),
            component: "audit 0.4.1 (sha256:4567)".into(),
            swaps: 1,
            stopped: Some("stopped before the function timeout of 10m".into()),
            unrecoverable: Some((1_795_000_000_000, 1_795_003_600_000)),
            set_aside_total: 3,
            ..CycleReport::default()
        };
        report.summary.counters.insert("blobs".into(), 7);
        report.summary.lagging.insert(
            "DLP.All".into(),
            Lag {
                seconds: 7200,
                reason: "subscription-pending".into(),
            },
        );
        report.summary.failures = (0..12).map(|i| format!("cause {i}")).collect();
        report.summary.set_aside = 1;
        let text = describe(&report);
        assert!(text.headline.starts_with("INCOMPLETE: 0 events"));
        let d = &text.details;
        assert_eq!(d[0], "stopped before the function timeout of 10m");
        assert!(
            d[1].starts_with("DATA LOSS: 2026-11-18T") && d[1].contains("could not be fetched"),
            "{d:?}"
        );
        assert_eq!(
            d[2],
            "component: swapped 1 time(s) during the cycle; the last slices ran audit 0.4.1 (sha256:4567)"
        );
        assert_eq!(d[3], "counters: blobs 7");
        assert!(
            d[4].starts_with("behind: DLP.All is 2h") && d[4].contains("subscription-pending"),
            "{d:?}"
        );
        assert_eq!(d[5], "failed: cause 0");
        assert_eq!(d[5 + MAX_FAILURES], "2 more failures (see the process log)");
        assert!(
            d.last()
                .unwrap()
                .starts_with("set aside: 1 item(s) this cycle, 3 waiting"),
            "{d:?}"
        );
        assert_eq!(d.len(), 5 + MAX_FAILURES + 2);
    }

    #[test]
    fn a_busy_lease_is_a_headline_alone() {
        let report = CycleReport {
            skipped_busy: true,
            ..CycleReport::default()
        };
        let text = describe(&report);
        assert!(text.headline.starts_with("skipped"));
        assert!(text.details.is_empty());
    }
}
