//! One AMQP connection: its sessions and links, and the faults applied to
//! each transfer.

use crate::State;
use crate::record::{Transfer, events_of, parse_target};
use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerSessionHandle, SaslAnonymousMechanism,
    SessionAcceptor,
};
use fe2o3_amqp::link::{Receiver, Sender, delivery::Delivery};
use fe2o3_amqp::types::definitions::{Error, ErrorCondition};
use fe2o3_amqp::types::messaging::Body;
use fe2o3_amqp::types::primitives::{Symbol, Value};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpStream;

/// The reply links of a session (`$cbs`, `$management`), by node address,
/// once the client attached them.
pub(crate) type ReplyLinks = Arc<tokio::sync::Mutex<std::collections::HashMap<String, Sender>>>;

/// Serves one TCP connection until the client closes it or a fault drops it.
pub(crate) async fn serve(
    acceptor: &ConnectionAcceptor<(), SaslAnonymousMechanism>,
    stream: TcpStream,
    state: Arc<State>,
) -> anyhow::Result<()> {
    // A second handle on the socket lets a fault cut it under the engine.
    let std = stream.into_std()?;
    let killer = Arc::new(std.try_clone()?);
    let stream = TcpStream::from_std(std)?;
    state.connections.fetch_add(1, Ordering::SeqCst);
    let mut connection = acceptor.accept(stream).await?;
    let sessions = SessionAcceptor::new();
    while let Some(incoming) = connection.next_incoming_session().await {
        let session = sessions
            .accept_incoming_session(incoming, &mut connection)
            .await?;
        tokio::spawn(serve_session(session, state.clone(), killer.clone()));
    }
    Ok(())
}

async fn serve_session(
    mut session: ListenerSessionHandle,
    state: Arc<State>,
    killer: Arc<std::net::TcpStream>,
) {
    let links = LinkAcceptor::builder()
        .max_message_size(state.max_message_size.load(Ordering::SeqCst))
        .build();
    let replies: ReplyLinks = Default::default();
    while let Ok(link) = links.accept(&mut session).await {
        match link {
            // The client's receiving end of `$cbs` or `$management`.
            LinkEndpoint::Sender(sender) => {
                let node = sender
                    .source()
                    .as_ref()
                    .and_then(|s| s.address.clone())
                    .unwrap_or_default();
                replies.lock().await.insert(node, sender);
            }
            LinkEndpoint::Receiver(receiver) => {
                let address = receiver
                    .target()
                    .as_ref()
                    .and_then(|t| t.address.clone())
                    .unwrap_or_default();
                if address == "$cbs" || address == "$management" {
                    tokio::spawn(crate::cbs::serve(
                        receiver,
                        address,
                        replies.clone(),
                        state.clone(),
                    ));
                } else {
                    let (hub, partition) = parse_target(&address);
                    tokio::spawn(serve_hub_link(
                        receiver,
                        hub,
                        partition,
                        state.clone(),
                        killer.clone(),
                    ));
                }
            }
        }
    }
}

/// Receives transfers on a hub's link, applying the faults set by the test.
async fn serve_hub_link(
    mut receiver: Receiver,
    hub: String,
    partition: Option<String>,
    state: Arc<State>,
    killer: Arc<std::net::TcpStream>,
) {
    loop {
        let delivery: Delivery<Body<Value>> = match receiver.recv().await {
            Ok(delivery) => delivery,
            Err(e) => {
                tracing::debug!("broker link to {hub} ended: {e}");
                return;
            }
        };
        let (events, bytes) = match events_of(delivery.message().clone(), &hub, &partition) {
            Ok(decoded) => decoded,
            Err(e) => {
                let _ = receiver
                    .reject(&delivery, error("amqp:decode-error", &e.to_string()))
                    .await;
                continue;
            }
        };
        let mut transfer = Transfer {
            hub: hub.clone(),
            events,
            bytes,
            accepted: false,
        };
        if state.drop_next.swap(false, Ordering::SeqCst) {
            state.transfers.lock().unwrap().push(transfer);
            state.dropped.fetch_add(1, Ordering::SeqCst);
            let _ = killer.shutdown(std::net::Shutdown::Both);
            return;
        }
        let rejecting = state
            .reject_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let max = state.max_message_size.load(Ordering::SeqCst) as usize;
        let refusal = if rejecting {
            let condition = state.reject_condition.lock().unwrap().clone();
            Some(error(
                &condition,
                "the broker was told to refuse this transfer",
            ))
        } else if bytes > max {
            Some(error(
                "amqp:link:message-size-exceeded",
                &format!("{bytes} bytes exceed the limit of {max}"),
            ))
        } else {
            None
        };
        let delay = state.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        match refusal {
            Some(refusal) => {
                state.rejected.fetch_add(1, Ordering::SeqCst);
                state.transfers.lock().unwrap().push(transfer);
                let _ = receiver.reject(&delivery, refusal).await;
            }
            None => {
                // Recorded before the disposition goes out: if it is lost,
                // the sender sends again and the event arrives twice, as on
                // Event Hubs.
                transfer.accepted = true;
                state.transfers.lock().unwrap().push(transfer);
                let _ = receiver.accept(&delivery).await;
            }
        }
    }
}

pub(crate) fn error(condition: &str, description: &str) -> Error {
    Error::new(
        ErrorCondition::Custom(Symbol::from(condition)),
        Some(description.to_string()),
        None,
    )
}
