//! HTTPS with the CA generated at start.

use o365_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, Listener, SimulatorConfig,
};
use serde_json::Value;

use crate::{MANAGE, start};

#[tokio::test]
async fn https_works_with_the_generated_ca() {
    let h = start(SimulatorConfig {
        tls: true,
        page_size: 3,
        ..SimulatorConfig::default()
    })
    .await;
    let https = h.sim.https_url().expect("https url");
    assert!(https.starts_with("https://localhost:"));
    let ca = reqwest::Certificate::from_pem(h.sim.ca_pem().unwrap().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .build()
        .unwrap();

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
        ("scope", "https://manage.office.com/.default"),
    ];
    let body: Value = client
        .post(format!("{https}/{DEFAULT_TENANT}/oauth2/v2.0/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let listing = format!(
        "{https}/api/v1.0/{DEFAULT_TENANT}/activity/feed/subscriptions/content?contentType=Audit.Exchange"
    );
    let response = client
        .get(&listing)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let next = response.headers()["NextPageUri"].to_str().unwrap();
    assert!(
        next.starts_with(&https),
        "links stay on the host and scheme used: {next}"
    );
    let items: Vec<Value> = response.json().await.unwrap();
    assert!(items[0]["contentUri"].as_str().unwrap().starts_with(&https));
    assert!(
        h.sim
            .requests()
            .iter()
            .any(|r| r.listener == Listener::Tls && r.status == 200)
    );

    // A client that does not trust the CA is refused.
    let untrusting = reqwest::Client::builder().use_rustls_tls().build().unwrap();
    assert!(untrusting.get(&listing).send().await.is_err());
    // The plain listener still works alongside.
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &h.token(MANAGE).await)
            .await
            .status(),
        200
    );
}
