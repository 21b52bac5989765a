//! A scripted API: answers requests in order from a script and records
//! what it was asked and what was logged.
//!
//! Each component has its own `Api` trait (the requests it makes differ:
//! the audit component also posts), so it implements that trait for
//! `Script<its log level>`, recording each request in the form its tests
//! compare, and leaves the bookkeeping to this type.

use std::collections::VecDeque;

use crate::http::{HttpError, Response};

/// Answers in order from a script; a request beyond the script fails the
/// test. `L` is the component's log level.
#[derive(Debug)]
pub struct Script<L> {
    answers: VecDeque<Result<Response, HttpError>>,
    /// Every request, as the component's double describes it.
    pub requests: Vec<String>,
    /// Every log line.
    pub logs: Vec<(L, String)>,
}

impl<L> Default for Script<L> {
    fn default() -> Self {
        Script {
            answers: VecDeque::new(),
            requests: Vec::new(),
            logs: Vec::new(),
        }
    }
}

impl<L> Script<L> {
    /// A script that answers with `answers`, in order.
    pub fn new(answers: impl IntoIterator<Item = Result<Response, HttpError>>) -> Self {
        Script {
            answers: answers.into_iter().collect(),
            ..Default::default()
        }
    }

    /// The next answer, recording `request`; panics when the script has
    /// none left, naming the request.
    pub fn respond(&mut self, request: String) -> Result<Response, HttpError> {
        let answer = self
            .answers
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected request {request}"));
        self.requests.push(request);
        answer
    }

    /// Records a log line.
    pub fn push_log(&mut self, level: L, message: &str) {
        self.logs.push((level, message.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::ok;

    #[test]
    fn answers_in_order_and_records_requests_and_logs() {
        let mut script: Script<u8> = Script::new([ok("a"), ok("b")]);
        assert_eq!(script.respond("GET x".into()).unwrap().body, b"a");
        assert_eq!(script.respond("y".into()).unwrap().body, b"b");
        script.push_log(2, "hello");
        assert_eq!(script.requests, ["GET x", "y"]);
        assert_eq!(script.logs, [(2, "hello".to_string())]);
    }

    #[test]
    #[should_panic(expected = "unexpected request GET z")]
    fn a_request_beyond_the_script_fails() {
        let mut script: Script<u8> = Script::default();
        let _ = script.respond("GET z".into());
    }
}
