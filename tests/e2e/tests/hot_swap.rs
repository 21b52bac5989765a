//! Hot swap: the running host follows the registry's pointers, with real
//! compiled components, against the simulator. A new version goes live at
//! the next slice of a running catch-up without a failed call or a lost
//! event; a damaged file or a component of another world or contract is
//! refused while the old version keeps running; a rollback and a removed
//! tenant pointer go back; a restart takes the version from the compile
//! cache without compiling.

use o365_e2e::{Pipeline, grant_from_settings, settings, source};
use o365_host::gate::NetworkConfig;
use o365_host::pipeline::{LiveSource, Source};
use o365_host::registry::follow::{Configure, Followed, Follower};
use o365_host::registry::{Described, Manifest, Registry, layout};
use o365_host::runtime::{CodeSource, CompileCache, Runtime, RuntimeConfig};
use o365_simulator::{DEFAULT_TENANT, FaultKind, FaultRule, Target, TenantSpec};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const MIN_AGE: i64 = 15 * MINUTE;
const GRAPH_PATH: &str = "/tracing/messageTraces";
const REPORTING_PATH: &str = "reporting.svc/MessageTrace";

/// Settings of a tenant that can run either version of `message-trace`.
fn pairs(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("EXCHANGE_REPORTING_API", url.to_string()),
        ("MESSAGE_TRACES_GRAPH_API", url.to_string()),
        ("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "0".to_string()),
    ]
}

fn borrowed<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// How the follower makes a loaded version this tenant's source: describe
/// with the tenant's settings and admit against the grant, as the host does.
fn configure(runtime: Arc<Runtime>, url: String) -> Configure {
    Arc::new(move |component| {
        let runtime = runtime.clone();
        let pairs = pairs(&url);
        Box::pin(async move {
            let values = settings(&borrowed(&pairs));
            let info = runtime
                .describe(&component, &values)
                .await?
                .map_err(|e| anyhow::anyhow!("setting {}: {}", e.setting, e.message))?;
            let admission = grant_from_settings("message-trace", &borrowed(&pairs)).admit(&info)?;
            Ok(Source {
                name: "message-trace".into(),
                legacy_container: None,
                component,
                info,
                settings: values,
                admission,
            })
        })
    })
}

fn follower(
    registry: &Registry,
    runtime: Arc<Runtime>,
    live: Arc<LiveSource>,
    url: &str,
) -> Follower {
    Follower::new(
        registry.clone(),
        runtime.clone(),
        vec![Followed {
            name: "message-trace".into(),
            tenant_id: DEFAULT_TENANT.into(),
            tenant_key: Some("contoso".into()),
            live,
            pinned: false,
            configure: configure(runtime, url.to_string()),
        }],
    )
}

async fn publish(registry: &Registry, path: &str, version: &str) -> Manifest {
    let wasm = std::fs::read(path).unwrap();
    publish_bytes(registry, &wasm, version).await
}

async fn publish_bytes(registry: &Registry, wasm: &[u8], version: &str) -> Manifest {
    registry
        .publish(
            wasm,
            &Described {
                name: "message-trace".into(),
                version: version.into(),
                contract: "0.1.0".into(),
                summary: String::new(),
            },
        )
        .await
        .unwrap()
        .manifest
}

/// A tenant on the Reporting Web Service version, with `days` of history.
async fn reporting_pipeline(traces_per_hour: u32, days: u64) -> Pipeline {
    let mut tenant = TenantSpec::new(DEFAULT_TENANT, 11);
    tenant.traces_per_hour = traces_per_hour;
    tenant.history = Duration::from_secs(days * 86_400);
    Pipeline::start(tenant, NetworkConfig::default(), |rt, url| async move {
        source(
            &rt,
            "message-trace",
            connector_artifacts::MESSAGE_TRACE_REPORTING_PATH,
            &borrowed(&pairs(&url)),
        )
        .await
    })
    .await
}

/// (trace id, recipient) of every row published.
fn published_rows(p: &Pipeline) -> BTreeSet<(String, String)> {
    std::fs::read_to_string(&p.events)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            let r = &event["record"];
            let id = r["id"].as_str().or(r["MessageTraceId"].as_str()).unwrap();
            let to = r["recipientAddress"]
                .as_str()
                .or(r["RecipientAddress"].as_str())
                .unwrap();
            (id.to_string(), to.to_lowercase())
        })
        .collect()
}

/// The rows a cycle at `now` must have published since `start`: received
/// before `now - min-age` and visible by `now`.
fn truth_rows(p: &Pipeline, start: i64, now: i64) -> BTreeSet<(String, String)> {
    p.sim
        .trace_truth(
            DEFAULT_TENANT,
            o365_e2e::at(start)..o365_e2e::at(now - MIN_AGE),
        )
        .into_iter()
        .filter(|t| t.available_at <= o365_e2e::at(now))
        .map(|t| (t.id, t.recipient.to_lowercase()))
        .collect()
}

/// Requests whose path contains `part`.
fn requests_to(p: &Pipeline, part: &str) -> usize {
    p.sim
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains(part))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_moved_to_graph_during_a_catch_up_loses_nothing_and_fails_no_call() {
    let p = reporting_pipeline(15, 29).await;
    let url = p.sim.url();
    // Reporting answers slowly, so the swap lands while its slices run.
    p.sim.faults().add(FaultRule::new(
        Target::Reporting,
        FaultKind::Slow { millis: 100 },
    ));
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - 25 * DAY;
    p.resume_at(start);

    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::local(dir.path());
    let reporting = publish(
        &registry,
        connector_artifacts::MESSAGE_TRACE_REPORTING_PATH,
        "0.1.0",
    )
    .await;
    let graph = publish(
        &registry,
        connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
        "0.2.0",
    )
    .await;
    registry.promote(&reporting, None).await.unwrap();
    let follower = follower(&registry, p.rt.clone(), p.source.clone(), &url);
    // The pointer names what already runs: nothing to swap.
    assert_eq!(follower.poll().await.swapped, 0);

    let (report, hwm_at_swap) = tokio::join!(p.cycle(now), async {
        // Once the first slice is checkpointed, move this tenant to Graph.
        let hwm = loop {
            if let Some(c) = p.checkpoint().filter(|c| c.high_water_mark > start) {
                break c.high_water_mark;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        registry.promote(&graph, Some("contoso")).await.unwrap();
        let polled = follower.poll().await;
        assert_eq!((polled.swapped, polled.refused), (1, 0), "{polled:?}");
        hwm
    });
    assert!(report.complete, "{:?}", report.summary.failures);
    assert!(report.summary.failures.is_empty());
    assert_eq!(
        report.swaps, 1,
        "the cycle moved to the new version at a slice boundary"
    );
    assert!(
        report.component.starts_with("message-trace 0.2.0"),
        "{}",
        report.component
    );
    assert!(
        hwm_at_swap < now - MIN_AGE - DAY,
        "the swap came before the catch-up's end"
    );
    assert!(
        requests_to(&p, GRAPH_PATH) > 0,
        "the slices after the swap asked Graph"
    );
    assert!(requests_to(&p, REPORTING_PATH) > 0);

    let truth = truth_rows(&p, start, now);
    assert!(
        truth.len() > 1000,
        "a catch-up worth the name: {}",
        truth.len()
    );
    let published = published_rows(&p);
    let missing: Vec<_> = truth.difference(&published).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} rows lost, e.g. {missing:?}",
        truth.difference(&published).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_foreign_version_is_refused_and_the_old_one_keeps_running() {
    let p = reporting_pipeline(20, 3).await;
    let url = p.sim.url();
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::local(dir.path());
    let follower = follower(&registry, p.rt.clone(), p.source.clone(), &url);
    let running = p.source.current().component.digest.clone();

    // 1. A file replaced after its promotion: the digest gives it away.
    let graph = publish(
        &registry,
        connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
        "0.2.0",
    )
    .await;
    registry.promote(&graph, None).await.unwrap();
    std::fs::write(
        dir.path().join(layout::wasm_path("message-trace", "0.2.0")),
        b"\0asm garbage",
    )
    .unwrap();
    let polled = follower.poll().await;
    assert_eq!((polled.swapped, polled.refused), (0, 1));
    assert_eq!(p.source.current().component.digest, running);
    // Refused once; not retried until a pointer changes.
    assert_eq!(follower.poll().await.refused, 0);

    // 2. A component of another world (it exports nothing).
    let foreign = publish_bytes(&registry, b"\0asm\x0d\0\x01\0", "0.3.0").await;
    registry.promote(&foreign, None).await.unwrap();
    assert_eq!(follower.poll().await.refused, 1);
    // 3. A connector of another contract version.
    let wasm = std::fs::read(connector_artifacts::MESSAGE_TRACE_GRAPH_PATH).unwrap();
    let other_contract = replace_all(
        &wasm,
        b"o365:connector/connector@0.1.0",
        b"o365:connector/connector@0.9.0",
    );
    let other = publish_bytes(&registry, &other_contract, "0.4.0").await;
    registry.promote(&other, None).await.unwrap();
    assert_eq!(follower.poll().await.refused, 1);
    assert_eq!(p.source.current().component.digest, running);
    // The old version still runs whole cycles.
    let now = chrono::Utc::now().timestamp_millis();
    p.resume_at(now - 6 * HOUR);
    let report = p.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert!(
        report.component.starts_with("message-trace 0.1.0"),
        "{}",
        report.component
    );

    let refusals: f64 = o365_host::telemetry::snapshot()
        .iter()
        .filter(|(k, _)| k.starts_with("component_refusals,source=message-trace"))
        .map(|(_, v)| v)
        .sum();
    assert!(refusals >= 3.0, "each refusal is counted: {refusals}");

    // Rolling back to a good version brings it in.
    let good = publish(
        &registry,
        connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
        "0.2.1",
    )
    .await;
    registry.promote(&good, None).await.unwrap();
    assert_eq!(follower.poll().await.swapped, 1);
    assert_eq!(
        p.source.current().info.version,
        "0.2.0",
        "the Graph build runs"
    );
}

fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut replaced = 0;
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            replaced += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(replaced > 0, "the export name is in the binary");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_and_a_removed_tenant_pointer_go_back() {
    let p = reporting_pipeline(20, 3).await;
    let url = p.sim.url();
    let configured = p.source.current().component.digest.clone();
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::local(dir.path());
    let follower = follower(&registry, p.rt.clone(), p.source.clone(), &url);
    let graph = publish(
        &registry,
        connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
        "0.2.0",
    )
    .await;
    let reporting = publish(
        &registry,
        connector_artifacts::MESSAGE_TRACE_REPORTING_PATH,
        "0.1.0",
    )
    .await;

    // Everyone on Graph, then rolled back to nothing but the settings.
    registry.promote(&graph, None).await.unwrap();
    assert_eq!(follower.poll().await.swapped, 1);
    assert_eq!(p.source.current().component.digest, graph.sha256);
    // This tenant back on Reporting by its own pointer (by tenant id).
    registry
        .promote(&reporting, Some(DEFAULT_TENANT))
        .await
        .unwrap();
    assert_eq!(follower.poll().await.swapped, 1);
    assert_eq!(p.source.current().component.digest, reporting.sha256);
    // Its pointer removed: it follows current.json (Graph) again.
    registry
        .rollback("message-trace", Some(DEFAULT_TENANT))
        .await
        .unwrap();
    assert_eq!(follower.poll().await.swapped, 1);
    assert_eq!(p.source.current().component.digest, graph.sha256);
    // current.json gone: the version the settings chose.
    std::fs::remove_file(dir.path().join("message-trace/current.json")).unwrap();
    assert_eq!(follower.poll().await.swapped, 1);
    assert_eq!(p.source.current().component.digest, configured);
    let versions = follower.live_versions();
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0].3,
        o365_host::registry::follow::Running::Configured
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_takes_the_current_version_from_the_compile_cache() {
    let p = reporting_pipeline(20, 3).await;
    let url = p.sim.url();
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::local(dir.path().join("registry"));
    let graph = publish(
        &registry,
        connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
        "0.2.0",
    )
    .await;
    registry.promote(&graph, None).await.unwrap();
    let cache = dir.path().join("cache");
    let host = || {
        Runtime::new(RuntimeConfig {
            cache: Some(CompileCache::new(&cache)),
            ..RuntimeConfig::default()
        })
        .unwrap()
    };
    // First start: compiled. Second start (a new runtime, as after a
    // restart): read from the cache.
    for expected in [CodeSource::Compiled, CodeSource::Cache] {
        let live = Arc::new(LiveSource::new(
            source(
                &p.rt,
                "message-trace",
                connector_artifacts::MESSAGE_TRACE_REPORTING_PATH,
                &borrowed(&pairs(&url)),
            )
            .await,
        ));
        let follower = follower(&registry, host(), live.clone(), &url);
        let polled = follower.poll().await;
        assert_eq!(polled.loaded, vec![("0.2.0".to_string(), expected)]);
        assert_eq!(live.current().component.digest, graph.sha256);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_left_unfinished_by_one_version_is_planned_again_by_the_next() {
    let p = reporting_pipeline(30, 6).await;
    let url = p.sim.url();
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - 5 * DAY;
    p.resume_at(start);
    // The Reporting version's cycle is cut by a Functions-style deadline in
    // the middle of its slice.
    p.sim.faults().add(FaultRule::new(
        Target::Reporting,
        FaultKind::Slow { millis: 300 },
    ));
    let began = std::time::Instant::now();
    let report = p
        .cycle_until(
            now,
            Some(o365_host::pipeline::Deadline::before_timeout(
                began,
                Duration::from_secs(2),
            )),
        )
        .await;
    assert!(report.stopped.is_some(), "{report:?}");
    let reporting_digest = p.source.current().component.digest.clone();
    let slice = p
        .checkpoint()
        .unwrap()
        .slice
        .expect("a slice is left unfinished");
    assert_eq!(slice.planned_by.as_deref(), Some(reporting_digest.as_str()));
    assert!(!slice.outstanding.is_empty());
    p.sim.faults().clear();

    // The Graph version takes over (as a promote would make it) and finishes.
    let graph = source(
        &p.rt,
        "message-trace",
        connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
        &borrowed(&pairs(&url)),
    )
    .await;
    p.source.swap(Arc::new(graph));
    let reporting_calls = p.sim.requests().len();
    let report = p.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!(report.summary.retries, 0);
    // None of the old version's items was stepped by the new one: every
    // request after the swap went to Graph.
    assert!(
        p.sim.requests()[reporting_calls..]
            .iter()
            .filter(|r| !r.path_and_query.contains("/oauth2/"))
            .all(|r| r.path_and_query.contains(GRAPH_PATH)),
        "an old work item was sent after the swap"
    );
    let truth = truth_rows(&p, start, now);
    let published = published_rows(&p);
    let lost: Vec<_> = truth.difference(&published).collect();
    assert!(
        lost.is_empty(),
        "{} rows lost across the swap (slice {}..{}, cycle at {now}), first: {:?}",
        lost.len(),
        slice.start,
        slice.end,
        &lost[..lost.len().min(5)]
    );
    assert!(p.checkpoint().unwrap().slice.is_none());
}
