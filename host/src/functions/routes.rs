//! The functions this app declares to the Functions host, each a folder
//! `functions/<name>/function.json` in the deployment package and a route
//! `POST /<name>` of the custom handler: the host invokes a function by its
//! folder name.
//!
//! The names are the JavaScript version's (`fetchAuditLogs`,
//! `fetchMessageTraces`), so that its Application Insights queries and
//! alerts, which select by function name, keep working after the switch.

/// A timer-triggered function that runs one source's cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerFunction {
    /// The function (folder and route) name.
    pub name: &'static str,
    /// The source it runs (`crate::cli::KNOWN_SOURCES`).
    pub source: &'static str,
    /// The app setting holding its NCRONTAB schedule, referenced as
    /// `%NAME%` in its `function.json`.
    pub schedule_setting: &'static str,
}

/// Every timer function.
pub const TIMER_FUNCTIONS: &[TimerFunction] = &[
    TimerFunction {
        name: "fetchAuditLogs",
        source: "audit",
        schedule_setting: "AUDIT_LOGS_INDEXER_SCHEDULE",
    },
    TimerFunction {
        name: "fetchMessageTraces",
        source: "message-trace",
        schedule_setting: "MESSAGE_TRACES_INDEXER_SCHEDULE",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_runs_a_known_source_on_that_sources_schedule_setting() {
        for function in TIMER_FUNCTIONS {
            let known = crate::cli::KNOWN_SOURCES
                .iter()
                .find(|k| k.name == function.source)
                .unwrap_or_else(|| panic!("{} runs an unknown source", function.name));
            assert_eq!(known.schedule_setting, function.schedule_setting);
        }
        assert_eq!(TIMER_FUNCTIONS.len(), crate::cli::KNOWN_SOURCES.len());
    }
}
