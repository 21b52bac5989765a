//! Running one cycle request: the cycle of its tenant and source, and what
//! becomes of the message, decided here once for the Functions queue
//! trigger and for `o365-host worker`:
//!
//! - done (complete, lagging behind a source's own delay, or another
//!   instance holds the lease and runs it): the message is deleted and the
//!   pending marker released;
//! - stopped at its deadline with more to do: a fresh request continues it
//!   (the marker stays), and the message is deleted;
//! - failed, with attempts left: the message stays and reappears later;
//! - failed for the last time: a poison record with the cause and the fix
//!   goes to the poison queue, an error line says so, the marker holds the
//!   tenant back for an hour, and the message is deleted. Other tenants'
//!   requests never wait for it.

use super::ScaleOut;
use super::diagnosis::fix_for;
use super::message::{CycleRequest, PoisonRecord};
use crate::cli::Deployment;
use crate::pipeline::{CycleReport, Deadline};

/// What became of a request.
#[derive(Debug)]
pub enum Outcome {
    /// Done: delete the message.
    Done,
    /// A fresh request continues it: delete the message.
    Continued,
    /// Failed; try again later (keep the message).
    Retry {
        /// What failed.
        cause: String,
    },
    /// Failed for the last time and moved to the poison queue: delete the
    /// message.
    Poisoned(Box<PoisonRecord>),
}

impl Outcome {
    /// Whether the message is finished with.
    pub fn delete_message(&self) -> bool {
        !matches!(self, Outcome::Retry { .. })
    }
}

/// A request's outcome and the lines that report it.
#[derive(Debug)]
pub struct Handled {
    /// What became of it.
    pub outcome: Outcome,
    /// The cycle's report lines and what was decided, for logs.
    pub lines: Vec<String>,
    /// The cycle's report, when it ran.
    pub report: Option<CycleReport>,
}

/// Runs `request` (its message's `attempts`-th delivery) as one cycle
/// stopping at `deadline`, and settles the marker and the poison queue.
pub async fn run_request(
    deployment: &Deployment,
    scale: &ScaleOut,
    request: Result<CycleRequest, String>,
    attempts: u32,
    deadline: Option<Deadline>,
) -> Handled {
    let request = match request {
        Ok(request) => request,
        Err(cause) => {
            // Not a request of this host: nothing to retry.
            let placeholder = CycleRequest {
                tenant: "?".into(),
                key: None,
                source: "?".into(),
                planned: String::new(),
            };
            let fix = "delete the message: only o365-host puts messages on this queue".to_string();
            return poison(scale, placeholder, attempts, cause, fix, Vec::new()).await;
        }
    };
    let label = request.label();
    let Some(scheduled) = deployment.sources.iter().find(|s| {
        s.source.name() == request.source && s.tenant.id.eq_ignore_ascii_case(&request.tenant)
    }) else {
        let cause = format!(
            "tenant {} with source {} is not configured on this instance",
            request.tenant, request.source
        );
        let fix = "every instance needs the same O365_TENANTS and O365_SOURCES: fix the settings of this instance, or remove the tenant's poison message".to_string();
        return failed(scale, request, attempts, cause, fix, Vec::new(), None).await;
    };
    let result = deployment.cycle_until(scheduled, deadline).await;
    let (report, cause) = match result {
        Err(e) => (None, Some(format!("{e:#}"))),
        Ok(report) => {
            let failures = &report.summary.failures;
            let cause = (!report.skipped_busy
                && report.stopped.is_none()
                && !report.complete
                && !failures.is_empty())
            .then(|| {
                let mut cause = failures
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ");
                if failures.len() > 3 {
                    cause.push_str(&format!("; and {} more", failures.len() - 3));
                }
                cause
            });
            (Some(report), cause)
        }
    };
    let mut lines = report
        .as_ref()
        .map(crate::functions::logs::report_lines)
        .unwrap_or_default();
    if let Some(cause) = cause {
        let fix = fix_for(&cause, &request.tenant);
        return failed(scale, request, attempts, cause, fix, lines, report).await;
    }
    let report = report.unwrap_or_default();
    if report.stopped.is_some() && !report.skipped_busy {
        let mut next = request.clone();
        next.planned = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        return match scale.queue.send(&next).await {
            Ok(()) => {
                lines.push(format!(
                    "{label}: stopped at its deadline; a new request continues it"
                ));
                Handled {
                    outcome: Outcome::Continued,
                    lines,
                    report: Some(report),
                }
            }
            Err(e) => {
                let cause = format!(
                    "stopped at its deadline and could not enqueue its continuation: {e:#}"
                );
                lines.push(format!("{label}: {cause}; the message is retried"));
                Handled {
                    outcome: Outcome::Retry { cause },
                    lines,
                    report: Some(report),
                }
            }
        };
    }
    if let Err(e) = scale
        .markers
        .release(&request.source, &request.tenant)
        .await
    {
        // The marker expires on its own; the tenant waits at most that long.
        lines.push(format!(
            "{label}: the pending marker stays until it expires: {e:#}"
        ));
    }
    Handled {
        outcome: Outcome::Done,
        lines,
        report: Some(report),
    }
}

/// A failed attempt: retried, or poisoned when it was the last.
async fn failed(
    scale: &ScaleOut,
    request: CycleRequest,
    attempts: u32,
    cause: String,
    fix: String,
    mut lines: Vec<String>,
    report: Option<CycleReport>,
) -> Handled {
    let max = scale.settings.max_attempts;
    if attempts >= max {
        let mut handled = poison(scale, request, attempts, cause, fix, lines).await;
        handled.report = report;
        return handled;
    }
    lines.push(format!(
        "{}: attempt {attempts} of {max} failed: {cause}; retried in {}s",
        request.label(),
        scale.settings.retry_delay(attempts).as_secs()
    ));
    Handled {
        outcome: Outcome::Retry { cause },
        lines,
        report,
    }
}

async fn poison(
    scale: &ScaleOut,
    request: CycleRequest,
    attempts: u32,
    cause: String,
    fix: String,
    mut lines: Vec<String>,
) -> Handled {
    let now = chrono::Utc::now();
    let record = PoisonRecord {
        request,
        attempts,
        cause,
        fix,
        poisoned: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    if let Err(e) = scale.queue.poison(&record).await {
        let cause = format!(
            "{}; and moving it to the poison queue failed: {e:#}",
            record.cause
        );
        lines.push(format!("{}: {cause}", record.request.label()));
        return Handled {
            outcome: Outcome::Retry { cause },
            lines,
            report: None,
        };
    }
    let line = format!(
        "POISONED: {} failed {attempts} time(s) and is moved to queue {}: {}. Fix: {}. `o365-host poison list` lists poisoned requests",
        record.request.label(),
        scale.queue.poison_name(),
        record.cause,
        record.fix
    );
    tracing::error!(tenant = %record.request.tenant, source = %record.request.source, "{line}");
    lines.push(line);
    if record.request.tenant != "?"
        && let Err(e) = scale
            .markers
            .hold_poisoned(
                &record.request.source,
                &record.request.tenant,
                now.timestamp_millis(),
            )
            .await
    {
        lines.push(format!(
            "{}: holding the tenant back: {e:#}",
            record.request.label()
        ));
    }
    Handled {
        outcome: Outcome::Poisoned(Box::new(record)),
        lines,
        report: None,
    }
}
