//! `o365-host set-aside list|retry|dismiss`: the work items that failed too
//! often and were set aside so that the rest could go on (see
//! `checkpoint::SetAsideItem`). `list` shows them with their cause; once the
//! cause is fixed, `retry` puts them back to work and runs a cycle, which
//! runs them first; `dismiss` drops entries whose loss is accepted.

use super::deployment::{Deployment, DeploymentArgs, KNOWN_SOURCES};
use super::once::cycle_all;
use crate::checkpoint::{CheckpointStore, SetAsideItem, store_from_settings};
use crate::settings::SettingsSource;
use anyhow::{Context as _, bail};
use std::path::PathBuf;

/// `o365-host set-aside ...`
#[derive(clap::Subcommand, Debug)]
pub enum SetAsideCommand {
    /// List the set-aside items of every source, with why they failed.
    List(ListArgs),
    /// Put set-aside items back to work and run a cycle of their sources.
    Retry(Box<RetryArgs>),
    /// Drop set-aside items whose loss is accepted.
    Dismiss(DismissArgs),
}

/// Which checkpoints to read.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// The tenant (directory) id.
    #[arg(long, env = "ENTRA_TENANT_ID")]
    pub tenant: String,
    /// Directory of checkpoints (local mode).
    #[arg(long, env = "O365_STATE_DIR", default_value = ".o365-state")]
    pub state_dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Which items to retry.
#[derive(clap::Args, Debug)]
pub struct RetryArgs {
    /// Keys of the items to retry (as `list` shows them); default: every
    /// retryable item of the selected sources.
    #[arg(long = "key")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
}

/// Which items to drop.
#[derive(clap::Args, Debug)]
pub struct DismissArgs {
    /// Keys of the items to drop.
    #[arg(long = "key", required_unless_present = "all")]
    pub keys: Vec<String>,
    /// Drop every set-aside item of the selected sources.
    #[arg(long)]
    pub all: bool,
    /// Sources, comma-separated (default: all).
    #[arg(long, env = "O365_SOURCES", value_delimiter = ',')]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// Runs the subcommand; whether everything it did completed.
pub async fn run(command: SetAsideCommand) -> anyhow::Result<bool> {
    match command {
        SetAsideCommand::List(args) => list(&args).await.map(|_| true),
        SetAsideCommand::Retry(args) => retry(&args).await,
        SetAsideCommand::Dismiss(args) => dismiss(&args).await.map(|_| true),
    }
}

/// The checkpoint store the settings select (Blob storage when
/// `AzureWebJobsStorage` is set, else `--state-dir`), as `once` uses it.
async fn store(args: &ListArgs) -> anyhow::Result<std::sync::Arc<dyn CheckpointStore>> {
    let settings = SettingsSource::from_environment(Default::default());
    store_from_settings(&settings, &args.state_dir).await
}

async fn list(args: &ListArgs) -> anyhow::Result<()> {
    let store = store(args).await?;
    let mut all = Vec::new();
    for known in KNOWN_SOURCES {
        if let Some(checkpoint) = store.load(known.name, &args.tenant).await? {
            all.extend(checkpoint.set_aside.into_iter().map(|e| (known.name, e)));
        }
    }
    if args.json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|(source, e)| serde_json::json!({ "source": source, "entry": e }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if all.is_empty() {
        println!("nothing is set aside for tenant {}", args.tenant);
        return Ok(());
    }
    for (source, e) in &all {
        print_entry(source, e);
    }
    println!(
        "\n{} item(s). After fixing the cause: `o365-host set-aside retry [--key KEY]`; to accept a loss: `o365-host set-aside dismiss --key KEY`.",
        all.len()
    );
    Ok(())
}

fn print_entry(source: &str, e: &SetAsideItem) {
    println!(
        "{source}  {}  ({}, {} attempt(s), window {} to {}, set aside {}{})",
        e.item.key,
        e.item.kind,
        e.attempts,
        iso(e.window_start),
        iso(e.window_end),
        iso(e.set_aside_at),
        if e.retryable {
            ""
        } else {
            ", cannot be retried"
        }
    );
    println!("    {}", e.cause);
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

async fn retry(args: &RetryArgs) -> anyhow::Result<bool> {
    let deployment = Deployment::build(&args.deployment).await?;
    let mut queued = 0;
    for scheduled in &deployment.sources {
        let name = scheduled.source.name();
        let tenant = &scheduled.tenant.id;
        let Some(lease) = deployment.store.try_lease(name, tenant).await? else {
            bail!(
                "{name}: another instance is running this source for this tenant; retry when it is done"
            );
        };
        let Some(mut checkpoint) = deployment.store.load(name, tenant).await? else {
            lease.release().await;
            continue;
        };
        let chosen: Vec<_> = checkpoint
            .set_aside
            .iter()
            .filter(|e| args.keys.is_empty() || args.keys.contains(&e.item.key))
            .filter(|e| {
                if !e.retryable {
                    eprintln!(
                        "{name}: {} cannot be retried ({}); dismiss it to accept the loss",
                        e.item.key, e.cause
                    );
                }
                e.retryable
            })
            .map(|e| e.item.clone())
            .filter(|item| !checkpoint.retry.iter().any(|r| r.key == item.key))
            .collect();
        if chosen.is_empty() {
            lease.release().await;
            continue;
        }
        queued += chosen.len();
        eprintln!("{name}: retrying {} set-aside item(s)", chosen.len());
        checkpoint.retry.extend(chosen);
        let saved = deployment
            .store
            .save(name, tenant, &mut checkpoint)
            .await
            .with_context(|| format!("queueing the retries of {name}"));
        lease.release().await;
        saved?;
    }
    if queued == 0 {
        eprintln!("nothing to retry (`o365-host set-aside list` shows what is set aside)");
        return Ok(true);
    }
    Ok(cycle_all(&deployment).await)
}

async fn dismiss(args: &DismissArgs) -> anyhow::Result<()> {
    let store = store(&args.list).await?;
    let tenant = &args.list.tenant;
    let mut dropped = 0;
    for known in KNOWN_SOURCES {
        if !args.sources.is_empty() && !args.sources.iter().any(|s| s.trim() == known.name) {
            continue;
        }
        let Some(lease) = store.try_lease(known.name, tenant).await? else {
            bail!(
                "{}: another instance is running this source for this tenant; dismiss when it is done",
                known.name
            );
        };
        let loaded = store.load(known.name, tenant).await;
        let Some(mut checkpoint) = loaded? else {
            lease.release().await;
            continue;
        };
        let before = checkpoint.set_aside.len();
        checkpoint
            .set_aside
            .retain(|e| !(args.all || args.keys.contains(&e.item.key)));
        let gone = before - checkpoint.set_aside.len();
        let saved = if gone > 0 {
            store
                .save(known.name, tenant, &mut checkpoint)
                .await
                .map(drop)
        } else {
            Ok(())
        };
        lease.release().await;
        saved?;
        if gone > 0 {
            tracing::warn!(
                source = known.name,
                tenant,
                dismissed = gone,
                "set-aside items dismissed by the operator; their data is accepted as lost"
            );
            dropped += gone;
        }
    }
    println!("dismissed {dropped} item(s)");
    Ok(())
}
