//! Events larger than one Event Hubs message.
//!
//! Policy: such an event is never dropped silently. It is replaced by a
//! *truncated* event: the same envelope (id, time, source, kind, tenant and
//! the lifted fields), with `record` replaced by the first part of the
//! record's JSON text (a string), and a `truncated` object saying how large
//! the original envelope was and its SHA-256, so a consumer knows it holds a
//! part and can tell two versions apart. The host logs a warning with the
//! id and counts it in the `events_truncated` metric.

use sha2::{Digest as _, Sha256};

/// Builds the truncated stand-in for `body` (an envelope) that fits in
/// `limit` bytes of JSON.
pub fn truncate(body: &str, limit: usize) -> String {
    let digest = hex::encode(Sha256::digest(body.as_bytes()));
    let mut envelope = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => map,
        // Not an object: keep it all as the record text.
        _ => {
            let mut map = serde_json::Map::new();
            map.insert("record".into(), serde_json::Value::String(body.to_string()));
            map
        }
    };
    let record_text = match envelope.remove("record") {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    envelope.insert(
        "truncated".into(),
        serde_json::json!({ "originalBytes": body.len(), "sha256": digest }),
    );
    // The envelope without the record, then as much record as fits
    // (escaping can grow a character up to six bytes, so shrink until it fits).
    let base = serde_json::Value::Object(envelope.clone())
        .to_string()
        .len();
    let mut budget = limit.saturating_sub(base + 32);
    loop {
        let part = prefix(&record_text, budget);
        envelope.insert("record".into(), serde_json::Value::String(part.to_string()));
        let text = serde_json::Value::Object(envelope.clone()).to_string();
        if text.len() <= limit || budget == 0 {
            return text;
        }
        // Scale the budget by how much escaping grew it, a little under.
        let room = limit.saturating_sub(base) as f64;
        let used = (text.len().saturating_sub(base)).max(1) as f64;
        let scaled = (budget as f64 * room / used * 0.99) as usize;
        budget = scaled.min(budget - 1);
    }
}

/// The longest prefix of `text` of at most `bytes` bytes ending on a character boundary.
fn prefix(text: &str, bytes: usize) -> &str {
    if text.len() <= bytes {
        return text;
    }
    let mut end = bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_common_fields_and_marks_the_cut() {
        let record = "é\"".repeat(100_000);
        let body = serde_json::json!({"id": "a", "kind": "Audit.SharePoint", "tenant": "t", "record": {"x": record}}).to_string();
        let out = truncate(&body, 10_000);
        assert!(out.len() <= 10_000, "{}", out.len());
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["id"], "a");
        assert_eq!(value["tenant"], "t");
        assert_eq!(value["truncated"]["originalBytes"], body.len());
        assert_eq!(value["truncated"]["sha256"].as_str().unwrap().len(), 64);
        let kept = value["record"].as_str().unwrap();
        assert!(kept.len() > 5_000, "most of the budget holds the record");
        assert!(
            serde_json::json!({"x": record})
                .to_string()
                .starts_with(kept)
        );
    }
}
