//! `o365-host component …`: the registry from the operator's side.
//!
//! `publish` and `promote` check a version exactly as the running host will
//! before it swaps one in (a component of this host's world and contract
//! version, named like a source, admitted by the operator's grant with the
//! current settings), so that a version the host would refuse is refused
//! here, where the operator sees why.

use super::args::RuntimeArgs;
use super::deployment::{KNOWN_SOURCES, grant_for};
use super::harness::operator_settings;
use super::inspect::{self, InspectArgs};
use crate::registry::{Described, Registry, RolledBack, layout, registry_from_settings};
use crate::runtime::{LoadedComponent, Runtime};
use crate::settings::SettingsSource;
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// `o365-host component …`.
#[derive(clap::Subcommand, Debug)]
pub enum ComponentCommand {
    /// Add a component version to the registry (checked as the host checks
    /// it); with --promote, also make it current.
    Publish {
        /// The `.wasm` file.
        file: PathBuf,
        /// Make it the version everyone (or --tenant) runs.
        #[arg(long)]
        promote: bool,
        /// With --promote: only this tenant (its key in O365_TENANTS or its id).
        #[arg(long, requires = "promote")]
        tenant: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Make a published version the one everyone (or one tenant) runs.
    Promote {
        /// The component (`audit`, `message-trace`).
        name: String,
        /// The version.
        version: String,
        /// Only this tenant (its key in O365_TENANTS or its id).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Point back at the version that was current before the last promote.
    Rollback {
        /// The component.
        name: String,
        /// Only this tenant's pointer; a tenant pointer with no earlier
        /// version is removed, and the tenant follows the others again.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// The registry's components: versions, digests, contract versions, and
    /// which version is current (for everyone and per tenant).
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// What a component is, what it asks for with the current settings and
    /// what they grant it: a `.wasm` file, or NAME [VERSION] from the
    /// registry (default: the current version). Exits with 1 when the host
    /// would refuse it.
    Inspect {
        /// A `.wasm` file, or a component name in the registry.
        target: String,
        /// With a name: the version (default: the current one).
        version: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Judge it as this source (`audit`, `message-trace`); default: the
        /// source named like the component.
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// Flags every `component` command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// The registry: a directory, `blob`, `blob:<container>` (in the
    /// checkpoint storage account) or `none`; default: the setting
    /// O365_COMPONENT_REGISTRY, else as the host chooses.
    #[arg(long)]
    registry: Option<String>,
    /// A setting, `NAME=VALUE` (repeatable); overrides the environment.
    #[arg(long = "set", value_parser = crate::settings::parse_assignment)]
    set: Vec<(String, String)>,
    /// Base URL for every API (a simulator), as `harness --api`.
    #[arg(long)]
    api: Option<String>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

impl CommonArgs {
    fn settings(&self) -> SettingsSource {
        let mut overrides: BTreeMap<String, String> = self.set.iter().cloned().collect();
        if let Some(registry) = &self.registry {
            overrides.insert(crate::registry::REGISTRY_SETTING.into(), registry.clone());
        }
        SettingsSource::from_environment(overrides)
    }

    fn registry(&self) -> anyhow::Result<Registry> {
        let settings = self.settings();
        registry_from_settings(&settings)?.with_context(|| {
            format!(
                "{} is `none`: there is no registry to work on; give --registry DIR or --registry blob",
                crate::registry::REGISTRY_SETTING
            )
        })
    }
}

/// Runs a `component` command; whether it succeeded (`inspect`: whether the
/// component would be admitted).
pub async fn run(command: ComponentCommand) -> anyhow::Result<bool> {
    match command {
        ComponentCommand::Publish {
            file,
            promote,
            tenant,
            common,
        } => publish(&file, promote, tenant.as_deref(), &common).await,
        ComponentCommand::Promote {
            name,
            version,
            tenant,
            common,
        } => {
            let registry = common.registry()?;
            let (manifest, wasm) = registry.download(&name, &version, None).await?;
            let origin = format!("{name} version {version} from {}", registry.location());
            check_for_host(&origin, &wasm, &common).await?;
            let pointer = registry.promote(&manifest, tenant.as_deref()).await?;
            print_promoted(&registry, &pointer, tenant.as_deref());
            Ok(true)
        }
        ComponentCommand::Rollback {
            name,
            tenant,
            common,
        } => {
            let registry = common.registry()?;
            match registry.rollback(&name, tenant.as_deref()).await? {
                RolledBack::To(pointer) => {
                    let scope = scope(tenant.as_deref());
                    println!(
                        "rolled back: {name}{scope} runs {} again (sha256 {}); running hosts swap at their next poll",
                        pointer.version, pointer.sha256
                    );
                }
                RolledBack::TenantPointerRemoved => println!(
                    "rolled back: tenant {} has no pointer of its own for {name} any more and follows {name}/current.json (or its settings) again",
                    tenant.unwrap_or_default()
                ),
            }
            Ok(true)
        }
        ComponentCommand::List { json, common } => {
            let registry = common.registry()?;
            let listings = registry.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listings)?);
            } else {
                print!("{}", render_list(&registry, &listings));
            }
            Ok(true)
        }
        ComponentCommand::Inspect {
            target,
            version,
            json,
            source,
            common,
        } => {
            let looks_like_file =
                target.ends_with(".wasm") || std::path::Path::new(&target).is_file();
            let (origin, wasm) = if looks_like_file && version.is_none() {
                let wasm = std::fs::read(&target).with_context(|| format!("reading {target}"))?;
                (target.clone(), wasm)
            } else {
                let registry = common.registry()?;
                let version = match version {
                    Some(version) => version,
                    None => match registry.pointer(&target, None).await? {
                        Some((pointer, _)) => pointer.version,
                        None => bail!(
                            "`{target}` has no current version in the registry ({}); give the version: `o365-host component inspect {target} VERSION`",
                            registry.location()
                        ),
                    },
                };
                let (_, wasm) = registry.download(&target, &version, None).await?;
                (
                    format!("{target} version {version} from {}", registry.location()),
                    wasm,
                )
            };
            inspect::inspect(InspectArgs {
                origin: &origin,
                wasm: &wasm,
                runtime: &common.runtime,
                json,
                set: &common.set,
                api: common.api.as_deref(),
                source: source.as_deref(),
            })
            .await
        }
    }
}

async fn publish(
    file: &std::path::Path,
    promote: bool,
    tenant: Option<&str>,
    common: &CommonArgs,
) -> anyhow::Result<bool> {
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let registry = common.registry()?;
    let component = check_for_host(&file.display().to_string(), &wasm, common).await?;
    let described = Described {
        name: component.name.clone(),
        version: component.info.version.clone(),
        contract: component.contract.clone(),
        summary: component.info.summary.clone(),
    };
    let published = registry.publish(&wasm, &described).await?;
    let m = &published.manifest;
    if published.already {
        println!(
            "{} {} is already published with this sha256 ({}) in {}",
            m.name,
            m.version,
            m.sha256,
            registry.location()
        );
    } else {
        println!(
            "published {} {} (sha256 {}, contract {}, {} bytes) to {}",
            m.name,
            m.version,
            m.sha256,
            m.contract,
            m.bytes,
            registry.location()
        );
    }
    if promote {
        let pointer = registry.promote(m, tenant).await?;
        print_promoted(&registry, &pointer, tenant);
    }
    Ok(true)
}

/// Loads `wasm` as the host would and checks it against this host's
/// sources and the operator's grant; the loaded component, or why not.
async fn check_for_host(
    origin: &str,
    wasm: &[u8],
    common: &CommonArgs,
) -> anyhow::Result<Arc<LoadedComponent>> {
    let runtime = Runtime::new(common.runtime.config()?)?;
    let component = Arc::new(runtime.load(origin, wasm).await?);
    let name = &component.name;
    let settings = operator_settings(&common.set, common.api.as_deref(), &component.info)?;
    let values = settings.for_component(&component.info);
    let info = match runtime.describe(&component, &values).await? {
        Ok(info) => info,
        Err(e) => bail!(
            "{origin} refuses this host's settings: {}: {}",
            e.setting,
            e.message
        ),
    };
    let grant = grant_for(name, &settings)?;
    grant.admit(&info).with_context(|| {
        format!("{origin} asks for more than the operator grants source `{name}`; `o365-host component inspect` shows what it asks and what is granted")
    })?;
    layout::check_name(name)?;
    if !KNOWN_SOURCES.iter().any(|k| k.name == name) {
        bail!(
            "{origin} calls itself `{name}`, which is not a source this host runs ({}); the registry keeps components by source name",
            KNOWN_SOURCES
                .iter()
                .map(|k| k.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(component)
}

fn scope(tenant: Option<&str>) -> String {
    tenant
        .map(|t| format!(" for tenant {t}"))
        .unwrap_or_default()
}

fn print_promoted(registry: &Registry, pointer: &crate::registry::Pointer, tenant: Option<&str>) {
    let previous = pointer
        .history
        .last()
        .map(|p| format!(" (was {})", p.version))
        .unwrap_or_default();
    println!(
        "promoted: {}{} runs {}{previous}; {} in {}; running hosts swap at their next poll (O365_COMPONENT_POLL_INTERVAL)",
        pointer.name,
        scope(tenant),
        pointer.version,
        layout::pointer_path(&pointer.name, tenant),
        registry.location()
    );
}

fn render_list(registry: &Registry, listings: &[crate::registry::Listing]) -> String {
    let mut out = format!("registry: {}\n", registry.location());
    if listings.is_empty() {
        out.push_str("  empty; `o365-host component publish FILE.wasm --promote` adds a version\n");
    }
    for listing in listings {
        out.push_str(&format!("{}\n", listing.name));
        for m in &listing.versions {
            let mut marks = Vec::new();
            if listing
                .current
                .as_ref()
                .is_some_and(|p| p.sha256 == m.sha256)
            {
                marks.push("current".to_string());
            }
            for (tenant, p) in &listing.tenants {
                if p.sha256 == m.sha256 {
                    marks.push(format!("tenant {tenant}"));
                }
            }
            let marks = if marks.is_empty() {
                String::new()
            } else {
                format!("  <- {}", marks.join(", "))
            };
            out.push_str(&format!(
                "  {:<16} sha256 {}  contract {}  {} bytes  published {}{marks}\n",
                m.version,
                &m.sha256[..m.sha256.len().min(16)],
                m.contract,
                m.bytes,
                m.published_at
            ));
        }
        if listing.current.is_none() {
            out.push_str("  (no current version: hosts run what their settings choose)\n");
        }
    }
    out
}
