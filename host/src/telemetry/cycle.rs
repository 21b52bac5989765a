//! The metric lines of a cycle: which component it runs (at its start) and
//! what it did (at its end, from its report), and how long the Functions
//! invocation that ran it took.
//!
//! Every per-cycle metric is emitted at the end of every cycle that ran,
//! zero or not, so a chart shows a zero rather than a gap, and a gap means
//! the cycle did not run. A cycle that failed emits `cycle_complete` 0 and
//! its lag, not totals it never reached. A cycle skipped because another instance holds
//! the lease emits nothing: that instance reports it.

use super::catalog::{
    BATCHES, COMPONENT_VERSION, CYCLE_COMPLETE, CYCLE_DURATION_SECONDS, EVENTS_PUBLISHED,
    EXPIRED_ITEMS, INVOCATION_DURATION_SECONDS, ITEMS_SET_ASIDE, KINDS_BEHIND, LAG_SECONDS,
    RETRIES, THROTTLES, UNRECOVERABLE_SPAN_HOURS,
};
use crate::pipeline::CycleReport;
use crate::pipeline::LOSS_COUNTER;

/// One metric line with the two dimensions every line has.
fn emit(metric: &str, source: &str, tenant: &str, value: f64) {
    tracing::info!(
        target: "o365_host::metrics",
        metric,
        value,
        source,
        tenant,
        "{metric} = {value}"
    );
}

/// The component that runs `source` for `tenant`: emitted when a cycle
/// starts and when a hot swap replaces it, so the latest line says what is
/// live. `sha256` is the `.wasm` file's digest (hex).
pub fn component_version(source: &str, tenant: &str, component: &str, version: &str, sha256: &str) {
    tracing::info!(
        target: "o365_host::metrics",
        metric = COMPONENT_VERSION,
        value = 1.0,
        source,
        tenant,
        component,
        version,
        sha256,
        "{COMPONENT_VERSION}: {component} {version} ({sha256})"
    );
}

/// What the cycle in `report` did, measured at `now_ms` (for the lag).
pub fn finished(report: &CycleReport, now_ms: i64) {
    if report.skipped_busy {
        return;
    }
    let (source, tenant) = (report.source.as_str(), report.tenant.as_str());
    let s = &report.summary;
    let lag = (now_ms - report.high_water_mark).max(0) as f64 / 1000.0;
    let unrecoverable = report.unrecoverable.map_or(0.0, |(start, end)| {
        (end - start).max(0) as f64 / 3_600_000.0
    });
    for (metric, value) in [
        (EVENTS_PUBLISHED, s.events as f64),
        (BATCHES, s.items as f64),
        (LAG_SECONDS, lag),
        (THROTTLES, s.throttled as f64),
        (RETRIES, s.retries as f64),
        (EXPIRED_ITEMS, s.expired as f64),
        (ITEMS_SET_ASIDE, s.set_aside as f64),
        (UNRECOVERABLE_SPAN_HOURS, unrecoverable),
        (CYCLE_COMPLETE, if report.complete { 1.0 } else { 0.0 }),
        (CYCLE_DURATION_SECONDS, report.seconds),
    ] {
        emit(metric, source, tenant, value);
    }
    let kinds: Vec<String> = s
        .lagging
        .iter()
        .map(|(kind, lag)| format!("{kind}:{}:{}", lag.reason, lag.seconds))
        .collect();
    tracing::info!(
        target: "o365_host::metrics",
        metric = KINDS_BEHIND,
        value = kinds.len() as f64,
        source,
        tenant,
        kinds = %kinds.join(","),
        "{KINDS_BEHIND} = {}",
        kinds.len()
    );
    for (counter, value) in &s.counters {
        if counter.starts_with(LOSS_COUNTER) {
            emit(&counter.replace('-', "_"), source, tenant, *value as f64);
        }
    }
}

/// The cycle of `source` for `tenant` failed (its error is logged by the
/// caller): it counts as incomplete, and the lag is measured from the
/// checkpoint as it stands (`high_water_mark`, when it could be read), so
/// a lag chart keeps rising while cycles fail rather than going blank.
pub fn failed(source: &str, tenant: &str, high_water_mark: Option<i64>) {
    emit(CYCLE_COMPLETE, source, tenant, 0.0);
    if let Some(mark) = high_water_mark {
        let now = chrono::Utc::now().timestamp_millis();
        emit(
            LAG_SECONDS,
            source,
            tenant,
            (now - mark).max(0) as f64 / 1000.0,
        );
    }
}

/// A Functions invocation of `source` ran the cycles of `tenants` in
/// `seconds`: one line per tenant, so the duration filters like every
/// other metric.
pub fn invocation_finished(source: &str, tenants: &[String], seconds: f64) {
    for tenant in tenants {
        emit(INVOCATION_DURATION_SECONDS, source, tenant, seconds);
    }
}
