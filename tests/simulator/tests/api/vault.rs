//! Key Vault secrets and the App Service managed-identity endpoint, as the
//! Azure SDK talks to them.

use super::start;
use o365_simulator::{DEFAULT_IDENTITY_HEADER, MANAGED_IDENTITY_CLIENT_ID, SimulatorConfig};
use serde_json::Value;

const API: &str = "api-version=2025-07-01";

async fn identity_token(h: &super::Harness, resource: &str) -> reqwest::Response {
    h.http
        .get(h.sim.identity_endpoint())
        .query(&[("api-version", "2019-08-01"), ("resource", resource)])
        .header("X-IDENTITY-HEADER", DEFAULT_IDENTITY_HEADER)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_identity_endpoint_checks_its_header_and_answers_as_app_service_does() {
    let h = start(SimulatorConfig::default()).await;
    let refused = h
        .http
        .get(h.sim.identity_endpoint())
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", "https://vault.azure.net"),
        ])
        .header("X-IDENTITY-HEADER", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let answer = identity_token(&h, "https://vault.azure.net").await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert!(body["access_token"].as_str().unwrap().starts_with("sim."));
    // Unix seconds as a string, an hour ahead.
    let expires: i64 = body["expires_on"].as_str().unwrap().parse().unwrap();
    assert!(expires > chrono::Utc::now().timestamp() + 3000);
    assert_eq!(body["resource"], "https://vault.azure.net");
    assert_eq!(body["client_id"], MANAGED_IDENTITY_CLIENT_ID);

    let other = h
        .http
        .get(h.sim.identity_endpoint())
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", "https://vault.azure.net"),
            ("client_id", "not-assigned"),
        ])
        .header("X-IDENTITY-HEADER", DEFAULT_IDENTITY_HEADER)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 400);
}

#[tokio::test]
async fn key_vault_challenges_first_then_serves_versions_to_vault_tokens_only() {
    let h = start(SimulatorConfig::default()).await;
    let first = h
        .sim
        .set_secret("app-cert", "one", Some("application/x-pem-file"));
    let second = h.sim.set_secret("app-cert", "two", None);
    let url = |path: &str| format!("{}/secrets/{path}?{API}", h.sim.url());

    let challenge = h.http.get(url("app-cert")).send().await.unwrap();
    assert_eq!(challenge.status(), 401);
    let header = challenge.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        header.starts_with("Bearer authorization=\"https://login.microsoftonline.com/"),
        "{header}"
    );
    assert!(
        header.contains("resource=\"https://vault.azure.net\""),
        "{header}"
    );

    let vault_token = identity_token(&h, "https://vault.azure.net")
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |path: String, token: String| {
        let http = h.http.clone();
        async move { http.get(path).bearer_auth(token).send().await.unwrap() }
    };
    let latest: Value = get(url("app-cert"), vault_token.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(latest["value"], "two");
    assert!(
        latest["id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/secrets/app-cert/{second}"))
    );
    assert_eq!(latest["attributes"]["enabled"], true);
    let older: Value = get(url(&format!("app-cert/{first}")), vault_token.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(older["value"], "one");
    assert_eq!(older["contentType"], "application/x-pem-file");

    let missing = get(url("nope"), vault_token.clone()).await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SecretNotFound");

    // A token for another resource is refused, with the challenge again.
    let graph_token = identity_token(&h, "https://graph.microsoft.com")
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = get(url("app-cert"), graph_token).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().contains_key("www-authenticate"));

    // No api-version: Key Vault's BadParameter.
    let bare = h
        .http
        .get(format!("{}/secrets/app-cert", h.sim.url()))
        .bearer_auth(&vault_token)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 400);

    // Every token handed out is reported.
    let issued = h.sim.issued_tokens();
    assert!(issued.contains(&vault_token), "{issued:?}");
}

#[tokio::test]
async fn secrets_certificates_and_tokens_are_driven_over_the_admin_routes() {
    let h = start(SimulatorConfig::default()).await;
    let base = h.sim.url();
    let put = h
        .http
        .put(format!(
            "{base}/_sim/secrets/app-cert?contentType=application/x-pem-file"
        ))
        .body("pem text")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let token = identity_token(&h, "https://vault.azure.net")
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let secret: Value = h
        .http
        .get(format!("{base}/secrets/app-cert?{API}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(secret["value"], "pem text");
    assert_eq!(secret["contentType"], "application/x-pem-file");

    let tokens: Vec<String> = h
        .http
        .get(format!("{base}/_sim/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens, [token]);

    let unknown = h
        .http
        .put(format!("{base}/_sim/clients/nobody/certificate"))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let known = h
        .http
        .put(format!(
            "{base}/_sim/clients/{}/certificate",
            o365_simulator::DEFAULT_CLIENT_ID
        ))
        .body(
            o365_simulator::TestCertificate::valid(o365_simulator::TestKey::First).certificate_pem,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(known.status(), 204);
}
