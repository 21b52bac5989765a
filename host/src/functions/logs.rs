//! The lines of an invocation's `Logs`: what an operator reading the
//! Functions invocation log needs (the cycle's outcome, what failed and why,
//! what lags, what was lost or set aside, where it stopped), not every trace
//! line, which goes to the process log.

use crate::pipeline::CycleReport;
use crate::telemetry::report::describe;

/// The log lines for one cycle, each naming its source and tenant: the
/// lines of cycles that run at once interleave in one invocation's `Logs`.
pub fn report_lines(report: &CycleReport) -> Vec<String> {
    let who = format!("{} (tenant {})", report.source, report.tenant);
    let text = describe(report);
    std::iter::once(text.headline)
        .chain(text.details)
        .map(|line| format!("{who}: {line}"))
        .collect()
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
        assert_eq!(lines.len(), 2 + crate::telemetry::report::MAX_FAILURES + 1);
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
