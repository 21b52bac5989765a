//! The request-response nodes: `$cbs` put-token requests, recorded and
//! answered 202 (or 401 while the test refuses tokens), and `$management`
//! READ requests for a hub's and a partition's properties (4 partitions).

use crate::State;
use crate::connection::ReplyLinks;
use fe2o3_amqp::link::{Receiver, delivery::Delivery};
use fe2o3_amqp::types::messaging::{AmqpValue, ApplicationProperties, Body, Message, Properties};
use fe2o3_amqp::types::primitives::{Array, OrderedMap, SimpleValue, Timestamp, Value};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Partitions every hub of the broker has.
pub const PARTITIONS: usize = 4;

pub(crate) async fn serve(
    mut requests: Receiver,
    node: String,
    replies: ReplyLinks,
    state: Arc<State>,
) {
    while let Ok(delivery) = requests.recv::<Body<Value>>().await {
        let _ = requests.accept(&delivery).await;
        let response = if node == "$cbs" {
            answer(&delivery, &state)
        } else {
            read(&delivery)
        };
        // The client attaches its reply link right after the request link;
        // wait for it a little.
        for _ in 0..200 {
            if replies.lock().await.contains_key(&node) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut guard = replies.lock().await;
        if let Some(sender) = guard.get_mut(&node)
            && let Err(e) = sender.send(response).await
        {
            tracing::debug!("broker could not answer a put-token: {e}");
        }
    }
}

/// A text application property of a request ("" if absent).
fn property(message: &Message<Body<Value>>, name: &str) -> String {
    message
        .application_properties
        .as_ref()
        .and_then(|ap| ap.0.get(name))
        .and_then(|v| match v {
            SimpleValue::String(s) => Some(s.clone()),
            SimpleValue::Symbol(s) => Some(s.0.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn reply(
    message: &Message<Body<Value>>,
    code: i32,
    description: &str,
    body: Value,
) -> Message<AmqpValue<Value>> {
    let mut properties = Properties::default();
    properties.correlation_id = message
        .properties
        .as_ref()
        .and_then(|p| p.message_id.clone());
    Message::builder()
        .properties(properties)
        .application_properties(
            ApplicationProperties::builder()
                .insert("status-code", SimpleValue::Int(code))
                .insert("status-description", description.to_string())
                .build(),
        )
        .value(body)
        .build()
}

/// `$management` READ of `com.microsoft:eventhub` or `com.microsoft:partition`.
fn read(delivery: &Delivery<Body<Value>>) -> Message<AmqpValue<Value>> {
    let message = delivery.message();
    let hub = property(message, "name");
    let text = |s: &str| Value::String(s.to_string());
    let mut map = OrderedMap::new();
    let now = Value::Timestamp(Timestamp::from_milliseconds(0));
    match (
        property(message, "operation").as_str(),
        property(message, "type").as_str(),
    ) {
        ("READ", "com.microsoft:eventhub") => {
            map.insert(text("name"), text(&hub));
            map.insert(text("created_at"), now);
            map.insert(text("partition_count"), Value::Int(PARTITIONS as i32));
            map.insert(
                text("partition_ids"),
                Value::Array(Array(
                    (0..PARTITIONS).map(|i| text(&i.to_string())).collect(),
                )),
            );
        }
        ("READ", "com.microsoft:partition") => {
            let partition = property(message, "partition");
            map.insert(text("type"), text("com.microsoft:partition"));
            map.insert(text("name"), text(&hub));
            map.insert(text("partition"), text(&partition));
            map.insert(text("begin_sequence_number"), Value::Long(0));
            map.insert(text("last_enqueued_sequence_number"), Value::Long(0));
            map.insert(text("last_enqueued_sequence_number_epoch"), Value::Long(0));
            map.insert(text("last_enqueued_offset"), text("0"));
            map.insert(text("last_enqueued_time_utc"), now);
            map.insert(text("is_partition_empty"), Value::Bool(true));
        }
        (operation, kind) => {
            return reply(
                message,
                501,
                &format!("the test broker does not implement {operation} of {kind}"),
                Value::Null,
            );
        }
    }
    reply(message, 200, "OK", Value::Map(map))
}

fn answer(delivery: &Delivery<Body<Value>>, state: &State) -> Message<AmqpValue<Value>> {
    let message = delivery.message();
    let property = |name: &str| property(message, name);
    let refused = state.refuse_cbs.load(Ordering::SeqCst);
    state
        .tokens
        .lock()
        .unwrap()
        .push((property("name"), property("type")));
    let (code, description) = if refused {
        (401, "the broker was told to refuse tokens")
    } else {
        (202, "Accepted")
    };
    reply(message, code, description, Value::Null)
}
