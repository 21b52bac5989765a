//! Every metric the host exports, in one list: its name, whether it adds up
//! or is a level, its unit and what it means. The workbook (infra/workbook)
//! and the example queries in docs/deploy.md read these names; a test runs
//! the packaged host and checks that every metric the workbook queries is
//! emitted with `tenant` and `source`, so the two cannot drift.

/// How a metric's values combine over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Adds up: `sum(value)` over a time bin is the total.
    Counter,
    /// A level at the time of the line: `max(value)` or the latest.
    Gauge,
}

/// When a metric's lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// At least once in every cycle that runs (zero included), for every
    /// tenant and source: a missing line means the cycle did not run.
    EveryCycle,
    /// Each time it happens, and only then.
    OnOccurrence,
}

/// One exported metric.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// The `metric` field of its log lines.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Every cycle or on occurrence.
    pub when: When,
    /// Unit of `value`.
    pub unit: &'static str,
    /// When it is emitted and what it means.
    pub help: &'static str,
}

const fn metric(name: &'static str, kind: Kind, unit: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind,
        when: When::EveryCycle,
        unit,
        help,
    }
}

const fn on_occurrence(metric: Metric) -> Metric {
    Metric {
        when: When::OnOccurrence,
        ..metric
    }
}

/// Events published by a cycle.
pub const EVENTS_PUBLISHED: &str = "events_published";
/// Work items a cycle completed, each handed to the sink as one batch.
pub const BATCHES: &str = "batches";
/// Now minus the checkpoint's high-water mark.
pub const LAG_SECONDS: &str = "lag_seconds";
/// Throttling answers a cycle received.
pub const THROTTLES: &str = "throttles";
/// Calls to the Microsoft APIs a cycle retried.
pub const RETRIES: &str = "retries";
/// Content a cycle found expired at the source.
pub const EXPIRED_ITEMS: &str = "expired_items";
/// Items a cycle set aside after failing too often.
pub const ITEMS_SET_ASIDE: &str = "items_set_aside";
/// Hours of data older than the source keeps, skipped by a cycle.
pub const UNRECOVERABLE_SPAN_HOURS: &str = "unrecoverable_span_hours";
/// Event kinds behind the window at the end of a cycle.
pub const KINDS_BEHIND: &str = "kinds_behind";
/// Whether the cycle finished everything it had to do.
pub const CYCLE_COMPLETE: &str = "cycle_complete";
/// How long a cycle took.
pub const CYCLE_DURATION_SECONDS: &str = "cycle_duration_seconds";
/// The component a cycle runs.
pub const COMPONENT_VERSION: &str = "component_version";
/// How long the Functions invocation that ran the cycle took.
pub const INVOCATION_DURATION_SECONDS: &str = "invocation_duration_seconds";
/// An Event Hubs batch sent again.
pub const SEND_RETRIES: &str = "send_retries";
/// An event published truncated.
pub const EVENTS_TRUNCATED: &str = "events_truncated";
/// A new component version went live (hot swap).
pub const COMPONENT_SWAPS: &str = "component_swaps";
/// A component version a registry pointer names was refused.
pub const COMPONENT_REFUSALS: &str = "component_refusals";

/// Every metric, with what it means. A component's own loss counters
/// (`lost-window-seconds`) are exported per cycle as `lost_window_seconds`
/// and so on, named after the counter; they are not listed here.
pub const METRICS: &[Metric] = &[
    metric(
        EVENTS_PUBLISHED,
        Kind::Counter,
        "events",
        "events the sink acknowledged in the cycle (after dropping ids already published)",
    ),
    metric(
        BATCHES,
        Kind::Counter,
        "batches",
        "work items the cycle completed; each one's events go to the sink as one batch",
    ),
    metric(
        LAG_SECONDS,
        Kind::Gauge,
        "seconds",
        "now minus the checkpoint's high-water mark: at the end of every cycle (a failed one \
         included, from the checkpoint as it stands) and each time the checkpoint advances; it \
         grows while cycles fail",
    ),
    metric(
        THROTTLES,
        Kind::Counter,
        "answers",
        "throttling answers (429, 403 AF429) from the Microsoft APIs in the cycle",
    ),
    metric(
        RETRIES,
        Kind::Counter,
        "calls",
        "calls to the Microsoft APIs the cycle retried",
    ),
    metric(
        EXPIRED_ITEMS,
        Kind::Counter,
        "items",
        "content that had expired at the source before the cycle could fetch it (data lost)",
    ),
    metric(
        ITEMS_SET_ASIDE,
        Kind::Counter,
        "items",
        "work items the cycle set aside after failing too often (data missing until retried)",
    ),
    metric(
        UNRECOVERABLE_SPAN_HOURS,
        Kind::Counter,
        "hours",
        "time older than the source keeps that the cycle had to skip (data lost)",
    ),
    metric(
        KINDS_BEHIND,
        Kind::Gauge,
        "kinds",
        "content types (event kinds) behind the window at the end of the cycle; the `kinds` \
         field lists them as kind:reason:seconds",
    ),
    metric(
        CYCLE_COMPLETE,
        Kind::Gauge,
        "0/1",
        "1 when the cycle published everything up to now minus the minimum age, 0 otherwise \
         (also when the cycle failed: then it and `lag_seconds` are the only lines)",
    ),
    metric(
        CYCLE_DURATION_SECONDS,
        Kind::Gauge,
        "seconds",
        "wall time of the cycle",
    ),
    metric(
        COMPONENT_VERSION,
        Kind::Gauge,
        "1",
        "at the start of each cycle (and on a hot swap): the component running it, in the \
         `component`, `version` and `sha256` fields",
    ),
    metric(
        INVOCATION_DURATION_SECONDS,
        Kind::Gauge,
        "seconds",
        "wall time of the Functions invocation that ran the tenant's cycle (`serve` only, \
         once per invocation)",
    ),
    on_occurrence(metric(
        SEND_RETRIES,
        Kind::Counter,
        "batches",
        "Event Hubs batches sent again after a failure, one line each",
    )),
    on_occurrence(metric(
        COMPONENT_SWAPS,
        Kind::Counter,
        "swaps",
        "a new component version went live for the tenant and source (hot swap), one line each; \
         `component` names it",
    )),
    on_occurrence(metric(
        COMPONENT_REFUSALS,
        Kind::Counter,
        "versions",
        "a version a registry pointer names was refused (the running one stays), one line each",
    )),
    on_occurrence(metric(
        EVENTS_TRUNCATED,
        Kind::Counter,
        "events",
        "events larger than one Event Hubs message, published truncated, one line each",
    )),
];

/// The catalog entry of `name`, if it is one.
pub fn find(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len(), "a metric is listed twice");
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name} is not snake_case"
            );
        }
        assert_eq!(find(LAG_SECONDS).map(|m| m.kind), Some(Kind::Gauge));
        assert!(find("lag").is_none());
    }
}
