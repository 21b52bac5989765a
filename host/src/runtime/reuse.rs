//! Warm instances of reusable components, kept between calls of one cycle.
//!
//! A fresh instance per call is the contract's default, and its cost is
//! mostly not the guest's work: instantiating, the first touch of fresh
//! linear memory (about one page fault per event) and returning the memory
//! to the kernel afterwards. A component that declares it keeps nothing
//! between calls (the `o365:connector/reusable` custom section, written by
//! `connector_sdk::reusable!()`) may instead run several calls on one
//! instance, which took up to a third off the CPU per event
//! (README, "Benchmarks").
//!
//! What keeps that safe:
//! - An instance is reused only for the same component version, gate and
//!   gate policy it was made for, compared by identity while the pool holds
//!   them. A cycle builds its policy once per tenant, so instances never
//!   cross tenants or cycles.
//! - Only a call that returned normally with no gate incident gives its
//!   instance back; a trap, a deadline, a memory limit or a refusal drops it.
//!   An instance that grew past [`MAX_REUSED_MEMORY`] or served
//!   [`MAX_CALLS_PER_INSTANCE`] calls is dropped too, so a kept instance's
//!   memory stays small and a slow leak in a guest cannot accumulate.
//! - Idle instances hold instance slots. A call that finds no free slot
//!   takes one from the oldest idle instance, and no instance is parked
//!   while a call waits for a slot (both decided under the pool's lock), so
//!   a call never waits on an idle instance.
//! - Idle instances expire after `RuntimeConfig::idle_ttl` (the epoch thread
//!   sweeps once a second), so a host between cycles keeps no instance
//!   memory.

use super::bindings::Source;
use super::state::{InvocationProbe, InvocationState};
use crate::gate::{Gate, GatePolicy};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;

/// Custom section whose presence declares a component reusable
/// (`connector_sdk::REUSABLE_SECTION`).
pub const REUSABLE_SECTION: &str = "o365:connector/reusable";

/// An instance that grew its linear memories past this is not kept.
pub const MAX_REUSED_MEMORY: usize = 16 * 1024 * 1024;

/// An instance serves at most this many calls.
pub const MAX_CALLS_PER_INSTANCE: u32 = 256;

/// Whether `wasm` (a component) declares itself reusable: a custom section
/// named [`REUSABLE_SECTION`] anywhere in it, its core modules included
/// (that is where a Rust guest's `#[link_section]` ends up).
pub fn declares_reusable(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(wasm).any(|payload| {
        matches!(payload, Ok(wasmparser::Payload::CustomSection(section))
            if section.name() == REUSABLE_SECTION)
    })
}

/// One instance and everything that lives as long as it.
pub(super) struct Instance {
    pub store: Store<InvocationState>,
    pub probe: InvocationProbe,
    /// The instantiated component; none until the first call instantiates.
    pub source: Option<Source>,
    /// Calls it has served.
    pub calls: u32,
    /// Its instance slot.
    _slot: OwnedSemaphorePermit,
}

impl Instance {
    /// A store for a new instance in `slot`.
    pub fn new(
        store: Store<InvocationState>,
        probe: InvocationProbe,
        slot: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            store,
            probe,
            source: None,
            calls: 0,
            _slot: slot,
        }
    }

    /// Whether it may serve another call.
    fn fit_for_reuse(&self) -> bool {
        self.calls < MAX_CALLS_PER_INSTANCE
            && self.store.data().limits.memory_grown_to() <= MAX_REUSED_MEMORY
    }
}

struct Idle {
    component: u64,
    gate: Arc<Gate>,
    policy: Arc<GatePolicy>,
    parked: Instant,
    instance: Instance,
}

impl Idle {
    fn serves(&self, component: u64, gate: &Arc<Gate>, policy: &Arc<GatePolicy>) -> bool {
        self.component == component
            && Arc::ptr_eq(&self.gate, gate)
            && Arc::ptr_eq(&self.policy, policy)
    }
}

/// The instance slots and the idle instances that hold some of them.
pub(super) struct InstancePool {
    slots: Arc<Semaphore>,
    idle: Mutex<VecDeque<Idle>>,
    max_idle: usize,
    ttl: Duration,
    /// Calls waiting for a slot.
    waiting: AtomicUsize,
    /// Calls served by an instance made for them, and by a warm one.
    fresh_calls: AtomicU64,
    warm_calls: AtomicU64,
}

/// How many calls ran on a fresh instance and how many on a warm one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceCounts {
    /// Calls that instantiated (every call of a component that is not
    /// reusable, and the first call of each warm instance).
    pub fresh: u64,
    /// Calls that ran on an instance an earlier call of the cycle used.
    pub warm: u64,
}

/// Counts a call as waiting for a slot while it lives (a call given up
/// while it waits stops counting too).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InstancePool {
    /// `slots` instances at once, at most `max_idle` of them idle, each for
    /// at most `ttl`.
    pub fn new(slots: usize, max_idle: usize, ttl: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            idle: Mutex::new(VecDeque::new()),
            max_idle,
            ttl,
            waiting: AtomicUsize::new(0),
            fresh_calls: AtomicU64::new(0),
            warm_calls: AtomicU64::new(0),
        }
    }

    /// Counts a call by the kind of instance it runs on.
    pub fn count_call(&self, warm: bool) {
        let counter = if warm {
            &self.warm_calls
        } else {
            &self.fresh_calls
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls so far, by the kind of instance they ran on.
    pub fn counts(&self) -> InstanceCounts {
        InstanceCounts {
            fresh: self.fresh_calls.load(Ordering::Relaxed),
            warm: self.warm_calls.load(Ordering::Relaxed),
        }
    }

    /// An idle instance of `component` made for this gate and policy.
    pub fn take(
        &self,
        component: u64,
        gate: &Arc<Gate>,
        policy: &Arc<GatePolicy>,
    ) -> Option<Instance> {
        let mut idle = self.idle.lock().ok()?;
        // The most recently parked one: its memory is the warmest.
        let at = idle
            .iter()
            .rposition(|i| i.serves(component, gate, policy))?;
        idle.remove(at).map(|i| i.instance)
    }

    /// A free instance slot, waiting for one if every slot is busy. When
    /// none is free, the oldest idle instance gives up its slot.
    pub async fn slot(&self) -> OwnedSemaphorePermit {
        let (waiting, evicted) = {
            let Ok(mut idle) = self.idle.lock() else {
                return self.wait_for_slot(Waiting::new(&self.waiting)).await;
            };
            if let Ok(permit) = self.slots.clone().try_acquire_owned() {
                return permit;
            }
            // Counted under the lock, so that `give_back` sees this call
            // waiting and hands its slot over instead of parking it.
            (Waiting::new(&self.waiting), idle.pop_front())
        };
        // Dropped outside the lock: releasing an instance's memory is a
        // system call.
        drop(evicted);
        self.wait_for_slot(waiting).await
    }

    async fn wait_for_slot(&self, _waiting: Waiting<'_>) -> OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the instance semaphore is never closed")
    }

    /// Keeps `instance`, which just served a call cleanly, for the next call
    /// of the same component, gate and policy; drops it instead if it is not
    /// fit or a call is waiting for a slot, and drops the oldest idle one
    /// when more than `max_idle` would be kept.
    pub fn give_back(
        &self,
        component: u64,
        gate: Arc<Gate>,
        policy: Arc<GatePolicy>,
        instance: Instance,
    ) {
        if self.max_idle == 0 || !instance.fit_for_reuse() {
            return;
        }
        let dropped = {
            let Ok(mut idle) = self.idle.lock() else {
                return;
            };
            // A call is waiting for a slot: hand this one over instead.
            if self.waiting.load(Ordering::SeqCst) > 0 {
                return drop(idle);
            }
            idle.push_back(Idle {
                component,
                gate,
                policy,
                parked: Instant::now(),
                instance,
            });
            (idle.len() > self.max_idle)
                .then(|| idle.pop_front())
                .flatten()
        };
        drop(dropped);
    }

    /// Drops the instances idle for longer than the pool's time to live.
    pub fn expire(&self) {
        let expired: Vec<Idle> = {
            let Ok(mut idle) = self.idle.lock() else {
                return;
            };
            let keep = idle
                .iter()
                .position(|i| i.parked.elapsed() < self.ttl)
                .unwrap_or(idle.len());
            idle.drain(..keep).collect()
        };
        drop(expired);
    }

    /// How many instances are idle (tests, diagnostics).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }
}
