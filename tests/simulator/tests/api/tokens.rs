//! Entra ID token endpoint: secrets, certificate assertions, AADSTS errors,
//! and the audience check of the APIs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use o365_simulator::{ClientSpec, DEFAULT_TENANT, SimulatorConfig};
use serde_json::json;
use sha1::{Digest, Sha1};

use crate::{GRAPH, MANAGE, start, status_json};

const KEY_PEM: &str = include_str!("client-key.pem");
const CERT_CLIENT: &str = "22222222-2222-2222-2222-222222222222";

#[tokio::test]
async fn secret_issues_a_bearer_token_and_a_wrong_secret_is_aadsts7000215() {
    let h = start(SimulatorConfig::default()).await;
    let token = h.token(MANAGE).await;
    assert!(!token.is_empty());

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", o365_simulator::DEFAULT_CLIENT_ID),
        ("client_secret", "nope"),
        ("scope", "https://manage.office.com/.default"),
    ];
    let (status, body) = status_json(h.token_response(DEFAULT_TENANT, &form).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215:")
    );
    assert!(
        body["trace_id"].is_string()
            && body["correlation_id"].is_string()
            && body["timestamp"].is_string()
    );
}

#[tokio::test]
async fn token_errors_carry_the_real_aadsts_codes() {
    let h = start(SimulatorConfig::default()).await;
    let form = |client: &'static str, scope: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", "simulator-secret"),
            ("scope", scope),
        ]
    };
    let cases = [
        (
            DEFAULT_TENANT,
            form(
                "99999999-0000-0000-0000-000000000000",
                "https://manage.office.com/.default",
            ),
            400,
            "unauthorized_client",
            700016,
        ),
        (
            DEFAULT_TENANT,
            form(
                o365_simulator::DEFAULT_CLIENT_ID,
                "https://manage.office.com",
            ),
            400,
            "invalid_scope",
            1002012,
        ),
        (
            DEFAULT_TENANT,
            form(
                o365_simulator::DEFAULT_CLIENT_ID,
                "https://example.com/.default",
            ),
            400,
            "invalid_resource",
            500011,
        ),
        (
            "not-a-tenant",
            form(
                o365_simulator::DEFAULT_CLIENT_ID,
                "https://manage.office.com/.default",
            ),
            400,
            "invalid_request",
            90002,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let (got, body) = status_json(h.token_response(tenant, &form).await).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (status, error),
            "{body}"
        );
        assert_eq!(body["error_codes"], json!([code]));
    }
    let (status, body) = status_json(
        h.token_response(DEFAULT_TENANT, &[("client_id", "x")])
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (400, json!([900144]))
    );
}

/// A client whose certificate (for the fixture key) is registered, and that certificate's DER.
fn certificate_client() -> (ClientSpec, Vec<u8>) {
    let key = rcgen::KeyPair::from_pem(KEY_PEM).unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let spec = ClientSpec {
        client_id: CERT_CLIENT.into(),
        secret: None,
        certificate_pem: Some(cert.pem()),
    };
    (spec, cert.der().to_vec())
}

fn assertion(der: &[u8], audience: &str, exp_offset: i64) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = Some(URL_SAFE_NO_PAD.encode(Sha1::digest(der)));
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"aud": audience, "iss": CERT_CLIENT, "sub": CERT_CLIENT, "jti": "a1", "nbf": now - 10, "exp": now + exp_offset});
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(KEY_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn certificate_assertions_are_verified_against_the_registered_certificate() {
    let (client, der) = certificate_client();
    let h = start(SimulatorConfig {
        clients: vec![client],
        ..SimulatorConfig::default()
    })
    .await;
    let audience = format!("{}/{DEFAULT_TENANT}/oauth2/v2.0/token", h.sim.url());
    let request = |jwt: String| {
        let h = &h;
        async move {
            let form = [
                ("grant_type", "client_credentials".to_string()),
                ("client_id", CERT_CLIENT.to_string()),
                ("scope", format!("{GRAPH}/.default")),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                ),
                ("client_assertion", jwt),
            ];
            let url = format!("{}/{DEFAULT_TENANT}/oauth2/v2.0/token", h.sim.url());
            status_json(h.http.post(url).form(&form).send().await.unwrap()).await
        }
    };
    let (status, body) = request(assertion(&der, &audience, 600)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);

    // Change one character in the middle of the signature.
    let mut tampered = assertion(&der, &audience, 600).into_bytes();
    let at = tampered.len() - 20;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let (status, body) = request(String::from_utf8(tampered).unwrap()).await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (401, json!([7000274])),
        "{body}"
    );

    let (status, body) = request(assertion(&der, &audience, -600)).await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (401, json!([700024])),
        "{body}"
    );

    let (status, body) = request(assertion(&der, "https://elsewhere.example/token", 600)).await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (401, json!([700212])),
        "{body}"
    );

    let (status, body) = request(assertion(b"another certificate", &audience, 600)).await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (401, json!([700027])),
        "{body}"
    );
}

#[tokio::test]
async fn each_api_refuses_tokens_for_another_audience() {
    let h = start(SimulatorConfig::default()).await;
    let graph_token = h.token(GRAPH).await;
    let manage_token = h.token(MANAGE).await;

    let (status, body) =
        status_json(h.get(&h.feed("subscriptions/list"), &graph_token).await).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["code"].as_str().unwrap().starts_with("AF"),
        "{body}"
    );

    let graph_url = format!("{}/v1.0/admin/exchange/tracing/messageTraces", h.sim.url());
    let (status, body) = status_json(h.get(&graph_url, &manage_token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "InvalidAuthenticationToken")
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());

    let rws_url = format!(
        "{}/ecp/reportingwebservice/reporting.svc/MessageTrace?$format=Json",
        h.sim.url()
    );
    assert_eq!(h.get(&rws_url, &graph_token).await.status(), 401);
    assert_eq!(h.http.get(&graph_url).send().await.unwrap().status(), 401);
    assert_eq!(h.get(&graph_url, "made-up").await.status(), 401);

    // The simulator's own base URL is accepted as the resource of every API.
    let own = h.token(&h.sim.url()).await;
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &own).await.status(),
        200
    );
    assert_eq!(h.get(&graph_url, &own).await.status(), 200);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let h = start(SimulatorConfig {
        token_lifetime: std::time::Duration::from_secs(60),
        ..SimulatorConfig::default()
    })
    .await;
    let token = h.token(MANAGE).await;
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &token).await.status(),
        200
    );
    h.sim.set_clock_offset(chrono::Duration::minutes(2));
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &token).await.status(),
        401
    );
}
