//! Outbound calls go through the operator's proxy (`APP_PROXY_URI`) with its
//! token (`APP_PROXY_TOKEN`).

use axum::extract::Request;
use o365_e2e::{call_context, grant, runtime, settings, testbed};
use o365_host::gate::{NetworkConfig, ProxyConfig};
use o365_host::runtime::WorkItem;
use o365_host::tokens::{Secret, StaticToken};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Seen {
    uri: String,
    proxy_authorization: Option<String>,
    authorization: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_through_the_proxy_with_its_token() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let proxy = axum::Router::new().fallback(move |request: Request| {
        let record = record.clone();
        async move {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            record.lock().unwrap().push(Seen {
                uri: request.uri().to_string(),
                proxy_authorization: header("proxy-authorization"),
                authorization: header("authorization"),
            });
            "answered by the proxy"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, proxy).await });

    let rt = runtime(64, Duration::from_secs(30));
    let tb = testbed(&rt).await;
    // The API itself does not exist: only the proxy can answer.
    let api = "http://127.0.0.1:9";
    let s = settings(&[
        ("TESTBED_MODE", "fetch"),
        ("TESTBED_API", api),
        ("TESTBED_AUDIENCE", "https://api.example"),
    ]);
    let info = rt.describe(&tb, &s).await.unwrap().unwrap();
    let network = NetworkConfig {
        proxy: Some(ProxyConfig {
            uri: format!("http://{proxy_addr}"),
            token: Some(Secret::new("proxy-secret")),
        }),
        ..NetworkConfig::default()
    };
    let admission = grant("testbed", &[(api, Some("https://api.example"))])
        .admit(&info)
        .unwrap();
    let ctx = call_context(
        &admission,
        "t",
        s,
        network,
        Arc::new(StaticToken::new("api-token")),
    );
    let url = format!("{api}/data?x=1");
    let item = WorkItem {
        kind: "fetch".into(),
        key: "k".into(),
        payload: url.clone(),
        remember_for: None,
    };
    let out = rt
        .step(&tb, &ctx, item)
        .await
        .expect("answered through the proxy");
    assert!(out.events[0].body.contains("answered by the proxy"));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].uri, url);
    assert_eq!(
        seen[0].proxy_authorization.as_deref(),
        Some("Bearer proxy-secret")
    );
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer api-token"));
}
