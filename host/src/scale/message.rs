//! What travels on the queues: a cycle request (one tenant and source) and,
//! on the poison queue, the request with the cause and the fix.
//!
//! Messages are JSON, base64-encoded as the Functions queue trigger expects
//! by default (`messageEncoding: base64`); a consumer also accepts plain
//! JSON (a message an operator put on the queue by hand). The Functions host
//! hands the trigger the decoded text, or the parsed object when the text
//! is JSON, so [`CycleRequest::from_trigger`] takes either.

use serde::{Deserialize, Serialize};

/// One cycle to run: a tenant and a source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleRequest {
    /// The tenant (directory) id.
    pub tenant: String,
    /// Its key in `O365_TENANTS`, for messages; `None` in a single-tenant
    /// deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The source (`audit`, `message-trace`).
    pub source: String,
    /// When it was planned (RFC 3339).
    pub planned: String,
}

impl CycleRequest {
    /// How reports name it.
    pub fn label(&self) -> String {
        format!(
            "{} {}",
            self.key.as_deref().unwrap_or(&self.tenant),
            self.source
        )
    }

    /// The message text: base64 of the JSON.
    pub fn encode(&self) -> String {
        encode(self)
    }

    /// The request in a message's text (base64 of JSON, or JSON); the error
    /// says what the text was not.
    pub fn decode(text: &str) -> Result<Self, String> {
        decode(text)
    }

    /// The request in a queue trigger's `Data` entry: the decoded text, or
    /// the object the Functions host parsed from it.
    pub fn from_trigger(value: &serde_json::Value) -> Result<Self, String> {
        match value {
            serde_json::Value::String(text) => decode(text),
            other => serde_json::from_value(other.clone())
                .map_err(|e| format!("the queue message is not a cycle request: {e}")),
        }
    }
}

/// A request that kept failing, as the poison queue holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoisonRecord {
    /// The request.
    pub request: CycleRequest,
    /// Attempts made.
    pub attempts: u32,
    /// What failed, as the last attempt reported it.
    pub cause: String,
    /// What the operator does about it.
    pub fix: String,
    /// When it was poisoned (RFC 3339).
    pub poisoned: String,
}

impl PoisonRecord {
    /// The message text.
    pub fn encode(&self) -> String {
        encode(self)
    }

    /// A poison queue message: a record of this host, or a bare request the
    /// Functions host moved there after its own `maxDequeueCount` (then the
    /// cause is unknown and says where to look).
    pub fn decode(text: &str) -> Result<Self, String> {
        if let Ok(record) = decode::<Self>(text) {
            return Ok(record);
        }
        let request = decode::<CycleRequest>(text)?;
        Ok(Self {
            request,
            attempts: 0,
            cause: "moved here by the Functions host after maxDequeueCount attempts; the cause is in the runCycle invocations' logs".into(),
            fix: "look up the failures of this tenant and source in Application Insights, fix them, then `o365-host poison retry`".into(),
            poisoned: String::new(),
        })
    }

    /// One line for people.
    pub fn line(&self) -> String {
        format!(
            "{}: poisoned {} after {} attempt(s): {}; fix: {}",
            self.request.label(),
            if self.poisoned.is_empty() {
                "(time unknown)"
            } else {
                &self.poisoned
            },
            self.attempts,
            self.cause,
            self.fix
        )
    }
}

fn encode<T: Serialize>(value: &T) -> String {
    use base64::Engine as _;
    let json = serde_json::to_vec(value).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(json)
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    use base64::Engine as _;
    let text = text.trim();
    let json = if text.starts_with('{') {
        text.as_bytes().to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "the queue message is neither JSON nor base64".to_string())?
    };
    serde_json::from_slice(&json)
        .map_err(|e| format!("the queue message is not a cycle request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CycleRequest {
        CycleRequest {
            tenant: "00000000-0000-0000-0000-000000000001".into(),
            key: Some("contoso".into()),
            source: "audit".into(),
            planned: "2026-11-28T10:00:00Z".into(),
        }
    }

    #[test]
    fn a_request_round_trips_as_base64_and_reads_as_plain_json_or_a_trigger_object() {
        let text = request().encode();
        assert!(!text.contains('{'), "base64, as the queue trigger expects");
        assert_eq!(CycleRequest::decode(&text).unwrap(), request());
        let json = serde_json::to_string(&request()).unwrap();
        assert_eq!(CycleRequest::decode(&json).unwrap(), request());
        let object = serde_json::to_value(request()).unwrap();
        assert_eq!(CycleRequest::from_trigger(&object).unwrap(), request());
        assert_eq!(
            CycleRequest::from_trigger(&serde_json::Value::String(json)).unwrap(),
            request()
        );
        assert!(CycleRequest::decode("not base64 !").is_err());
        assert!(
            CycleRequest::decode("{\"x\":1}")
                .unwrap_err()
                .contains("not a cycle request")
        );
    }

    #[test]
    fn the_poison_queue_reads_records_and_bare_requests() {
        let record = PoisonRecord {
            request: request(),
            attempts: 5,
            cause: "AADSTS65001".into(),
            fix: "grant consent".into(),
            poisoned: "2026-11-28T10:30:00Z".into(),
        };
        assert_eq!(PoisonRecord::decode(&record.encode()).unwrap(), record);
        assert!(record.line().starts_with("contoso audit: poisoned 2026-11-28T10:30:00Z after 5 attempt(s): AADSTS65001; fix: grant consent"));
        let bare = PoisonRecord::decode(&request().encode()).unwrap();
        assert_eq!(bare.request, request());
        assert!(bare.cause.contains("maxDequeueCount"));
    }
}
