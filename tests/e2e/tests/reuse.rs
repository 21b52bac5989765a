//! Warm instances: a component that declares itself reusable runs the calls
//! of one cycle (one gate policy) on warm instances; one that does not gets
//! a fresh instance for every call. Whatever is reused never crosses a
//! tenant or a cycle, never follows a trap, and never keeps a slot a waiting
//! call needs.
//!
//! The testbed's `count` mode counts calls in a global, which is exactly the
//! state a reused instance keeps: a count above 1 means the call ran on an
//! instance an earlier call used.

use o365_e2e::{call_context, grant, item, runtime, runtime_config, settings, testbed};
use o365_host::gate::{GatePolicy, NetworkConfig};
use o365_host::runtime::{
    CallContext, InvokeError, LoadedComponent, REUSABLE_SECTION, Runtime, RuntimeConfig,
    declares_reusable,
};
use o365_host::tokens::NoTokens;
use std::sync::Arc;
use std::time::Duration;

/// `wasm` with the reuse declaration appended as a custom section at the
/// component's top level (where any toolchain can put it, e.g. with
/// `wasm-tools`; the SDK's macro puts it inside the core module).
fn declared_reusable(wasm: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut content = Vec::new();
    leb(REUSABLE_SECTION.len(), &mut content);
    content.extend_from_slice(REUSABLE_SECTION.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0); // custom section
    leb(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

async fn reusable_testbed(rt: &Runtime) -> Arc<LoadedComponent> {
    let wasm = std::fs::read(connector_artifacts::TESTBED_PATH).expect("testbed built");
    let component = rt
        .load("testbed (declared reusable)", &declared_reusable(&wasm))
        .await
        .expect("the declared testbed loads");
    assert!(component.reusable, "the appended section declares reuse");
    Arc::new(component)
}

/// A context of its own (a new gate policy, as each cycle makes) for
/// `tenant`, in `count` mode.
async fn counting(rt: &Runtime, tb: &LoadedComponent, tenant: &str) -> CallContext {
    let s = settings(&[("TESTBED_MODE", "count")]);
    let info = rt.describe(tb, &s).await.unwrap().unwrap();
    let admission = grant("testbed", &[]).admit(&info).expect("admitted");
    call_context(
        &admission,
        tenant,
        s,
        NetworkConfig::default(),
        Arc::new(NoTokens),
    )
}

/// The calls the instance had served, this one included.
async fn count(rt: &Runtime, tb: &LoadedComponent, ctx: &CallContext, payload: &str) -> u64 {
    let out = rt
        .step(tb, ctx, item(payload))
        .await
        .expect("count succeeds");
    let body: serde_json::Value = serde_json::from_str(&out.events[0].body).unwrap();
    body["detail"]["calls"].as_u64().expect("a count")
}

#[test]
fn the_connectors_declare_themselves_reusable_and_the_testbed_does_not() {
    // The SDK's `reusable!()` survives the build into the component.
    assert!(declares_reusable(connector_artifacts::AUDIT_WASM));
    assert!(declares_reusable(
        connector_artifacts::MESSAGE_TRACE_GRAPH_WASM
    ));
    assert!(declares_reusable(
        connector_artifacts::MESSAGE_TRACE_REPORTING_WASM
    ));
    let testbed = std::fs::read(connector_artifacts::TESTBED_PATH).unwrap();
    assert!(!declares_reusable(&testbed));
    assert!(declares_reusable(&declared_reusable(&testbed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_does_not_declare_it_gets_a_fresh_instance_every_call() {
    let rt = runtime(64, Duration::from_secs(30));
    let tb = testbed(&rt).await;
    assert!(!tb.reusable);
    let ctx = counting(&rt, &tb, "tenant-a").await;
    let before = rt.instance_counts();
    for call in 0..4 {
        assert_eq!(
            count(&rt, &tb, &ctx, "x").await,
            1,
            "call {call} saw a global an earlier call set"
        );
    }
    assert_eq!(rt.idle_instances(), 0);
    let after = rt.instance_counts();
    assert_eq!((after.fresh - before.fresh, after.warm), (4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reusable_component_runs_a_cycles_calls_on_a_warm_instance() {
    let rt = runtime(64, Duration::from_secs(30));
    let tb = reusable_testbed(&rt).await;
    let ctx = counting(&rt, &tb, "tenant-a").await;
    let before = rt.instance_counts();
    for expected in 1..=5 {
        assert_eq!(count(&rt, &tb, &ctx, "x").await, expected);
    }
    assert_eq!(rt.idle_instances(), 1, "one instance served them all");
    let after = rt.instance_counts();
    assert_eq!(
        (after.fresh - before.fresh, after.warm - before.warm),
        (1, 4),
        "the runtime counts the calls by the instance they ran on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_instances_never_cross_tenants_cycles_or_component_loads() {
    let rt = runtime(64, Duration::from_secs(30));
    let tb = reusable_testbed(&rt).await;
    let first = counting(&rt, &tb, "tenant-a").await;
    assert_eq!(count(&rt, &tb, &first, "x").await, 1);
    assert_eq!(count(&rt, &tb, &first, "x").await, 2);

    let other_tenant = counting(&rt, &tb, "tenant-b").await;
    assert_eq!(count(&rt, &tb, &other_tenant, "x").await, 1);
    // The same tenant in its next cycle starts afresh too: a deployment
    // shares its gate between cycles, and a cycle makes a new policy (equal
    // in content to the last one).
    let next_cycle = CallContext {
        policy: Arc::new(GatePolicy::clone(&first.policy)),
        ..first.clone()
    };
    assert_eq!(count(&rt, &tb, &next_cycle, "x").await, 1);
    // So does another load of the component (a new version swapped in).
    let reloaded = reusable_testbed(&rt).await;
    assert_eq!(count(&rt, &reloaded, &first, "x").await, 1);
    // And the first cycle still has its own.
    assert_eq!(count(&rt, &tb, &first, "x").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_trapped_is_dropped_and_the_trap_shows_only_its_own_stderr() {
    let rt = runtime(64, Duration::from_secs(30));
    let tb = reusable_testbed(&rt).await;
    let ctx = counting(&rt, &tb, "tenant-a").await;
    assert_eq!(count(&rt, &tb, &ctx, "x").await, 1);
    assert_eq!(count(&rt, &tb, &ctx, "x").await, 2);

    let err = rt.step(&tb, &ctx, item("trap")).await.unwrap_err();
    let InvokeError::Trap { message, .. } = &err else {
        panic!("expected a trap, got {err:?}");
    };
    assert!(
        message.contains("told to trap on call 3") && message.contains("count call 3"),
        "{message}"
    );
    assert!(
        !message.contains("count call 2"),
        "an earlier call's stderr explains this trap: {message}"
    );
    assert_eq!(
        count(&rt, &tb, &ctx, "x").await,
        1,
        "the trapped instance was reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_stopped_by_its_deadline_its_memory_limit_or_the_gate_is_dropped() {
    let rt = runtime(16, Duration::from_secs(1));
    let tb = reusable_testbed(&rt).await;
    let stopped = [
        ("loop", "deadline"),
        ("grow", "memory limit"),
        ("fetch:https://evil.example/", "gate refusal"),
    ];
    for (payload, why) in stopped {
        // A cycle of its own for each way of being stopped.
        let ctx = counting(&rt, &tb, "tenant-a").await;
        assert_eq!(count(&rt, &tb, &ctx, "x").await, 1, "before the {why}");
        assert_eq!(count(&rt, &tb, &ctx, "x").await, 2, "before the {why}");
        let err = rt.step(&tb, &ctx, item(payload)).await.unwrap_err();
        let expected = match why {
            "deadline" => matches!(err, InvokeError::Deadline { .. }),
            "memory limit" => matches!(err, InvokeError::MemoryLimit { .. }),
            _ => matches!(err, InvokeError::Refused { .. }),
        };
        assert!(expected, "{why}: {err:?}");
        assert_eq!(
            count(&rt, &tb, &ctx, "x").await,
            1,
            "the instance stopped by the {why} was reused"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_grew_large_is_not_kept() {
    let rt = runtime(64, Duration::from_secs(30));
    let tb = reusable_testbed(&rt).await;
    let ctx = counting(&rt, &tb, "tenant-a").await;
    assert_eq!(count(&rt, &tb, &ctx, "grow").await, 1);
    assert_eq!(rt.idle_instances(), 0);
    assert_eq!(count(&rt, &tb, &ctx, "x").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_give_their_slots_to_waiting_calls_and_expire() {
    // One slot in all: every idle instance holds the only slot.
    let rt = Runtime::new(RuntimeConfig {
        max_instances: 1,
        idle_ttl: Duration::from_millis(300),
        ..runtime_config(64, Duration::from_secs(30))
    })
    .expect("runtime");
    let tb = reusable_testbed(&rt).await;
    let tenants: Vec<CallContext> = three_tenants(&rt, &tb).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (rt, tb, ctx) = (rt.clone(), tb.clone(), tenants[i % 3].clone());
        tasks.spawn(async move { rt.step(&tb, &ctx, item("x")).await.map(drop) });
    }
    let all = async {
        while let Some(done) = tasks.join_next().await {
            done.unwrap().expect("each call gets the slot in turn");
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("no call waits forever on an idle instance's slot");

    assert_eq!(rt.idle_instances(), 1);
    let expired = async {
        while rt.idle_instances() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), expired)
        .await
        .expect("the idle instance expires after its time to live");
}

async fn three_tenants(rt: &Runtime, tb: &LoadedComponent) -> Vec<CallContext> {
    let mut contexts = Vec::new();
    for tenant in ["tenant-a", "tenant-b", "tenant-c"] {
        contexts.push(counting(rt, tb, tenant).await);
    }
    contexts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_instance_is_kept_when_reuse_is_switched_off() {
    let rt = Runtime::new(RuntimeConfig {
        idle_instances: 0,
        ..runtime_config(64, Duration::from_secs(30))
    })
    .expect("runtime");
    let tb = reusable_testbed(&rt).await;
    let ctx = counting(&rt, &tb, "tenant-a").await;
    for _ in 0..3 {
        assert_eq!(count(&rt, &tb, &ctx, "x").await, 1);
    }
}
