//! Typed operational events and the metrics exported with them.
//!
//! Two kinds of log line, so that no quantity is counted twice:
//! - an *event* (`event` field) says what happened when it happened, for
//!   people: a span lost, an item set aside, a kind behind;
//! - a *metric* line (`metric`, `value`, `source`, `tenant` fields) is what
//!   Application Insights charts. Each metric has one definition in
//!   [`catalog::METRICS`] and one place that emits it ([`cycle`] for the
//!   per-cycle ones; the sink and the registry follower, through the
//!   functions below, for the per-occurrence ones).
//!
//! Metrics also stay in-process ([`snapshot`]) for the demo's progress line
//! and tests. Why log lines rather than OpenTelemetry: docs/deploy.md,
//! "Observability".

pub mod catalog;
pub mod cycle;
pub mod process;
pub mod report;

use chrono::{TimeZone, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;

static METRICS: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());

fn add(name: &str, labels: &[(&str, &str)], value: f64, replace: bool) {
    let mut key = name.to_string();
    for (k, v) in labels {
        key.push_str(&format!(",{k}={v}"));
    }
    if let Ok(mut metrics) = METRICS.lock() {
        let entry = metrics.entry(key).or_default();
        if replace {
            *entry = value;
        } else {
            *entry += value;
        }
    }
}

/// All metrics so far: `name,label=value,...` to value.
pub fn snapshot() -> BTreeMap<String, f64> {
    METRICS.lock().map(|m| m.clone()).unwrap_or_default()
}

fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A span older than the source keeps: its data can never be fetched.
pub fn unrecoverable_span(source: &str, tenant: &str, start_ms: i64, end_ms: i64) {
    let hours = (end_ms - start_ms) as f64 / 3_600_000.0;
    add(
        "unrecoverable_span_hours",
        &[("source", source), ("tenant", tenant)],
        hours,
        false,
    );
    tracing::error!(
        source,
        tenant,
        event = "unrecoverable_span",
        hours,
        "DATA LOSS: {} to {} ({hours:.1} h) is older than the source keeps and cannot be fetched; \
         resuming at the oldest recoverable point. Cause: the checkpoint was not advanced for longer \
         than the source's retention (host stopped, or failing every cycle).",
        iso(start_ms),
        iso(end_ms)
    );
}

/// The checkpoint moved past a published slice.
pub fn checkpoint_advanced(source: &str, tenant: &str, high_water_mark: i64, now_ms: i64) {
    let lag = (now_ms - high_water_mark).max(0) as f64 / 1000.0;
    add(
        "lag_seconds",
        &[("source", source), ("tenant", tenant)],
        lag,
        true,
    );
    tracing::info!(
        source,
        tenant,
        metric = catalog::LAG_SECONDS,
        value = lag,
        "checkpoint advanced to {}",
        iso(high_water_mark)
    );
}

/// Events acknowledged by the sink, counted in-process as they go (the
/// demo's progress line); the exported metric is the cycle's total
/// ([`cycle::finished`]).
pub fn events_published(source: &str, tenant: &str, count: u64) {
    add(
        "events_published",
        &[("source", source), ("tenant", tenant)],
        count as f64,
        false,
    );
}

/// An item failed too often and was set aside: the window moved on without
/// it. Its data is missing until an operator retries it.
pub fn item_set_aside(source: &str, tenant: &str, key: &str, attempts: u32, cause: &str) {
    add(
        "items_lost",
        &[
            ("source", source),
            ("tenant", tenant),
            ("reason", "set-aside"),
        ],
        1.0,
        false,
    );
    tracing::error!(
        source,
        tenant,
        key,
        attempts,
        event = "item_set_aside",
        "DATA MISSING: work item {key} failed in {attempts} attempts and was set aside so the rest \
         can go on: {cause}. Fix the cause, then run `o365-host set-aside retry --sources {source}`."
    );
}

/// An item can never be fetched (its content expired at the source).
pub fn item_lost(source: &str, tenant: &str, reason: &str, key: &str) {
    add(
        "items_lost",
        &[("source", source), ("tenant", tenant), ("reason", reason)],
        1.0,
        false,
    );
    tracing::error!(
        source,
        tenant,
        key,
        event = "item_lost",
        reason,
        "DATA LOSS: work item {key} can no longer be fetched ({reason})"
    );
}

/// An event kind lags behind the window (a subscription still starting, a
/// permission missing): its events for the span are not yet published.
pub fn kind_behind(source: &str, tenant: &str, kind: &str, reason: &str, seconds: u64) {
    add(
        "kind_behind_seconds",
        &[("source", source), ("tenant", tenant), ("kind", kind)],
        seconds as f64,
        true,
    );
    tracing::warn!(
        source,
        tenant,
        kind,
        reason,
        event = "kind_behind",
        seconds,
        "{kind} is {} behind ({reason}); its window stays open until it catches up",
        crate::fmt::human_ms(seconds.saturating_mul(1000))
    );
}

/// A component counted data it could never fetch (a `lost-*` counter, such
/// as `lost-window-seconds` for a listing that aged past retention).
pub fn loss_reported(source: &str, tenant: &str, counter: &str, value: u64) {
    let metric = counter.replace('-', "_");
    add(
        &metric,
        &[("source", source), ("tenant", tenant)],
        value as f64,
        false,
    );
    tracing::error!(
        source,
        tenant,
        event = "loss_reported",
        counter,
        value,
        "DATA LOSS reported by the component: {counter} = {value}"
    );
}

/// An Event Hubs batch failed and is sent again (after a pause, on a fresh
/// connection).
pub fn send_retried(source: &str, tenant: &str, hub: &str, attempt: u32, error: &anyhow::Error) {
    add(
        "send_retries",
        &[("source", source), ("tenant", tenant)],
        1.0,
        false,
    );
    tracing::warn!(
        source,
        tenant,
        hub,
        attempt,
        metric = catalog::SEND_RETRIES,
        value = 1,
        "sending a batch to Event Hubs failed, retrying: {error:#}"
    );
}

/// An event larger than one Event Hubs message was published truncated
/// (its envelope kept, its record cut, marked `truncated`).
pub fn event_truncated(source: &str, tenant: &str, id: &str, original: usize, published: usize) {
    add(
        "events_truncated",
        &[("source", source), ("tenant", tenant)],
        1.0,
        false,
    );
    tracing::warn!(
        source,
        tenant,
        id,
        original_bytes = original,
        published_bytes = published,
        metric = catalog::EVENTS_TRUNCATED,
        value = 1,
        "event {id} ({original} bytes) is larger than one Event Hubs message: published truncated \
         to {published} bytes with `truncated` (original size and SHA-256)"
    );
}

/// A new component version is live for a tenant and source.
pub fn component_swapped(source: &str, tenant: &str, from: &str, to: &str, pointer: &str) {
    add(
        "component_swaps",
        &[("source", source), ("tenant", tenant)],
        1.0,
        false,
    );
    tracing::info!(
        source,
        tenant,
        metric = catalog::COMPONENT_SWAPS,
        value = 1,
        component = to,
        "component swapped: {to} is live (was {from}), following {pointer}"
    );
}

/// A component version a pointer names was refused; the old one keeps
/// running.
pub fn component_refused(source: &str, tenant: &str, wanted: &str, running: &str, why: &str) {
    add(
        "component_refusals",
        &[("source", source), ("tenant", tenant)],
        1.0,
        false,
    );
    tracing::error!(
        source,
        tenant,
        metric = catalog::COMPONENT_REFUSALS,
        value = 1,
        "component {wanted} refused, {running} keeps running: {why}"
    );
}
