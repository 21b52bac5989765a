//! What the broker records of each transfer and each event in it.

use fe2o3_amqp::types::messaging::message::__private::Deserializable;
use fe2o3_amqp::types::messaging::{Body, Message};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use std::collections::BTreeMap;

/// One event as the broker received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The hub the sender link was attached to.
    pub hub: String,
    /// The partition of the link (`<hub>/Partitions/<id>`), if any.
    pub partition: Option<String>,
    /// The message annotation `x-opt-partition-key`.
    pub partition_key: Option<String>,
    /// The bytes of the event's data section(s).
    pub body: Vec<u8>,
    /// `properties.content-type`.
    pub content_type: Option<String>,
    /// `properties.message-id`, as text.
    pub message_id: Option<String>,
    /// Application properties whose values are strings or numbers, as text.
    pub properties: BTreeMap<String, String>,
}

/// One transfer (one batch) and what became of it.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The hub of the link.
    pub hub: String,
    /// The events packed in it.
    pub events: Vec<Received>,
    /// Its size in bytes, as the sum of its events' encoded messages.
    pub bytes: usize,
    /// Whether the broker accepted it.
    pub accepted: bool,
}

/// Splits a link's target address (`amqps://ns/hub[/Partitions/id]`, or
/// just the path) into hub and partition.
pub(crate) fn parse_target(address: &str) -> (String, Option<String>) {
    let path = match address.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).unwrap_or(""),
        None => address.trim_start_matches('/'),
    };
    match path.split_once("/Partitions/") {
        Some((hub, partition)) => (hub.to_string(), Some(partition.to_string())),
        None => (path.trim_end_matches('/').to_string(), None),
    }
}

/// The events of a transfer: a batch's data sections each hold an encoded
/// message; any other body is one event.
pub(crate) fn events_of(
    message: Message<Body<Value>>,
    hub: &str,
    partition: &Option<String>,
) -> anyhow::Result<(Vec<Received>, usize)> {
    let mut out = Vec::new();
    let mut bytes = 0;
    match &message.body {
        Body::Data(batch) if is_batch(&message) => {
            for data in batch.iter() {
                bytes += data.0.len();
                let inner: Deserializable<Message<Body<Value>>> = serde_amqp::from_slice(&data.0)
                    .map_err(|e| {
                    anyhow::anyhow!("a batch holds a message that does not decode: {e}")
                })?;
                out.push(received(inner.0, hub, partition));
            }
        }
        _ => out.push(received(message, hub, partition)),
    }
    Ok((out, bytes))
}

/// A batch envelope has data sections that are themselves messages; the
/// producer sends every send as a batch, so a single data section that
/// decodes as a message is taken as one.
fn is_batch(message: &Message<Body<Value>>) -> bool {
    match &message.body {
        Body::Data(batch) => batch
            .iter()
            .all(|d| serde_amqp::from_slice::<Deserializable<Message<Body<Value>>>>(&d.0).is_ok()),
        _ => false,
    }
}

fn received(message: Message<Body<Value>>, hub: &str, partition: &Option<String>) -> Received {
    let partition_key = message.message_annotations.as_ref().and_then(|a| {
        a.iter().find_map(|(k, v)| {
            let key = format!("{k:?}");
            match v {
                Value::String(s) if key.contains("x-opt-partition-key") => Some(s.clone()),
                _ => None,
            }
        })
    });
    let (content_type, message_id) = match &message.properties {
        Some(p) => (
            p.content_type.as_ref().map(|c| c.to_string()),
            p.message_id.as_ref().map(|m| format!("{m:?}")),
        ),
        None => (None, None),
    };
    let mut properties = BTreeMap::new();
    if let Some(ap) = &message.application_properties {
        for (k, v) in ap.0.iter() {
            let text = match v {
                SimpleValue::String(s) => s.clone(),
                SimpleValue::Long(n) => n.to_string(),
                SimpleValue::Int(n) => n.to_string(),
                SimpleValue::Bool(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            properties.insert(k.clone(), text);
        }
    }
    let body = match message.body {
        Body::Data(batch) => batch.into_iter().flat_map(|d| d.0.into_vec()).collect(),
        Body::Value(v) => format!("{:?}", v.0).into_bytes(),
        _ => Vec::new(),
    };
    Received {
        hub: hub.to_string(),
        partition: partition.clone(),
        partition_key,
        body,
        content_type,
        message_id,
        properties,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn targets_name_the_hub_and_partition() {
        assert_eq!(
            parse_target("amqps://ns.servicebus.windows.net/hub"),
            ("hub".into(), None)
        );
        assert_eq!(
            parse_target("amqps://ns/hub/Partitions/3"),
            ("hub".into(), Some("3".into()))
        );
        assert_eq!(parse_target("hub"), ("hub".into(), None));
    }
}
