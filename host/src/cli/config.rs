//! `o365-host config check`: the effective configuration, secrets redacted,
//! and every wrong or missing setting with its fix (exit 1 if any);
//! `o365-host config keys`: every setting name the host and its embedded
//! components read, for deployment templates and their drift test.

use super::deployment::{Deployment, DeploymentArgs, KNOWN_SOURCES};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::settings::catalog::{self, SETTINGS, Scope};
use crate::settings::check::check;
use crate::settings::{Origin, SettingsSource};
use std::collections::BTreeMap;

/// `o365-host config ...`
#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted) and name every
    /// wrong or missing setting with its fix; exits 1 if there is one.
    Check {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        deployment: Box<DeploymentArgs>,
    },
    /// List every setting the host and its embedded components read.
    Keys {
        /// Print JSON (name, scope, secret, default, meaning) instead of names.
        #[arg(long)]
        json: bool,
    },
}

/// A setting a component declares.
struct ComponentSetting {
    name: String,
    source: &'static str,
    default: Option<String>,
    description: String,
}

/// Runs the subcommand; whether the configuration is usable.
pub async fn run(command: ConfigCommand) -> anyhow::Result<bool> {
    match command {
        ConfigCommand::Keys { json } => keys(json).await.map(|_| true),
        ConfigCommand::Check { json, deployment } => config_check(&deployment, json).await,
    }
}

/// What every embedded component version declares, once per name.
async fn component_settings() -> anyhow::Result<Vec<ComponentSetting>> {
    let runtime = Runtime::new(RuntimeConfig {
        cache: None,
        ..RuntimeConfig::default()
    })?;
    let mut out: Vec<ComponentSetting> = Vec::new();
    for known in KNOWN_SOURCES {
        for (version, wasm) in known.builtins {
            let component = runtime
                .load(
                    &format!("embedded {} component ({version})", known.name),
                    wasm,
                )
                .await?;
            for doc in &component.info.settings {
                if catalog::find(&doc.name).is_none() && !out.iter().any(|c| c.name == doc.name) {
                    out.push(ComponentSetting {
                        name: doc.name.clone(),
                        source: known.name,
                        default: doc.default_value.clone(),
                        description: doc.description.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

async fn keys(json: bool) -> anyhow::Result<()> {
    let components = component_settings().await?;
    if json {
        let mut rows: Vec<serde_json::Value> = SETTINGS
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name, "scope": format!("{:?}", s.scope).to_lowercase(),
                    "secret": s.secret, "default": s.default, "meaning": s.meaning,
                })
            })
            .collect();
        rows.extend(components.iter().map(|c| {
            serde_json::json!({
                "name": c.name, "scope": "tenant", "secret": false, "default": c.default,
                "meaning": c.description, "component": c.source,
            })
        }));
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for name in SETTINGS
            .iter()
            .map(|s| s.name)
            .chain(components.iter().map(|c| c.name.as_str()))
        {
            println!("{name}");
        }
    }
    Ok(())
}

async fn config_check(args: &DeploymentArgs, json: bool) -> anyhow::Result<bool> {
    let overrides: BTreeMap<String, String> = args.set.iter().cloned().collect();
    let mut settings = SettingsSource::from_environment(overrides);
    for (name, value) in args.as_settings() {
        if settings.get(name).is_none() {
            settings.set(name, &value);
        }
    }
    if let Some(tenant) = &args.tenant
        && settings
            .get(crate::settings::tenants::TENANTS_SETTING)
            .is_none()
    {
        settings.set("ENTRA_TENANT_ID", tenant);
    }
    let components = component_settings().await?;
    let names: Vec<String> = components.iter().map(|c| c.name.clone()).collect();
    let mut report = check(&settings, Some(&names));
    // What only the components can judge (their own settings, the grants):
    // the deployment as `once` builds it, without reading credentials (no
    // network call; `once` reads them at start and says what is wrong).
    if report.errors.is_empty()
        && let Err(e) = Deployment::build_offline(args, settings.clone()).await
    {
        report.errors.push(crate::settings::check::Problem::new(
            "(components)",
            format!("{e:#}"),
        ));
    }

    let mut rows = Vec::new();
    let host_view = &settings;
    for spec in SETTINGS.iter().filter(|s| s.scope == Scope::Host) {
        rows.push(row(
            "deployment",
            spec.name,
            host_view,
            Some(spec),
            spec.default,
        ));
    }
    for tenant in &report.tenants {
        let group = format!("tenant {}", tenant.label());
        for spec in SETTINGS.iter().filter(|s| s.scope == Scope::Tenant) {
            rows.push(row(
                &group,
                spec.name,
                &tenant.settings,
                Some(spec),
                spec.default,
            ));
        }
        for c in &components {
            rows.push(row(
                &group,
                &c.name,
                &tenant.settings,
                None,
                c.default.as_deref(),
            ));
        }
    }

    if json {
        let out = serde_json::json!({
            "settings": rows,
            "errors": report.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "warnings": report.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("Effective configuration (secrets redacted):");
        let mut group = "";
        for r in &rows {
            if r["group"] != group {
                group = r["group"].as_str().unwrap_or_default();
                println!("\n{group}");
            }
            println!(
                "  {:<46} {:<40} {}",
                r["name"].as_str().unwrap_or_default(),
                r["value"].as_str().unwrap_or("(not set)"),
                r["origin"].as_str().unwrap_or_default()
            );
        }
        if !report.warnings.is_empty() {
            println!("\nWarnings:");
            for w in &report.warnings {
                println!("  - {w}");
            }
        }
        if report.errors.is_empty() {
            println!("\nThe configuration is usable.");
        } else {
            println!("\n{} problem(s):", report.errors.len());
            for e in &report.errors {
                println!("  - {e}");
            }
        }
    }
    Ok(report.errors.is_empty())
}

fn row(
    group: &str,
    name: &str,
    settings: &SettingsSource,
    spec: Option<&catalog::SettingSpec>,
    default: Option<&str>,
) -> serde_json::Value {
    let (value, origin) = match (settings.get(name), settings.origin(name)) {
        (Some(value), Some(origin)) => (
            Some(catalog::display(spec, &value)),
            match origin {
                Origin::Explicit => "set".to_string(),
                Origin::Environment => "environment".to_string(),
                Origin::Tenant(from) => from,
            },
        ),
        _ => (default.map(str::to_string), "default".to_string()),
    };
    let origin = if value.is_none() {
        String::new()
    } else {
        origin
    };
    serde_json::json!({ "group": group, "name": name, "value": value, "origin": origin })
}
