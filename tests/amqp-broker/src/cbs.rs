//! The `$cbs` node: put-token requests, recorded and answered 202 (or 401
//! while the test refuses tokens).

use crate::State;
use crate::connection::ReplyLink;
use fe2o3_amqp::link::{Receiver, delivery::Delivery};
use fe2o3_amqp::types::messaging::{AmqpValue, ApplicationProperties, Body, Message, Properties};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(crate) async fn serve(mut requests: Receiver, reply: ReplyLink, state: Arc<State>) {
    while let Ok(delivery) = requests.recv::<Body<Value>>().await {
        let _ = requests.accept(&delivery).await;
        let response = answer(&delivery, &state);
        // The client attaches its reply link right after the request link;
        // wait for it a little.
        for _ in 0..200 {
            if reply.lock().await.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut guard = reply.lock().await;
        if let Some(sender) = guard.as_mut()
            && let Err(e) = sender.send(response).await
        {
            tracing::debug!("broker could not answer a put-token: {e}");
        }
    }
}

fn answer(delivery: &Delivery<Body<Value>>, state: &State) -> Message<AmqpValue<Value>> {
    let message = delivery.message();
    let property = |name: &str| {
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
    };
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
        .value(Value::Null)
        .build()
}
