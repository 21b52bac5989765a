//! State shared by every handler: configuration, tenants with their
//! subscriptions, issued tokens, fault rules, the request log and quotas.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::config::{ClientSpec, SimulatorConfig};
use chrono::{DateTime, Duration, Utc};

use crate::data::{AuditTruth, ContentType, TenantData, TraceTruth};
use crate::faults::Faults;
use crate::log::RequestLog;
use crate::ratelimit::RateLimiter;
use crate::tokens::TokenStore;

/// A content type's subscription.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Subscription {
    /// Enabled (listing works) or disabled (AF20023).
    pub(crate) enabled: bool,
    /// How often `subscriptions/start` was called for it.
    pub(crate) starts: u32,
    /// When `subscriptions/start` enabled it; none for a subscription that
    /// existed when the simulator started. Listings return nothing until
    /// the tenant's `subscription_delay` has passed since then, as a new
    /// subscription of the real service yields no content for a while.
    pub(crate) enabled_at: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Whether listings return content at `now`: enabled, and started long
    /// enough ago.
    pub(crate) fn produces_content(&self, now: DateTime<Utc>, delay: Duration) -> bool {
        self.enabled
            && self
                .enabled_at
                .is_none_or(|at| at.checked_add_signed(delay).is_some_and(|t| now >= t))
    }
}

/// A tenant at run time.
pub(crate) struct Tenant {
    /// Its data.
    pub(crate) data: TenantData,
    /// Subscriptions that exist (absent: AF20022).
    pub(crate) subscriptions: Mutex<BTreeMap<ContentType, Subscription>>,
}

impl Tenant {
    /// The tenant id.
    pub(crate) fn id(&self) -> &str {
        &self.data.spec.id
    }

    /// A copy of the subscriptions.
    pub(crate) fn subscriptions(&self) -> BTreeMap<ContentType, Subscription> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes one subscription and returns its new state.
    pub(crate) fn update(
        &self,
        content_type: ContentType,
        change: impl FnOnce(&mut Subscription),
    ) -> Subscription {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        let sub = subs.entry(content_type).or_default();
        change(sub);
        *sub
    }
}

/// The URLs of the listeners.
#[derive(Clone, Debug)]
pub(crate) struct Urls {
    pub(crate) main: String,
    pub(crate) https: Option<String>,
    pub(crate) foreign: String,
}

/// Everything handlers share.
pub(crate) struct AppState {
    pub(crate) config: SimulatorConfig,
    pub(crate) tenants: Vec<Arc<Tenant>>,
    pub(crate) clock: Clock,
    pub(crate) tokens: TokenStore,
    pub(crate) faults: Faults,
    pub(crate) log: RequestLog,
    pub(crate) limiter: RateLimiter,
    pub(crate) urls: Urls,
    pub(crate) ca_pem: Option<String>,
    /// App registrations, changeable at run time (certificate rotation).
    pub(crate) clients: Mutex<Vec<ClientSpec>>,
    /// Key Vault secrets by name: every version, oldest first.
    pub(crate) vault: Mutex<BTreeMap<String, Vec<VaultSecret>>>,
    /// Client secrets and assertions presented to the token endpoint.
    pub(crate) presented: Mutex<Vec<String>>,
}

/// One version of a Key Vault secret.
#[derive(Clone, Debug)]
pub(crate) struct VaultSecret {
    /// Version id (32 hex digits, as Key Vault's).
    pub(crate) version: String,
    /// The value.
    pub(crate) value: String,
    /// `contentType`, if set.
    pub(crate) content_type: Option<String>,
    /// When it was set.
    pub(crate) created: DateTime<Utc>,
}

impl AppState {
    /// The tenant with this id or initial domain (case-insensitive).
    pub(crate) fn tenant(&self, id_or_domain: &str) -> Option<Arc<Tenant>> {
        self.tenants
            .iter()
            .find(|t| {
                t.id().eq_ignore_ascii_case(id_or_domain)
                    || t.data.spec.domain.eq_ignore_ascii_case(id_or_domain)
            })
            .cloned()
    }

    /// The app registration with this client id (case-insensitive).
    pub(crate) fn client(&self, client_id: &str) -> Option<ClientSpec> {
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
            .cloned()
    }

    /// Stores a new version of Key Vault secret `name`; returns its version.
    pub(crate) fn set_secret(&self, name: &str, value: &str, content_type: Option<&str>) -> String {
        let now = self.clock.now();
        let mut vault = self.vault.lock().unwrap_or_else(|p| p.into_inner());
        let versions = vault.entry(name.to_string()).or_default();
        let version = format!("{:016x}{:016x}", versions.len() + 1, now.timestamp_micros());
        versions.push(VaultSecret {
            version: version.clone(),
            value: value.to_string(),
            content_type: content_type.map(str::to_string),
            created: now,
        });
        version
    }

    /// Replaces (or with `None` removes) the certificate of app `client_id`;
    /// false when there is no such app.
    pub(crate) fn set_client_certificate(
        &self,
        client_id: &str,
        certificate_pem: Option<&str>,
    ) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        match clients
            .iter_mut()
            .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
        {
            Some(client) => {
                client.certificate_pem = certificate_pem.map(str::to_string);
                true
            }
            None => false,
        }
    }

    /// The simulator's own base URLs, accepted as a token resource for every API.
    pub(crate) fn own_resources(&self) -> Vec<String> {
        let mut own = vec![self.urls.main.clone()];
        own.extend(self.urls.https.iter().cloned());
        own
    }
}

impl AppState {
    /// What blobs created in `range`, and by now, serve.
    pub(crate) fn audit_truth(
        &self,
        tenant: &Tenant,
        range: Range<DateTime<Utc>>,
    ) -> Vec<AuditTruth> {
        let end = range.end.min(self.clock.now() + Duration::milliseconds(1));
        tenant.data.audit_truth(range.start, end)
    }

    /// The traces received in `range`, and by now (visible yet or not).
    pub(crate) fn trace_truth(
        &self,
        tenant: &Tenant,
        range: Range<DateTime<Utc>>,
    ) -> Vec<TraceTruth> {
        let end = range.end.min(self.clock.now() + Duration::milliseconds(1));
        tenant.data.trace_truth(range.start, end)
    }
}
