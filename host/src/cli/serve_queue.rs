//! The Functions custom handler in queue mode (`O365_CYCLE_QUEUE`,
//! `crate::scale`): the timer functions plan instead of running cycles, and
//! the queue-triggered `runCycle` runs one tenant-and-source cycle per
//! message. The Functions host scales instances on the queue's length.
//!
//! The queue trigger's invocation request (custom handlers,
//! <https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers#request-payload>):
//! `Data.<binding name>` holds the message (its text, base64-decoded by the
//! host, or the object when the text is JSON) and `Metadata` holds
//! `DequeueCount`, `Id`, `PopReceipt`, `InsertionTime`, `ExpirationTime`,
//! `NextVisibleTime` and `sys`. A success answer deletes the message; a
//! failure leaves it to reappear after `host.json`'s
//! `extensions.queues.visibilityTimeout`, and after `maxDequeueCount`
//! deliveries the host moves it to `<queue>-poison`. This handler poisons a
//! request itself at `O365_CYCLE_MAX_ATTEMPTS` (at most `maxDequeueCount`),
//! with the cause and the fix, and answers success.

use super::deployment::Deployment;
use crate::functions::{Invocation, InvocationRequest, InvocationResponse};
use crate::pipeline::Deadline;
use crate::scale::{CycleRequest, Outcome, ScaleOut, plan, run_request};

/// The queue-triggered function's name (folder and route).
pub const QUEUE_FUNCTION: &str = "runCycle";
/// Its trigger binding's name in `function.json`.
pub const QUEUE_BINDING: &str = "request";

/// The timer function in queue mode: enqueues a request per tenant of
/// `source` that has none pending.
pub async fn plan_invocation(
    deployment: &Deployment,
    scale: &ScaleOut,
    source: &str,
    mut logs: Vec<String>,
) -> Invocation {
    if scale.queue.name() != crate::scale::FUNCTIONS_QUEUE {
        // Requests on another queue would wait forever: runCycle listens
        // on the one its function.json names.
        logs.push(format!(
            "{source}: FAILED: {} = `{}`, but under Azure Functions the runCycle trigger listens on `{}` (functions/{QUEUE_FUNCTION}/function.json): set it to `{}`",
            crate::scale::settings::QUEUE_SETTING,
            scale.queue.name(),
            crate::scale::FUNCTIONS_QUEUE,
            crate::scale::FUNCTIONS_QUEUE
        ));
        return answer(false, logs, "failed");
    }
    let report = plan(deployment, scale, Some(source)).await;
    logs.push(format!("{source}: {}", report.line()));
    logs.extend(
        report
            .failed
            .iter()
            .map(|f| format!("{source}: not planned: {f}")),
    );
    answer(report.failed.is_empty(), logs, "planned")
}

/// `runCycle`: one request, one cycle.
pub async fn run_invocation(
    deployment: &Deployment,
    scale: &ScaleOut,
    request: &InvocationRequest,
    deadline: Option<Deadline>,
) -> Invocation {
    let attempts = request
        .metadata
        .get("DequeueCount")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(1) as u32;
    let message = match request.data.get(QUEUE_BINDING) {
        Some(value) => CycleRequest::from_trigger(value),
        None => Err(format!(
            "the invocation has no `{QUEUE_BINDING}` binding value; functions/{QUEUE_FUNCTION}/function.json names its trigger `{QUEUE_BINDING}`"
        )),
    };
    // As for a timer invocation: the instance may have been frozen.
    deployment.refresh_components().await;
    let handled = run_request(deployment, scale, message, attempts, deadline).await;
    let succeeded = handled.outcome.delete_message();
    let what = match handled.outcome {
        Outcome::Done => "done",
        Outcome::Continued => "continued",
        Outcome::Retry { .. } => "failed; retried",
        Outcome::Poisoned(_) => "poisoned",
    };
    answer(succeeded, handled.lines, what)
}

/// Queue mode is on, but the host could not open the queues: every
/// invocation fails with why.
pub fn unavailable(e: &str, logs: Vec<String>) -> Invocation {
    let mut logs = logs;
    logs.push(format!(
        "FAILED: queue mode ({}) could not start: {e}",
        crate::scale::settings::QUEUE_SETTING
    ));
    answer(false, logs, "failed")
}

fn answer(succeeded: bool, logs: Vec<String>, what: &str) -> Invocation {
    Invocation {
        succeeded,
        response: InvocationResponse {
            logs,
            return_value: what.into(),
            ..InvocationResponse::default()
        },
    }
}

/// The `runCycle` route.
pub(super) struct QueueFunction {
    pub(super) deployment: std::sync::Arc<super::serve::LazyDeployment>,
    pub(super) timeout: Option<std::time::Duration>,
}

#[async_trait::async_trait]
impl crate::functions::Invoke for QueueFunction {
    async fn invoke(
        &self,
        request: InvocationRequest,
        _context: crate::functions::InvocationContext,
    ) -> Invocation {
        let deadline = self
            .timeout
            .map(|timeout| Deadline::before_timeout(std::time::Instant::now(), timeout));
        let deployment = match self.deployment.get().await {
            Ok(deployment) => deployment,
            Err(e) => {
                return answer(
                    false,
                    vec![format!("FAILED: the host could not start: {e}")],
                    "failed",
                );
            }
        };
        match self.deployment.scale().await {
            Ok(Some(scale)) => run_invocation(deployment, scale, &request, deadline).await,
            Ok(None) => answer(
                false,
                vec![format!(
                    "FAILED: a cycle request arrived but queue mode is off: set {} = {} (the queue functions/{QUEUE_FUNCTION}/function.json listens on)",
                    crate::scale::settings::QUEUE_SETTING,
                    crate::scale::FUNCTIONS_QUEUE
                )],
                "failed",
            ),
            Err(e) => unavailable(&e, Vec::new()),
        }
    }
}
