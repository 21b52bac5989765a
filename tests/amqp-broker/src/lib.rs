//! A small Event Hubs-compatible AMQP 1.0 broker for tests.
//!
//! It speaks to the real `azure_messaging_eventhubs` producer over a real
//! socket: SASL ANONYMOUS (what the producer uses with a custom `amqp://`
//! endpoint), `$cbs` put-token (recorded, refusable), sender links to
//! `<hub>` and `<hub>/Partitions/<id>` with a maximum message size (1 MiB,
//! as Standard), and batch transfers (message format `0x80013700`, one data
//! section per event) that it unpacks and records one event at a time.
//!
//! Faults are set from the test through [`Broker`]: reject the next N
//! transfers with an error condition, delay dispositions, drop the TCP
//! connection when the next transfer arrives (without settling it), refuse
//! CBS tokens. It does not implement TLS, real authorization, quotas,
//! throttling by rate or partition ownership; `$management` answers only the
//! READ of a hub's and a partition's properties.

mod cbs;
mod connection;
mod record;

pub use record::{Received, Transfer};

use fe2o3_amqp::acceptor::{ConnectionAcceptor, SaslAnonymousMechanism};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// The maximum message size a Standard namespace advertises.
pub const STANDARD_MAX_MESSAGE_SIZE: u64 = 1024 * 1024;

/// The error condition Event Hubs uses when it is too busy.
pub const SERVER_BUSY: &str = "com.microsoft:server-busy";

/// What the broker shares between its connections and the test.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) transfers: Mutex<Vec<Transfer>>,
    pub(crate) tokens: Mutex<Vec<(String, String)>>,
    pub(crate) reject_next: AtomicUsize,
    pub(crate) reject_condition: Mutex<String>,
    pub(crate) delay_ms: AtomicU64,
    pub(crate) drop_next: AtomicBool,
    pub(crate) refuse_cbs: AtomicBool,
    pub(crate) max_message_size: AtomicU64,
    pub(crate) connections: AtomicUsize,
    pub(crate) dropped: AtomicUsize,
    pub(crate) rejected: AtomicUsize,
}

/// A running broker on 127.0.0.1; it stops when dropped.
pub struct Broker {
    port: u16,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Broker {
    /// Listens on a free port of 127.0.0.1 with a 1 MiB message size limit.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_max_message_size(STANDARD_MAX_MESSAGE_SIZE).await
    }

    /// Listens on a free port with the given message size limit.
    pub async fn start_with_max_message_size(max: u64) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State::default());
        state.max_message_size.store(max, Ordering::SeqCst);
        *state.reject_condition.lock().unwrap() = SERVER_BUSY.into();
        let acceptor = Arc::new(
            ConnectionAcceptor::builder()
                .container_id("amqp-broker")
                .sasl_acceptor(SaslAnonymousMechanism::new())
                .build(),
        );
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, acceptor) = (shared.clone(), acceptor.clone());
                tokio::spawn(async move {
                    if let Err(e) = connection::serve(&acceptor, stream, state).await {
                        tracing::debug!("broker connection ended: {e:#}");
                    }
                });
            }
        });
        Ok(Self { port, state, task })
    }

    /// The endpoint to give the producer (`with_custom_endpoint`).
    pub fn endpoint(&self) -> String {
        format!("amqp://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every event of every accepted transfer, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let transfers = self.state.transfers.lock().unwrap();
        transfers
            .iter()
            .filter(|t| t.accepted)
            .flat_map(|t| t.events.iter().cloned())
            .collect()
    }

    /// Every transfer that arrived (accepted, rejected or dropped).
    pub fn transfers(&self) -> Vec<Transfer> {
        self.state.transfers.lock().unwrap().clone()
    }

    /// How many transfers were accepted (one per batch sent).
    pub fn accepted_batches(&self) -> usize {
        self.state
            .transfers
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.accepted)
            .count()
    }

    /// CBS tokens put, as (audience, token type).
    pub fn tokens(&self) -> Vec<(String, String)> {
        self.state.tokens.lock().unwrap().clone()
    }

    /// Rejects the next `n` transfers with [`SERVER_BUSY`].
    pub fn reject_next(&self, n: usize) {
        self.reject_next_with(n, SERVER_BUSY);
    }

    /// Rejects the next `n` transfers with this error condition.
    pub fn reject_next_with(&self, n: usize, condition: &str) {
        *self.state.reject_condition.lock().unwrap() = condition.into();
        self.state.reject_next.store(n, Ordering::SeqCst);
    }

    /// Waits this long before settling each transfer.
    pub fn delay_dispositions(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Closes the TCP connection when the next transfer arrives, without
    /// settling it: the sender cannot know whether it was stored.
    pub fn drop_connection_on_next_transfer(&self) {
        self.state.drop_next.store(true, Ordering::SeqCst);
    }

    /// Answers every CBS put-token with 401 while `refuse` holds.
    pub fn refuse_tokens(&self, refuse: bool) {
        self.state.refuse_cbs.store(refuse, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Connections dropped on purpose so far.
    pub fn dropped_connections(&self) -> usize {
        self.state.dropped.load(Ordering::SeqCst)
    }

    /// Transfers rejected on purpose so far.
    pub fn rejected_transfers(&self) -> usize {
        self.state.rejected.load(Ordering::SeqCst)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `f` until it is true or `timeout` passes (for tests polling the broker).
pub async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
