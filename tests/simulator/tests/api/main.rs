//! End-to-end tests of the simulator over real HTTP. One test binary (with
//! one module per API) so the suite links once.

mod admin;
mod determinism;
mod faults;
mod management;
mod tls;
mod tokens;
mod traces;
mod vault;

use chrono::{DateTime, Utc};
use o365_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, Simulator, SimulatorConfig,
};
use serde_json::Value;

pub const MANAGE: &str = "https://manage.office.com";
pub const GRAPH: &str = "https://graph.microsoft.com";
pub const OUTLOOK: &str = "https://outlook.office365.com";

/// A started simulator and an HTTP client.
pub struct Harness {
    pub sim: Simulator,
    pub http: reqwest::Client,
}

pub async fn start(config: SimulatorConfig) -> Harness {
    let sim = Simulator::start(config).await.expect("simulator starts");
    Harness {
        sim,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    /// POSTs a client-credentials form to the token endpoint.
    pub async fn token_response(&self, tenant: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}/{tenant}/oauth2/v2.0/token", self.sim.url());
        self.http.post(url).form(form).send().await.unwrap()
    }

    /// A token for `resource` with the default client's secret.
    pub async fn token(&self, resource: &str) -> String {
        let scope = format!("{resource}/.default");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", scope.as_str()),
        ];
        let body: Value = self
            .token_response(DEFAULT_TENANT, &form)
            .await
            .json()
            .await
            .unwrap();
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// GET with a bearer token.
    pub async fn get(&self, url: &str, token: &str) -> reqwest::Response {
        self.http.get(url).bearer_auth(token).send().await.unwrap()
    }

    /// The Management API feed URL for the default tenant.
    pub fn feed(&self, rest: &str) -> String {
        format!(
            "{}/api/v1.0/{DEFAULT_TENANT}/activity/feed/{rest}",
            self.sim.url()
        )
    }
}

/// `2026-11-25T08:01:02` as the Management API takes it.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Status and parsed JSON body.
pub async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Moves the simulated clock to the start of the next `window_secs` quota
/// window, so a burst of requests stays inside one window (call it while
/// the clock is unshifted).
pub fn align_clock(sim: &Simulator, window_secs: i64) {
    let into_window = sim.now().timestamp_millis().rem_euclid(window_secs * 1000);
    sim.set_clock_offset(chrono::Duration::milliseconds(
        window_secs * 1000 - into_window,
    ));
}
