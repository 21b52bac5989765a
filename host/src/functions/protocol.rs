//! The custom handler invocation protocol as the Functions host speaks it.
//!
//! For a function that is not an HTTP trigger, the host sends
//! `POST http://127.0.0.1:<FUNCTIONS_CUSTOMHANDLER_PORT>/<function name>`
//! with headers `X-Azure-Functions-InvocationId` and
//! `X-Azure-Functions-HostVersion`, and a JSON body with two members:
//! `Data` (one key per trigger and input binding of `function.json`, named
//! as its `name`) and `Metadata` (trigger metadata, and `sys` with
//! `MethodName`, `UtcNow`, `RandGuid`). It expects a JSON answer with
//! `Outputs` (one key per output binding), `Logs` (lines for the invocation
//! log) and `ReturnValue` (for a `$return` binding).
//!
//! A timer trigger's `Data` entry is the timer object:
//! `{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":…,"Next":…,"LastUpdated":…},"IsPastDue":false}`;
//! `ScheduleStatus` is `null` when the schedule is not monitored.
//!
//! Sources: <https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers>
//! (request and response payloads), <https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer>
//! (the timer object), and the host's own code
//! (`Azure/azure-functions-host`, `Workers/Http/DefaultHttpWorkerService.cs`):
//! it reads the answer only when the status is a success; on any other
//! status the invocation fails with that status and the body, `Logs`
//! included, is not read. Keys of `Outputs` that name no output binding and
//! a `ReturnValue` without a `$return` binding are ignored (when either is
//! missing, hosts of 2024 log it at debug level, older ones warned).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The header carrying the invocation id.
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";

/// What the Functions host posts to run a function.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InvocationRequest {
    /// Trigger and input binding values, by binding name.
    #[serde(rename = "Data", default)]
    pub data: Map<String, Value>,
    /// Trigger metadata, including `sys`.
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

impl InvocationRequest {
    /// The timer object of a timer trigger, if `Data` holds one.
    pub fn timer(&self) -> Option<TimerInfo> {
        self.data
            .values()
            .find(|v| v.get("IsPastDue").is_some())
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// `Metadata.sys.MethodName`: the function the host thinks it runs.
    pub fn method_name(&self) -> Option<&str> {
        self.metadata.get("sys")?.get("MethodName")?.as_str()
    }
}

/// A timer trigger's object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimerInfo {
    /// The last, next and last-updated occurrences, when the schedule is
    /// monitored.
    #[serde(rename = "ScheduleStatus", default)]
    pub schedule_status: Option<ScheduleStatus>,
    /// The invocation is later than scheduled (a restart missed one).
    #[serde(rename = "IsPastDue", default)]
    pub is_past_due: bool,
}

/// `ScheduleStatus` of a timer object (ISO 8601 text, as sent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    /// The previous occurrence.
    #[serde(rename = "Last", default)]
    pub last: Option<String>,
    /// The next occurrence.
    #[serde(rename = "Next", default)]
    pub next: Option<String>,
    /// When the status was last written.
    #[serde(rename = "LastUpdated", default)]
    pub last_updated: Option<String>,
}

/// What a function answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InvocationResponse {
    /// Values for output bindings, by binding name.
    #[serde(rename = "Outputs", default)]
    pub outputs: Map<String, Value>,
    /// Lines for the invocation log.
    #[serde(rename = "Logs", default)]
    pub logs: Vec<String>,
    /// The value of a `$return` binding.
    #[serde(rename = "ReturnValue", default)]
    pub return_value: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timer invocation as the Functions host sends it.
    const TIMER_REQUEST: &str = r#"{
        "Data": {"timer": {"Schedule": {"AdjustForDST": true},
            "ScheduleStatus": {"Last": "2026-11-28T09:55:00+00:00", "Next": "2026-11-28T10:05:00+00:00", "LastUpdated": "2026-11-28T09:55:00+00:00"},
            "IsPastDue": true}},
        "Metadata": {"sys": {"MethodName": "fetchAuditLogs", "UtcNow": "2026-11-28T10:00:00.0042Z", "RandGuid": "7c0f8c7e-0000-4000-8000-000000000000"}}
    }"#;

    #[test]
    fn a_timer_request_reads_with_its_timer_and_method() {
        let request: InvocationRequest = serde_json::from_str(TIMER_REQUEST).unwrap();
        let timer = request.timer().expect("a timer object");
        assert!(timer.is_past_due);
        assert_eq!(
            timer.schedule_status.unwrap().next.as_deref(),
            Some("2026-11-28T10:05:00+00:00")
        );
        assert_eq!(request.method_name(), Some("fetchAuditLogs"));
    }

    #[test]
    fn an_unmonitored_schedule_and_an_empty_request_read_too() {
        let request: InvocationRequest = serde_json::from_str(
            r#"{"Data":{"t":{"Schedule":{},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}"#,
        )
        .unwrap();
        assert_eq!(request.timer().unwrap().schedule_status, None);
        assert_eq!(request.method_name(), None);
        let empty: InvocationRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.timer(), None);
    }

    #[test]
    fn a_response_has_the_documented_keys() {
        let response = InvocationResponse {
            logs: vec!["line".into()],
            ..InvocationResponse::default()
        };
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"Outputs": {}, "Logs": ["line"], "ReturnValue": null})
        );
    }
}
