//! Starting, querying and stopping a simulator: binds the listeners (main
//! HTTP, optional HTTPS, foreign), builds the shared state and serves the
//! routers until shutdown.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::SimulatorConfig;
use crate::data::{AuditTruth, ContentType, TenantData, TraceTruth};
use crate::faults::Faults;
use crate::log::{Listener, RequestLog, RequestRecord};
use crate::state::{AppState, Subscription, Tenant, Urls};
use crate::{admin, routes, tls};

/// A running simulator. Dropping it stops serving; [`Simulator::shutdown`] stops gracefully.
pub struct Simulator {
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

fn tenant(spec: &crate::config::TenantSpec, now: DateTime<Utc>) -> anyhow::Result<Tenant> {
    let mut subscriptions = BTreeMap::new();
    for name in &spec.subscribed {
        let content_type = ContentType::parse(name)
            .with_context(|| format!("tenant {}: unknown content type {name}", spec.id))?;
        subscriptions.insert(
            content_type,
            Subscription {
                enabled: true,
                starts: 0,
                enabled_at: None,
            },
        );
    }
    let history = chrono::Duration::from_std(spec.history).context("history too long")?;
    let data = TenantData {
        spec: spec.clone(),
        data_start: now - history,
    };
    Ok(Tenant {
        data,
        subscriptions: Mutex::new(subscriptions),
    })
}

impl Simulator {
    /// Binds the listeners and starts serving.
    pub async fn start(config: SimulatorConfig) -> anyhow::Result<Simulator> {
        let main = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let main_addr = main.local_addr()?;
        let ip = if main_addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            main_addr.ip()
        };
        let foreign = TcpListener::bind((ip, 0))
            .await
            .context("binding the foreign listener")?;
        let foreign_addr = foreign.local_addr()?;
        let tls = match config.tls {
            true => Some((
                tls::generate()?,
                TcpListener::bind((ip, 0))
                    .await
                    .context("binding the HTTPS listener")?,
            )),
            false => None,
        };
        let urls = Urls {
            main: format!("http://{}", SocketAddr::new(ip, main_addr.port())),
            https: match &tls {
                Some((_, listener)) => Some(format!(
                    "https://localhost:{}",
                    listener.local_addr()?.port()
                )),
                None => None,
            },
            foreign: format!("http://{foreign_addr}"),
        };
        let clock = Clock::default();
        let now = clock.now();
        let tenants = config
            .tenants
            .iter()
            .map(|spec| tenant(spec, now).map(Arc::new))
            .collect::<anyhow::Result<_>>()?;
        let config_clients = config.clients.clone();
        let state = Arc::new(AppState {
            config,
            tenants,
            clock,
            tokens: Default::default(),
            faults: Faults::default(),
            log: RequestLog::default(),
            limiter: Default::default(),
            urls,
            ca_pem: tls.as_ref().map(|(material, _)| material.ca_pem.clone()),
            clients: Mutex::new(config_clients),
            vault: Default::default(),
            presented: Default::default(),
        });

        let (stop, stopped) = watch::channel(false);
        let main_router = routes::api_router(state.clone()).merge(admin::router(state.clone()));
        let mut servers = vec![
            serve(
                main,
                routes::recorded(main_router, &state, Listener::Main),
                stopped.clone(),
            ),
            serve(
                foreign,
                routes::recorded(routes::foreign_router(), &state, Listener::Foreign),
                stopped.clone(),
            ),
        ];
        if let Some((material, listener)) = tls {
            let listener = tls::TlsListener::new(listener, material.server_config)?;
            let router = routes::recorded(routes::api_router(state.clone()), &state, Listener::Tls);
            servers.push(serve(listener, router, stopped));
        }
        tracing::info!(url = %state.urls.main, https = ?state.urls.https, foreign = %state.urls.foreign, "simulator started");
        Ok(Simulator {
            state,
            stop,
            servers,
        })
    }

    /// Base URL of the main listener, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        self.state.urls.main.clone()
    }

    /// Base URL of the HTTPS listener, e.g. `https://localhost:40124`, when TLS is on.
    pub fn https_url(&self) -> Option<String> {
        self.state.urls.https.clone()
    }

    /// PEM of the CA that issued the HTTPS certificate, when TLS is on.
    pub fn ca_pem(&self) -> Option<String> {
        self.state.ca_pem.clone()
    }

    /// Base URL of the foreign listener: a host no connector may call.
    pub fn foreign_url(&self) -> String {
        self.state.urls.foreign.clone()
    }

    /// The managed-identity endpoint (App Service style) to put in
    /// `IDENTITY_ENDPOINT`; `IDENTITY_HEADER` must hold the configured
    /// [`SimulatorConfig::identity_header`].
    pub fn identity_endpoint(&self) -> String {
        format!("{}{}", self.state.urls.main, routes::msi::PATH)
    }

    /// Stores a new version of the Key Vault secret `name` (served at
    /// `/secrets/{name}` on every listener; the Azure SDK needs HTTPS) and
    /// returns its version id.
    pub fn set_secret(&self, name: &str, value: &str, content_type: Option<&str>) -> String {
        self.state.set_secret(name, value, content_type)
    }

    /// Registers `certificate_pem` as the only certificate of app
    /// `client_id` (a rotation in the app registration; `None` removes
    /// it). Returns false when there is no such app.
    pub fn set_client_certificate(&self, client_id: &str, certificate_pem: Option<&str>) -> bool {
        self.state
            .set_client_certificate(client_id, certificate_pem)
    }

    /// Every bearer token this simulator has issued (Entra ID and managed
    /// identity), revoked ones included: tests check none reaches a log.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.tokens.ever_issued()
    }

    /// Revokes every token issued to an app (managed-identity tokens stay):
    /// each API answers 401 to them from now on, so clients fetch new ones.
    pub fn revoke_tokens(&self) {
        self.state.tokens.revoke_app_tokens();
    }

    /// Every client secret and client assertion presented to the token
    /// endpoint, accepted or not (tests check none reaches a log).
    pub fn presented_credentials(&self) -> Vec<String> {
        self.state
            .presented
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The fault rules (shared with the running server).
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Every request received by any listener (except `/_sim/`), in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.log.snapshot()
    }

    /// The events served by blobs whose `contentCreated` lies in the range
    /// (and is not in the future), for all five content types. Unknown tenant: empty.
    pub fn audit_truth(
        &self,
        tenant: &str,
        content_created: Range<DateTime<Utc>>,
    ) -> Vec<AuditTruth> {
        self.state
            .tenant(tenant)
            .map(|t| self.state.audit_truth(&t, content_created))
            .unwrap_or_default()
    }

    /// The message traces received in the range (and not in the future),
    /// whether already visible or not (see `available_at`). Unknown tenant: empty.
    pub fn trace_truth(&self, tenant: &str, received: Range<DateTime<Utc>>) -> Vec<TraceTruth> {
        self.state
            .tenant(tenant)
            .map(|t| self.state.trace_truth(&t, received))
            .unwrap_or_default()
    }

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// Runs the simulated clock `offset` ahead of real time (negative: behind),
    /// so tests need not wait for data to arrive or expire.
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.state.clock.set_offset(offset);
    }

    /// How often `subscriptions/start` was called for a tenant's content type.
    pub fn subscription_starts(&self, tenant: &str, content_type: ContentType) -> u32 {
        let subs = self
            .state
            .tenant(tenant)
            .map(|t| t.subscriptions())
            .unwrap_or_default();
        subs.get(&content_type).map_or(0, |s| s.starts)
    }

    /// The content id of the blob of `content_type` created at `created`, if such a blob exists.
    pub fn content_id_at(
        &self,
        tenant: &str,
        content_type: ContentType,
        created: DateTime<Utc>,
    ) -> Option<String> {
        let tenant = self.state.tenant(tenant)?;
        let blob = tenant
            .data
            .blobs(
                content_type,
                created,
                created + chrono::Duration::milliseconds(1),
            )
            .next()?;
        Some(tenant.data.content_id(&blob))
    }

    /// Stops accepting requests, lets in-flight ones finish (up to 5 s), and returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for server in std::mem::take(&mut self.servers) {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

fn serve<L>(listener: L, router: Router, mut stopped: watch::Receiver<bool>) -> JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "simulator listener stopped");
        }
    })
}
