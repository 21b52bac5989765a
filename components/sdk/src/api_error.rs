//! The error an API writes into the body of a failed answer, read
//! tolerantly.
//!
//! Microsoft's APIs write `{"error":{"code":"..","message":".."}}`; the
//! OData services a message object instead of a string
//! (`{"lang":"en-US","value":".."}`), some under `odata.error`; a gateway
//! sends HTML. The code often says more than the status (the Management
//! Activity API throttles with `403` and `AF429`), so components look at it
//! first. Anything unexpected yields an empty [`ApiError`], never a failure:
//! the message about the answer then shows the body's first bytes instead.
//!
//! Where an API puts the error, and how strictly it is read, is each
//! component's [`Shape`].

use serde_json::Value;

use crate::http::{Response, strip_bom};

/// Where an API puts its error in a body, and how its text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The keys the error object may stand under, tried in order (`error`,
    /// `odata.error`); a body with none of them is read as the error object
    /// itself (`{"code":..,"message":..}`).
    pub envelopes: &'static [&'static str],
    /// Whether the `value` of a message object is trimmed, and dropped when
    /// blank, as a plain string code or message always is; without it the
    /// value is taken as it stands.
    pub trim_object_values: bool,
}

/// The API's own error, as far as the body says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error code (`AF20022`, `Forbidden`, ...), if the body had one.
    pub code: Option<String>,
    /// The API's message, if the body had one.
    pub message: Option<String>,
}

impl ApiError {
    /// Reads the error out of a body written in `shape` (a UTF-8 byte order
    /// mark in front is ignored); anything unexpected yields an empty error
    /// rather than a failure. Besides the error object, accepts an error
    /// that is only a string (`{"error":"text"}`).
    // Inline, so that its `serde_json` code is generated in the calling
    // component, which already has it: a copy made here would be a second
    // one in the component (about 20 KB).
    #[inline]
    pub fn parse(body: &[u8], shape: &Shape) -> ApiError {
        let Ok(value) = serde_json::from_slice::<Value>(strip_bom(body)) else {
            return ApiError::default();
        };
        let inner = match shape.envelopes.iter().find_map(|key| value.get(key)) {
            Some(Value::String(text)) => {
                return ApiError {
                    code: None,
                    message: Some(text.clone()),
                };
            }
            Some(error @ Value::Object(_)) => error,
            _ => &value,
        };
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Object(m)) => {
                let value = m.get("value").and_then(Value::as_str)?;
                if !shape.trim_object_values {
                    return Some(value.to_string());
                }
                Some(value.trim())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            }
            _ => None,
        };
        ApiError {
            code: text(inner.get("code")),
            message: text(inner.get("message")),
        }
    }

    /// Whether the code is `code`, ignoring case.
    pub fn is(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    /// What the API said, for a message: `code: message`, one of them, or
    /// the first bytes of `response`'s body.
    pub fn said(&self, response: &Response) -> String {
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            (None, Some(message)) => message.clone(),
            (None, None) if response.body.is_empty() => "(empty body)".to_string(),
            (None, None) => response.body_snippet(200),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::response;

    const PLAIN: Shape = Shape {
        envelopes: &["error"],
        trim_object_values: false,
    };
    const ODATA: Shape = Shape {
        envelopes: &["error", "odata.error"],
        trim_object_values: true,
    };

    fn both(body: &str) -> [ApiError; 2] {
        [PLAIN, ODATA].map(|shape| ApiError::parse(body.as_bytes(), &shape))
    }

    #[test]
    fn error_objects_are_read_in_every_shape() {
        for e in both(
            r#"{"error":{"code":"Forbidden","message":" Missing role permissions. ","innerError":{"request-id":"x"}}}"#,
        ) {
            assert_eq!(e.code.as_deref(), Some("Forbidden"));
            assert_eq!(e.message.as_deref(), Some("Missing role permissions."));
        }
        for e in both("\u{feff}{\"error\":{\"code\":\"AF429\"}}") {
            assert_eq!((e.code.as_deref(), e.message), (Some("AF429"), None));
        }
        for e in both(r#"{"code":"AF20051","message":"gone"}"#) {
            assert_eq!(e.message.as_deref(), Some("gone"));
        }
        for e in both(r#"{"error":"plain text"}"#) {
            assert_eq!((e.code, e.message.as_deref()), (None, Some("plain text")));
        }
        for e in both(r#"{"error":{"code":"X1","message":{"lang":"en","value":"odata text"}}}"#) {
            assert_eq!(e.message.as_deref(), Some("odata text"));
        }
        for e in
            both(r#"{"error":{"code":"","message":{"lang":"en-US","value":"Access denied."}}}"#)
        {
            assert_eq!(
                e,
                ApiError {
                    code: None,
                    message: Some("Access denied.".into())
                }
            );
        }
    }

    #[test]
    fn the_shape_says_where_the_error_stands_and_how_strictly_it_is_read() {
        let light = "\u{feff}{\"odata.error\":{\"code\":\"UnknownError\",\"message\":{\"lang\":\"\",\"value\":\"An error has occurred on the server.\"}}}";
        let [plain, odata] = both(light);
        assert_eq!(plain, ApiError::default());
        assert!(odata.is("unknownerror"));
        assert_eq!(
            odata.message.as_deref(),
            Some("An error has occurred on the server.")
        );
        let padded = r#"{"error":{"code":"C","message":{"value":"  spaced  "}}}"#;
        let [plain, odata] = both(padded);
        assert_eq!(plain.message.as_deref(), Some("  spaced  "));
        assert_eq!(odata.message.as_deref(), Some("spaced"));
        let blank = r#"{"error":{"code":"C","message":{"value":" "}}}"#;
        let [plain, odata] = both(blank);
        assert_eq!(plain.message.as_deref(), Some(" "));
        assert_eq!(odata.message, None);
    }

    #[test]
    fn junk_is_an_empty_error() {
        for junk in [
            "",
            "<html>",
            "[1,2]",
            "null",
            "\"text\"",
            r#"{"error":null}"#,
            r#"{"error":{"code":42,"message":[]}}"#,
            r#"{"odata.error":{"code":{"value":7}}}"#,
            "{\"error\":",
        ] {
            for e in both(junk) {
                assert_eq!(e, ApiError::default(), "{junk}");
            }
        }
    }

    #[test]
    fn codes_compare_ignoring_case() {
        let [e, _] = both(r#"{"error":{"code":"af20022","message":"x"}}"#);
        assert!(e.is("AF20022"));
        assert!(!e.is("AF20023"));
        assert!(!ApiError::default().is("AF20022"));
    }

    #[test]
    fn what_was_said_falls_back_to_the_body() {
        let r = response(503, &[], "<html>down</html>");
        let said = |code: Option<&str>, message: Option<&str>| {
            ApiError {
                code: code.map(str::to_string),
                message: message.map(str::to_string),
            }
            .said(&r)
        };
        assert_eq!(said(Some("C"), Some("m")), "C: m");
        assert_eq!(said(Some("C"), None), "C");
        assert_eq!(said(None, Some("m")), "m");
        assert_eq!(said(None, None), "<html>down</html>");
        assert_eq!(
            ApiError::default().said(&response(401, &[], "")),
            "(empty body)"
        );
    }
}
