//! The lines of an invocation's `Logs`: what an operator reading the
//! Functions invocation log needs (the cycle's outcome, what failed and why,
//! what lags, what was lost or set aside, where it stopped), not every trace
//! line, which goes to the process log.

use crate::pipeline::CycleReport;

/// At most this many item failures are listed; the count says the rest.
const MAX_FAILURES: usize = 10;

/// The log lines for one cycle.
pub fn report_lines(report: &CycleReport) -> Vec<String> {
    let who = format!("{} (tenant {})", report.source, report.tenant);
    if report.skipped_busy {
        return vec![format!(
            "{who}: skipped, another instance holds this tenant's lease for this source"
        )];
    }
    let s = &report.summary;
    let status = if report.complete {
        "complete"
    } else {
        "INCOMPLETE"
    };
    let mut lines = vec![format!(
        "{who}: {status}: {} events, {} of {} slices, {} items, {} duplicate items and {} duplicate events dropped, {} throttled, {} retries, {} expired, {:.1}s; checkpoint at {}",
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
    )];
    if let Some(reason) = &report.stopped {
        lines.push(format!("{who}: {reason}"));
    }
    if let Some((start, end)) = report.unrecoverable {
        lines.push(format!(
            "{who}: DATA LOSS: {} to {} is older than the source keeps and could not be fetched",
            iso(start),
            iso(end)
        ));
    }
    for (kind, lag) in &s.lagging {
        lines.push(format!(
            "{who}: {kind} is {} behind ({}); its window stays open until it catches up",
            crate::fmt::human_ms(lag.seconds.saturating_mul(1000)),
            lag.reason
        ));
    }
    for failure in s.failures.iter().take(MAX_FAILURES) {
        lines.push(format!("{who}: failed: {failure}"));
    }
    if s.failures.len() > MAX_FAILURES {
        lines.push(format!(
            "{who}: {} more failures (see the process log)",
            s.failures.len() - MAX_FAILURES
        ));
    }
    if s.set_aside > 0 || report.set_aside_total > 0 {
        lines.push(format!(
            "{who}: set aside: {} item(s) this cycle, {} waiting; `o365-host set-aside list` shows them and why",
            s.set_aside, report.set_aside_total
        ));
    }
    lines
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_cycle_names_the_reason_and_each_failure() {
        let mut report = CycleReport {
            source: "audit".into(),
            tenant: "t1".into(),
            stopped: Some("stopped before the function timeout of 10m".into()),
            high_water_mark: 1_795_593_600_000,
            ..CycleReport::default()
        };
        report.summary.failures = (0..12).map(|i| format!("cause {i}")).collect();
        let lines = report_lines(&report);
        assert!(
            lines[0].starts_with("audit (tenant t1): INCOMPLETE: 0 events"),
            "{lines:?}"
        );
        assert!(
            lines[0].ends_with("checkpoint at 2026-11-25T08:00:00Z"),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            "audit (tenant t1): stopped before the function timeout of 10m"
        );
        assert_eq!(lines[2], "audit (tenant t1): failed: cause 0");
        assert_eq!(
            lines.last().unwrap(),
            "audit (tenant t1): 2 more failures (see the process log)"
        );
        assert_eq!(lines.len(), 2 + MAX_FAILURES + 1);
    }

    #[test]
    fn a_busy_lease_is_one_line() {
        let report = CycleReport {
            source: "message-trace".into(),
            tenant: "t1".into(),
            skipped_busy: true,
            ..CycleReport::default()
        };
        assert_eq!(report_lines(&report).len(), 1);
    }
}
