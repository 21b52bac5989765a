//! What a simulator serves: tenants with their data volumes, the app
//! registrations allowed to get tokens, and listener options. Every field has
//! a default so tests spell out only what they care about.

use std::net::SocketAddr;
use std::time::Duration;

use crate::data::ContentType;

/// The default tenant id.
pub const DEFAULT_TENANT: &str = "00000000-0000-0000-0000-000000000001";
/// The id of the `n`-th tenant (from 1) of a simulator serving many:
/// `00000000-0000-0000-0000-<n, 12 digits>`, so tenant 1 is [`DEFAULT_TENANT`].
pub fn numbered_tenant(n: usize) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

/// The default client (application) id.
pub const DEFAULT_CLIENT_ID: &str = "11111111-1111-1111-1111-111111111111";
/// The default client secret.
pub const DEFAULT_CLIENT_SECRET: &str = "simulator-secret";

/// The default managed-identity header secret.
pub const DEFAULT_IDENTITY_HEADER: &str = "simulator-identity-header";
/// The client id of the simulated managed identity.
pub const MANAGED_IDENTITY_CLIENT_ID: &str = "22222222-2222-2222-2222-222222222222";

/// Everything a [`crate::Simulator`] needs to start.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// The tenants whose data is served.
    pub tenants: Vec<TenantSpec>,
    /// Also serve the same API over HTTPS with a CA generated at start.
    pub tls: bool,
    /// A fixed delay added to every API response.
    pub latency: Duration,
    /// App registrations that may obtain tokens (for any configured tenant).
    pub clients: Vec<ClientSpec>,
    /// Lifetime of issued access tokens (`expires_in`).
    pub token_lifetime: Duration,
    /// Page size of content listings and Reporting WS results.
    pub page_size: usize,
    /// Enforce the real per-tenant quotas (Management API ~2000/min → 403 AF429,
    /// Graph 100 per 5 min → 429).
    pub rate_limits: bool,
    /// Address of the main (plain HTTP) listener; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The value the managed-identity endpoint (`/msi/token`, App Service
    /// style) requires in `X-IDENTITY-HEADER`; the host reads it from
    /// `IDENTITY_HEADER`.
    pub identity_header: String,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            tenants: vec![TenantSpec::default()],
            tls: false,
            latency: Duration::ZERO,
            clients: vec![ClientSpec::default()],
            token_lifetime: Duration::from_secs(3599),
            page_size: 100,
            rate_limits: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            identity_header: DEFAULT_IDENTITY_HEADER.to_string(),
        }
    }
}

/// One simulated Microsoft 365 tenant. Its data is a pure function of `seed`
/// and the rates below.
#[derive(Clone, Debug)]
pub struct TenantSpec {
    /// Tenant id (GUID) used in URLs and tokens.
    pub id: String,
    /// Seed of all generated data.
    pub seed: u64,
    /// Content blobs created per hour, per content type.
    pub audit_blobs_per_hour: u32,
    /// Events in each content blob.
    pub audit_events_per_blob: u32,
    /// Message traces received per hour.
    pub traces_per_hour: u32,
    /// How far back data exists before the simulator started.
    pub history: Duration,
    /// Content types with an enabled subscription at start.
    pub subscribed: Vec<String>,
    /// False: Graph answers 401, as when the message-trace service principal is missing.
    pub graph_provisioned: bool,
    /// Make about 2% of SharePoint and DLP events larger than 1 MB.
    pub large_events: bool,
    /// Make about 2% of events re-appear in the next blob (duplicates are by design in the real API).
    pub duplicate_events: bool,
    /// The tenant's initial domain (`Organization` in the Reporting WS, user addresses).
    pub domain: String,
    /// How long after `subscriptions/start` a new subscription's listings
    /// stay empty (the real service: up to 12 hours). Once it has passed,
    /// listings return the content type's blobs for any window within 7
    /// days, including blobs created before the start. Zero by default.
    pub subscription_delay: Duration,
}

impl TenantSpec {
    /// A tenant with default volumes and the given id and seed.
    pub fn new(id: impl Into<String>, seed: u64) -> Self {
        TenantSpec {
            id: id.into(),
            seed,
            ..TenantSpec::default()
        }
    }
}

impl Default for TenantSpec {
    fn default() -> Self {
        TenantSpec {
            id: DEFAULT_TENANT.to_string(),
            seed: 1,
            audit_blobs_per_hour: 4,
            audit_events_per_blob: 20,
            traces_per_hour: 120,
            history: Duration::from_secs(8 * 24 * 3600),
            subscribed: ContentType::ALL
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            graph_provisioned: true,
            large_events: false,
            duplicate_events: false,
            domain: "contoso.onmicrosoft.com".to_string(),
            subscription_delay: Duration::ZERO,
        }
    }
}

/// An app registration allowed to use the client-credentials flow.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret, if secret authentication is allowed.
    pub secret: Option<String>,
    /// PEM certificate whose key must sign client assertions (a chain:
    /// the first certificate). Changed at run time with
    /// [`crate::Simulator::set_client_certificate`].
    pub certificate_pem: Option<String>,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            client_id: DEFAULT_CLIENT_ID.to_string(),
            secret: Some(DEFAULT_CLIENT_SECRET.to_string()),
            certificate_pem: None,
        }
    }
}
