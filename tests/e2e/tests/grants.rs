//! The operator grants, the component asks: hostile components built by the
//! build (the testbed's hostile modes) either are refused when the host
//! starts, before any call, or send no token where they aim. Either way the
//! simulator's foreign listener, a host no component was granted, receives
//! nothing, and the host goes on serving well-behaved components.

use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use o365_e2e::{call_context, grant_from_settings, runtime, settings, shared_cache_dir, testbed};
use o365_host::cli::{Deployment, DeploymentArgs};
use o365_host::gate::{Incident, NetworkConfig};
use o365_host::grants::Refusal;
use o365_host::runtime::{InvokeError, WorkItem};
use o365_host::settings::SettingsSource;
use o365_host::tokens::{ClientCredentials, ClientCredentialsOptions, NoTokens, Secret};
use o365_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, FaultKind, FaultRule, Listener,
    Simulator, SimulatorConfig, Target,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn item(payload: &str) -> WorkItem {
    WorkItem {
        kind: "test".into(),
        key: "key".into(),
        payload: payload.into(),
        remember_for: None,
    }
}

/// Whatever reached the foreign listener.
fn foreign_requests(sim: &Simulator) -> Vec<o365_simulator::RequestRecord> {
    sim.requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Foreign)
        .collect()
}

/// A deployment of the audit source against the simulator, as `once`
/// builds it, with `extra` settings on top.
async fn build_audit(
    sim: &Simulator,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> anyhow::Result<Deployment> {
    let mut args =
        DeploymentArgs::for_simulator(&sim.url(), dir.join("state"), dir.join("events"), 8);
    args.sources = vec!["audit".into()];
    args.runtime.memory_mb = 128;
    args.runtime.cache_dir = Some(shared_cache_dir().display().to_string());
    let mut values: BTreeMap<String, String> =
        BTreeMap::from([("O365_REQUESTS_PER_MINUTE".to_string(), "0".to_string())]);
    values.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Deployment::build_with(&args, SettingsSource::only(values)).await
}

/// The embedded audit component still runs a full cycle on the simulator.
async fn assert_a_well_behaved_source_still_runs(sim: &Simulator, dir: &std::path::Path) {
    let mut deployment = build_audit(sim, dir, &[])
        .await
        .expect("the embedded audit component is admitted");
    deployment.options.first_run_lookback = Duration::from_secs(2 * 3600);
    let report = deployment
        .cycle(&deployment.sources[0])
        .await
        .expect("cycle");
    assert!(report.complete, "{:?}", report.summary.failures);
    assert!(report.summary.events > 0);
    assert!(
        foreign_requests(sim).is_empty(),
        "the foreign host was reached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_asking_for_the_management_token_on_its_own_host_is_refused_at_start() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let foreign = format!("{}/steal", sim.foreign_url());
    let foreign_authority = sim.foreign_url().trim_start_matches("http://").to_string();
    // Under `--api` the simulator is the Management API, and its URL the
    // audience: the testbed asks for that token on the foreign host too.
    let err = build_audit(
        &sim,
        dir.path(),
        &[
            ("O365_AUDIT_COMPONENT", connector_artifacts::TESTBED_PATH),
            ("TESTBED_MODE", "steal-token"),
            ("TESTBED_AUDIENCE", &sim.url()),
            ("TESTBED_FOREIGN_URL", &foreign),
        ],
    )
    .await
    .err()
    .expect("the start is refused");
    let refusal = err
        .downcast_ref::<Refusal>()
        .unwrap_or_else(|| panic!("not a refusal: {err:#}"));
    match refusal {
        Refusal::EndpointNotGranted {
            component,
            source_name,
            endpoint,
            setting,
            ..
        } => {
            assert_eq!(component, "testbed");
            assert_eq!(source_name, "audit");
            assert_eq!(
                endpoint,
                &format!("`{foreign_authority}` with a token for {}", sim.url())
            );
            assert!(setting.starts_with("O365_MANAGEMENT_API"), "{setting}");
        }
        other => panic!("{other:?}"),
    }
    // Refused before any call: nothing went anywhere, least of all a token.
    assert!(foreign_requests(&sim).is_empty());
    assert!(sim.requests().iter().all(|r| r.authorization.is_none()));
    assert_a_well_behaved_source_still_runs(&sim, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_asking_for_the_graph_audience_on_the_management_host_is_refused_at_start() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = build_audit(
        &sim,
        dir.path(),
        &[
            ("O365_AUDIT_COMPONENT", connector_artifacts::TESTBED_PATH),
            ("TESTBED_MODE", "other-audience"),
            ("TESTBED_OTHER_AUDIENCE", "https://graph.microsoft.com"),
        ],
    )
    .await
    .err()
    .expect("the start is refused");
    let text = format!("{err:#}");
    assert!(text.contains("component `testbed` is refused"), "{text}");
    assert!(
        text.contains("with a token for https://graph.microsoft.com"),
        "{text}"
    );
    assert!(text.contains("not granted to this source"), "{text}");
    assert!(text.contains("MESSAGE_TRACES_GRAPH_API"), "{text}");
    assert!(sim.requests().iter().all(|r| r.authorization.is_none()));
    assert_a_well_behaved_source_still_runs(&sim, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_declaring_limits_out_of_range_is_refused_naming_the_field() {
    // The same check at the runtime level: describe, then admit.
    let rt = runtime(64, Duration::from_secs(30));
    let tb = testbed(&rt).await;
    let sim_url = "http://127.0.0.1:9";
    let s = settings(&[
        ("TESTBED_MODE", "steal-token"),
        ("TESTBED_API", sim_url),
        ("TESTBED_AUDIENCE", sim_url),
        ("TESTBED_FOREIGN_URL", "https://evil.example/x"),
    ]);
    let mut info = rt.describe(&tb, &s).await.unwrap().unwrap();
    let grant = grant_from_settings("audit", &[("O365_MANAGEMENT_API", sim_url)]);
    assert!(matches!(
        grant.admit(&info),
        Err(Refusal::EndpointNotGranted { .. })
    ));
    info.endpoints.truncate(1);
    assert!(grant.admit(&info).is_ok());
    info.max_window = 0;
    let err = grant.admit(&info).unwrap_err();
    assert_eq!(
        err.to_string(),
        "component `testbed` is refused: it declares max-window = 0s, outside what the host \
         accepts (1s to 31d)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_foreign_host_gets_no_token_and_the_next_call_works() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    sim.faults()
        .add(FaultRule::new(Target::ContentList, FaultKind::ForeignNextPage).times(1));
    let rt = runtime(64, Duration::from_secs(30));
    let tb = testbed(&rt).await;
    let api = sim.url();
    // The operator points the Management API at the simulator; the testbed
    // asks for exactly that, so it is admitted...
    let grant = grant_from_settings(
        "audit",
        &[
            ("O365_MANAGEMENT_API", &api),
            ("O365_REQUESTS_PER_MINUTE", "0"),
        ],
    );
    let pairs = [
        ("TESTBED_MODE", "follow-link"),
        ("TESTBED_API", api.as_str()),
        ("TESTBED_AUDIENCE", api.as_str()),
    ];
    let s = settings(&pairs);
    let info = rt.describe(&tb, &s).await.unwrap().unwrap();
    let admission = grant.admit(&info).expect("admitted");
    let mut options = ClientCredentialsOptions::with_secret(
        DEFAULT_CLIENT_ID,
        Secret::new(DEFAULT_CLIENT_SECRET),
    );
    options.authority = api.clone();
    let tokens = Arc::new(ClientCredentials::new(
        options,
        NetworkConfig::default().client().unwrap(),
    ));
    let ctx = call_context(
        &admission,
        DEFAULT_TENANT,
        s,
        NetworkConfig::default(),
        tokens,
    );

    // ...but the listing's next link points at the foreign host, and the
    // testbed follows it without looking.
    let end = Utc::now() - ChronoDuration::hours(1);
    let start = end - ChronoDuration::hours(1);
    let fmt = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let listing = format!(
        "{api}/api/v1.0/{DEFAULT_TENANT}/activity/feed/subscriptions/content?contentType=Audit.Exchange&startTime={}&endTime={}",
        fmt(start),
        fmt(end)
    );
    let err = rt.step(&tb, &ctx, item(&listing)).await.unwrap_err();
    match &err {
        InvokeError::Refused { incidents, .. } => assert!(
            matches!(&incidents[..], [Incident::HostNotAllowed { url }] if url.starts_with(&sim.foreign_url())),
            "{incidents:?}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The granted listing carried the token; the foreign host got nothing.
    let listed: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("subscriptions/content"))
        .collect();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].listener != Listener::Foreign);
    assert!(listed[0].authorization.is_some());
    assert!(
        foreign_requests(&sim).is_empty(),
        "the foreign host was reached"
    );

    // The same runtime serves the next, well-behaved call.
    let echo = settings(&[("TESTBED_MODE", "echo")]);
    let info = rt.describe(&tb, &echo).await.unwrap().unwrap();
    let admission = grant.admit(&info).unwrap();
    let ctx = call_context(
        &admission,
        DEFAULT_TENANT,
        echo,
        NetworkConfig::default(),
        Arc::new(NoTokens),
    );
    let out = rt
        .step(&tb, &ctx, item("after"))
        .await
        .expect("next call works");
    assert_eq!(out.events.len(), 1);
}
