//! `plan`: turns a window into listings, one per enabled content type, and
//! keeps each content type's own progress.
//!
//! Per content type:
//! - enabled (or found already enabled when started): listed from where it
//!   stood, which is the window start unless it had fallen behind
//!   ([`crate::marks`]), less the listing overlap, in pieces of at most 24
//!   hours;
//! - not enabled: its subscription is started (at most once per 15 minutes,
//!   the time of the last attempt kept in the connector state) and it is
//!   marked behind from the window start, so that a later `plan` lists what
//!   the others were carried past;
//! - newly started by this connector: listed every cycle, but kept behind
//!   until the warm-up has passed, because a new subscription's listings
//!   stay empty for up to 12 hours.
//!
//! A type that is behind is reported with a `lagging:<type>:<reason>`
//! counter ([`crate::marks::lag_counter`]). A span that ages past the 7-day
//! limit before it could be listed is counted as `lost-window-seconds`.

use connector_sdk::counters::Counters;
use connector_sdk::{
    Context, Counter, FetchError, PlanOutput, PlanRequest, TimeWindow, WorkItem, time,
};

use crate::api::{Api, Level};
use crate::content_type::ContentType;
use crate::counters;
use crate::marks::{self, Mark, Reason};
use crate::settings::Config;
use crate::span::{self, check_window};
use crate::state::State;
use crate::subscriptions::{self, Started};

/// What `plan` builds up.
struct Planned {
    state: State,
    items: Vec<WorkItem>,
    counters: Counters,
    lags: Vec<Counter>,
}

/// Plans `request.window`: checks it, reads the subscriptions, starts the
/// missing ones (15-minute rule), lists every type that can be listed from
/// where it stood, and marks the others behind.
pub fn plan(
    api: &mut impl Api,
    ctx: &Context,
    config: &Config,
    request: &PlanRequest,
) -> Result<PlanOutput, FetchError> {
    let window = request.window;
    check_window(&window, ctx.now)?;
    // The very first plan (no connector state yet) has no earlier listing
    // whose late blobs it could catch: it starts exactly at its window.
    let overlap_ms = if request.state.is_some() {
        config.overlap_ms
    } else {
        0
    };
    let mut planned = Planned {
        state: State::read(api, request.state.as_deref()),
        items: Vec::new(),
        counters: Counters::default(),
        lags: Vec::new(),
    };
    planned.state.keep_marks_of(api, &config.content_types);
    if span::too_small(window.start.saturating_sub(overlap_ms), window.end) {
        // Nothing the API could be asked for: no request at all. Types
        // that are behind stay so, and say so.
        for (name, mark) in &planned.state.behind {
            if let Some(content_type) = ContentType::parse(name) {
                planned
                    .lags
                    .push(marks::lag_counter(content_type, mark, window.end));
            }
        }
        return Ok(PlanOutput {
            items: Vec::new(),
            state: None,
            counters: planned.lags,
        });
    }
    let subscriptions = subscriptions::list(api, config, &ctx.tenant)?;
    for &content_type in &config.content_types {
        let subscribed = if subscriptions.enabled.contains(&content_type) {
            Subscribed::Listable
        } else {
            let disabled = subscriptions.disabled.contains(&content_type);
            subscribe(api, ctx, config, &mut planned, content_type, disabled)?
        };
        let (reason, started_at) = match subscribed {
            Subscribed::Listable => {
                list_type(
                    api,
                    ctx,
                    config,
                    &mut planned,
                    content_type,
                    window,
                    overlap_ms,
                );
                continue;
            }
            Subscribed::Waiting(reason) => (reason, None),
            Subscribed::StartedNow => (Reason::SubscriptionStarting, Some(ctx.now)),
        };
        let name = content_type.as_str();
        let mut mark = Mark::fall_behind(planned.state.behind.get(name), window.start, reason);
        mark.started_at = started_at.or(mark.started_at);
        planned
            .lags
            .push(marks::lag_counter(content_type, &mark, window.end));
        planned.state.behind.insert(name.to_string(), mark);
    }
    planned.state.forget_stale(ctx.now);
    let mut counters = planned.counters.into_vec();
    counters.extend(planned.lags);
    Ok(PlanOutput {
        items: planned.items,
        state: Some(planned.state.to_json()),
        counters,
    })
}

/// What became of a type without an enabled subscription.
enum Subscribed {
    /// It was enabled after all (`AF20024`: the list was stale): list it.
    Listable,
    /// It cannot be listed yet, for this reason.
    Waiting(Reason),
    /// Its subscription was started just now.
    StartedNow,
}

/// For a type without an enabled subscription: starts it unless a start
/// was tried less than 15 minutes ago. Throttling, passing failures and a
/// refused token fail the plan (the host retries it); a start refused for
/// this type only leaves the type behind, not the others.
fn subscribe(
    api: &mut impl Api,
    ctx: &Context,
    config: &Config,
    planned: &mut Planned,
    content_type: ContentType,
    disabled: bool,
) -> Result<Subscribed, FetchError> {
    planned.counters.add(counters::SUBSCRIPTIONS_PENDING, 1);
    let name = content_type.as_str();
    let state = &mut planned.state;
    let waiting = if disabled {
        Reason::SubscriptionDisabled
    } else {
        state
            .behind
            .get(name)
            .map_or(Reason::SubscriptionPending, |m| m.reason)
    };
    if let Some(at) = state.recently_started(name, ctx.now) {
        let since = time::from_millis(at).map(time::rfc3339).unwrap_or_default();
        api.log(
            Level::Info,
            &format!("{name} has no enabled subscription; last start attempt {since}, less than 15 minutes ago: waiting"),
        );
        return Ok(Subscribed::Waiting(waiting));
    }
    state.starts.insert(name.to_string(), ctx.now);
    match subscriptions::start(api, config, &ctx.tenant, content_type) {
        Ok(Started::Already) => Ok(Subscribed::Listable),
        Ok(Started::Now) => {
            planned.counters.add(counters::SUBSCRIPTIONS_STARTED, 1);
            Ok(Subscribed::StartedNow)
        }
        Err(
            e @ (FetchError::Throttled(_) | FetchError::Transient(_) | FetchError::Unauthorized(_)),
        ) => Err(e),
        Err(e) => {
            let reason = if matches!(e, FetchError::Forbidden(_)) {
                Reason::Forbidden
            } else {
                Reason::StartRefused
            };
            api.log(
                Level::Warn,
                &format!("{name} stays behind until its subscription can be started: {e:?}"),
            );
            Ok(Subscribed::Waiting(reason))
        }
    }
}

/// Lists `content_type` for `window`, from where it stood less
/// `overlap_ms`, and clears its mark unless a warm-up still runs.
fn list_type(
    api: &mut impl Api,
    ctx: &Context,
    config: &Config,
    planned: &mut Planned,
    content_type: ContentType,
    window: TimeWindow,
    overlap_ms: i64,
) {
    let name = content_type.as_str();
    let mark = planned.state.behind.get(name).cloned();
    let from = mark
        .as_ref()
        .map_or(window.start, |m| m.since.min(window.start));
    let oldest = span::oldest_listable(ctx.now);
    if from < oldest {
        let lost = oldest.min(window.end) - from;
        planned
            .counters
            .add(counters::LOST_WINDOW_SECONDS, (lost as u64).div_ceil(1000));
        api.log(
            Level::Warn,
            &format!(
                "{name} fell behind {} and the API keeps content for 7 days: the {} seconds before {} can no longer be listed",
                show(from),
                (lost as u64).div_ceil(1000),
                show(oldest)
            ),
        );
    }
    let list_from = from.saturating_sub(overlap_ms).max(oldest);
    planned.items.extend(
        span::listings(content_type, list_from, window.end)
            .iter()
            .map(|l| l.item()),
    );
    let Some(mark) = mark else {
        return;
    };
    if mark.warming_up(ctx.now, config.warmup_ms) {
        let kept = Mark {
            since: from.max(oldest),
            reason: Reason::SubscriptionStarting,
            started_at: mark.started_at,
        };
        planned
            .lags
            .push(marks::lag_counter(content_type, &kept, window.end));
        planned.state.behind.insert(name.to_string(), kept);
    } else {
        api.log(
            Level::Info,
            &format!(
                "{name} was behind since {} ({}); listing it from there",
                show(from),
                mark.reason.as_str()
            ),
        );
        planned.state.behind.remove(name);
    }
}

fn show(ms: i64) -> String {
    time::from_millis(ms)
        .map(time::rfc3339)
        .unwrap_or_else(|| format!("{ms} ms"))
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
