//! The running host follows the registry's pointers.
//!
//! One [`Follower`] per host polls, every `O365_COMPONENT_POLL_INTERVAL`,
//! each followed component's `current.json` (a conditional read: an
//! unchanged pointer costs a `304`) and lists its per-tenant pointers (one
//! listing per component, whatever the number of tenants; a pointer is read
//! again only when its ETag changed). For each tenant and source it works
//! out the version that should run:
//!
//! 1. the tenant's own pointer (`<name>/tenants/<tenant id or key>.json`),
//! 2. else, unless the tenant's settings name a component
//!    (`O365_AUDIT_COMPONENT`, `O365_MESSAGE_TRACE_COMPONENT`), which pins it,
//!    `current.json`,
//! 3. else what the settings chose at start (an embedded version or a file).
//!
//! A new version is downloaded, its sha256 checked against the pointer and
//! the manifest, loaded through the runtime (which checks the world and the
//! contract version, and compiles through the compile cache), described
//! with the tenant's settings and admitted against the operator's grant,
//! then swapped in ([`LiveSource::swap`]): calls already running finish on
//! the old version and the next slice runs on the new. A version that fails
//! any check is refused with a log line and a metric, the old one keeps
//! running, and it is not tried again until a pointer changes.

use super::layout::{self, Pointer};
use super::{Fetched, Registry};
use crate::pipeline::{LiveSource, Source};
use crate::runtime::{CodeSource, LoadedComponent, Runtime};
use crate::telemetry;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Configures a loaded component as one tenant's source: describe with the
/// tenant's settings, admit against the grant (the deployment's
/// `configure`).
pub type Configure =
    Arc<dyn Fn(Arc<LoadedComponent>) -> BoxFuture<'static, anyhow::Result<Source>> + Send + Sync>;

/// A tenant's source that follows the registry.
pub struct Followed {
    /// The source (and registry) name: `audit`, `message-trace`.
    pub name: String,
    /// The tenant id.
    pub tenant_id: String,
    /// The tenant's key in `O365_TENANTS`, if any.
    pub tenant_key: Option<String>,
    /// The running source.
    pub live: Arc<LiveSource>,
    /// The tenant's settings name a component: `current.json` does not
    /// move it, only a pointer of its own does.
    pub pinned: bool,
    /// How a new version becomes this tenant's source.
    pub configure: Configure,
}

impl Followed {
    fn label(&self) -> &str {
        self.tenant_key.as_deref().unwrap_or(&self.tenant_id)
    }
}

/// What one entry runs, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Running {
    /// What the settings chose at start.
    Configured,
    /// A registry version, from this pointer.
    Registry {
        /// The pointer followed (`audit/current.json`).
        pointer: String,
        /// Its version.
        version: String,
        /// Its sha256.
        sha256: String,
    },
}

struct EntryState {
    /// The version from the settings, to go back to when pointers vanish.
    configured: Arc<Source>,
    running: Running,
    /// The last digest refused, not tried again until a pointer changes.
    refused: Option<String>,
}

/// Pointers of one component as last read.
#[derive(Default)]
struct Pointers {
    current: Option<(Pointer, String)>,
    /// By tenant (id or key, lowercase).
    tenants: BTreeMap<String, (Pointer, String)>,
}

/// What a poll did.
#[derive(Debug, Default)]
pub struct PollReport {
    /// Tenant-and-source entries that now run another version.
    pub swapped: usize,
    /// Versions refused in this poll.
    pub refused: usize,
    /// Components loaded (not from memory) in this poll, and whether their
    /// code came from the compile cache.
    pub loaded: Vec<(String, CodeSource)>,
    /// The registry could not be read; nothing changed.
    pub error: Option<String>,
}

/// Follows the registry for every tenant and source of a host.
pub struct Follower {
    registry: Registry,
    runtime: Arc<Runtime>,
    entries: Vec<(Followed, Mutex<EntryState>)>,
    pointers: tokio::sync::Mutex<BTreeMap<String, Pointers>>,
    /// Loaded versions by sha256, shared by the tenants that run them.
    loaded: Mutex<HashMap<String, Arc<LoadedComponent>>>,
    /// When the last poll that read the registry finished.
    last_read: Mutex<Option<Instant>>,
}

impl Follower {
    /// A follower of `registry` for `entries`.
    pub fn new(registry: Registry, runtime: Arc<Runtime>, entries: Vec<Followed>) -> Self {
        let entries = entries
            .into_iter()
            .map(|followed| {
                let state = EntryState {
                    configured: followed.live.current(),
                    running: Running::Configured,
                    refused: None,
                };
                (followed, Mutex::new(state))
            })
            .collect();
        Self {
            registry,
            runtime,
            entries,
            pointers: tokio::sync::Mutex::new(BTreeMap::new()),
            loaded: Mutex::new(HashMap::new()),
            last_read: Mutex::new(None),
        }
    }

    /// The registry followed.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// What each tenant and source runs: `(tenant, source, version label,
    /// why)`.
    pub fn live_versions(&self) -> Vec<(String, String, String, Running)> {
        self.entries
            .iter()
            .map(|(followed, state)| {
                let running = lock(state).running.clone();
                (
                    followed.label().to_string(),
                    followed.name.clone(),
                    followed.live.current().version_label(),
                    running,
                )
            })
            .collect()
    }

    /// Polls, unless a poll read the registry less than `freshness` ago.
    pub async fn poll_unless_fresh(&self, freshness: Duration) -> Option<PollReport> {
        let fresh = lock(&self.last_read).is_some_and(|at| at.elapsed() < freshness);
        if fresh { None } else { Some(self.poll().await) }
    }

    /// Reads the pointers and swaps every entry whose version changed.
    pub async fn poll(&self) -> PollReport {
        let mut report = PollReport::default();
        let mut pointers = self.pointers.lock().await;
        let mut names: Vec<&str> = self.entries.iter().map(|(f, _)| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let known = pointers.entry(name.to_string()).or_default();
            if let Err(e) = self.refresh(name, known).await {
                tracing::warn!(component = name, registry = %self.registry.location(), "could not read the registry; the running versions stay: {e}");
                report.error = Some(e.to_string());
                return report;
            }
        }
        for (followed, state) in &self.entries {
            let Some(known) = pointers.get(&followed.name) else {
                continue;
            };
            self.settle(followed, state, known, &mut report).await;
        }
        *lock(&self.last_read) = Some(Instant::now());
        report
    }

    /// Re-reads the pointers of `name` that changed.
    async fn refresh(&self, name: &str, known: &mut Pointers) -> Result<(), super::RegistryError> {
        let path = layout::pointer_path(name, None);
        let etag = known.current.as_ref().map(|(_, e)| e.clone());
        match self.registry.store().get(&path, etag.as_deref()).await? {
            Fetched::NotModified => {}
            Fetched::Missing => known.current = None,
            Fetched::Found { bytes, etag } => {
                known.current = Some((Pointer::parse(&path, &bytes)?, etag));
            }
        }
        let listed = self.registry.tenant_pointers(name).await?;
        known
            .tenants
            .retain(|tenant, _| listed.iter().any(|(t, _)| t == tenant));
        for (tenant, etag) in listed {
            if known.tenants.get(&tenant).is_some_and(|(_, e)| *e == etag) {
                continue;
            }
            if let Some(found) = self.registry.pointer(name, Some(&tenant)).await? {
                known.tenants.insert(tenant, found);
            } else {
                known.tenants.remove(&tenant);
            }
        }
        Ok(())
    }

    /// Brings one entry to the version its pointers name.
    async fn settle(
        &self,
        followed: &Followed,
        state: &Mutex<EntryState>,
        known: &Pointers,
        report: &mut PollReport,
    ) {
        let own = [
            Some(followed.tenant_id.as_str()),
            followed.tenant_key.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find_map(|t| {
            known
                .tenants
                .get(&t.to_ascii_lowercase())
                .map(|p| (layout::pointer_path(&followed.name, Some(t)), p))
        });
        let wanted = own.or_else(|| {
            (!followed.pinned)
                .then(|| {
                    known
                        .current
                        .as_ref()
                        .map(|p| (layout::pointer_path(&followed.name, None), p))
                })
                .flatten()
        });
        let running = followed.live.current();
        let Some((path, (pointer, _))) = wanted else {
            let configured = lock(state).configured.clone();
            if !Arc::ptr_eq(&running, &configured) {
                followed.live.swap(configured.clone());
                let mut state = lock(state);
                state.running = Running::Configured;
                state.refused = None;
                report.swapped += 1;
                telemetry::component_swapped(
                    &followed.name,
                    &followed.tenant_id,
                    &running.version_label(),
                    &configured.version_label(),
                    "the settings (no pointer names a version any more)",
                );
                announce(followed, &configured);
            }
            return;
        };
        if running.component.digest == pointer.sha256 {
            let mut state = lock(state);
            state.running = Running::Registry {
                pointer: path,
                version: pointer.version.clone(),
                sha256: pointer.sha256.clone(),
            };
            return;
        }
        if lock(state).refused.as_deref() == Some(pointer.sha256.as_str()) {
            return;
        }
        let wanted_label = format!("{} {}", followed.name, pointer.version);
        match self.prepare(followed, &path, pointer, report).await {
            Ok(source) => {
                let to = source.version_label();
                let source = Arc::new(source);
                followed.live.swap(source.clone());
                announce(followed, &source);
                let mut state = lock(state);
                state.running = Running::Registry {
                    pointer: path.clone(),
                    version: pointer.version.clone(),
                    sha256: pointer.sha256.clone(),
                };
                state.refused = None;
                report.swapped += 1;
                telemetry::component_swapped(
                    &followed.name,
                    &followed.tenant_id,
                    &running.version_label(),
                    &to,
                    &path,
                );
            }
            Err(e) => {
                lock(state).refused = Some(pointer.sha256.clone());
                report.refused += 1;
                telemetry::component_refused(
                    &followed.name,
                    &followed.tenant_id,
                    &wanted_label,
                    &running.version_label(),
                    &format!("{e:#}"),
                );
            }
        }
    }

    /// Downloads, verifies, loads and configures the version `pointer`
    /// names, for `followed`.
    async fn prepare(
        &self,
        followed: &Followed,
        path: &str,
        pointer: &Pointer,
        report: &mut PollReport,
    ) -> anyhow::Result<Source> {
        let cached = lock(&self.loaded).get(&pointer.sha256).cloned();
        let component = match cached {
            Some(component) => component,
            None => {
                let started = Instant::now();
                let (_, wasm) = self
                    .registry
                    .download(
                        &followed.name,
                        &pointer.version,
                        Some((path, &pointer.sha256)),
                    )
                    .await?;
                let origin = format!(
                    "{} version {} from {}",
                    followed.name,
                    pointer.version,
                    self.registry.location()
                );
                let component = Arc::new(self.runtime.load(&origin, &wasm).await?);
                if component.name != followed.name {
                    anyhow::bail!(
                        "{origin} calls itself `{}`, not `{}`: it was published under the wrong name",
                        component.name,
                        followed.name
                    );
                }
                tracing::info!(component = %followed.name, version = %pointer.version, code = ?component.code_source, compile_ms = component.compile_time.as_millis() as u64, total_ms = started.elapsed().as_millis() as u64, "component version loaded");
                report
                    .loaded
                    .push((pointer.version.clone(), component.code_source));
                lock(&self.loaded).insert(pointer.sha256.clone(), component.clone());
                component
            }
        };
        (followed.configure)(component).await
    }

    /// Polls every `interval` until the process ends.
    pub fn spawn(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                self.poll().await;
            }
        })
    }
}

/// The live version metric, at once rather than at the next cycle's start,
/// so the workbook's tile moves with the swap. Metrics name tenants by id,
/// like every other metric.
fn announce(followed: &Followed, source: &Source) {
    telemetry::cycle::component_version(
        &followed.name,
        &followed.tenant_id,
        &source.info.name,
        &source.info.version,
        &source.component.digest,
    );
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
