//! `o365-host worker`, `o365-host plan` and `o365-host poison`: the
//! scale-out path outside Azure Functions (`crate::scale`).

use super::deployment::{Deployment, DeploymentArgs};
use crate::scale::{ScaleOut, plan, worker};
use crate::settings::SettingsSource;
use anyhow::Context as _;
use std::sync::Arc;

/// `o365-host worker` flags.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// Also plan: enqueue every tenant and source at start and then on its
    /// schedule (any number of workers may; each request is enqueued once).
    #[arg(long)]
    pub plan: bool,
    /// Exit once the queue is empty and no cycle runs, instead of waiting
    /// for more (a catch-up, a benchmark).
    #[arg(long)]
    pub exit_when_idle: bool,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
}

/// `o365-host poison ...`
#[derive(clap::Subcommand, Debug)]
pub enum PoisonCommand {
    /// List poisoned requests (up to 32, oldest first) with cause and fix.
    List {
        /// A setting, `NAME=VALUE` (repeatable); overrides the environment.
        #[arg(long = "set", value_parser = crate::settings::parse_assignment)]
        set: Vec<(String, String)>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put every poisoned request back on the cycle queue (after fixing
    /// the cause).
    Retry {
        /// A setting, `NAME=VALUE` (repeatable); overrides the environment.
        #[arg(long = "set", value_parser = crate::settings::parse_assignment)]
        set: Vec<(String, String)>,
    },
}

async fn scale_out(settings: &SettingsSource) -> anyhow::Result<ScaleOut> {
    ScaleOut::from_settings(settings).await?.with_context(|| {
        format!(
            "queue mode is off: set {} to the cycle queue's name (under Azure Functions, `{}`)",
            crate::scale::settings::QUEUE_SETTING,
            crate::scale::FUNCTIONS_QUEUE
        )
    })
}

fn settings_of(set: &[(String, String)]) -> SettingsSource {
    SettingsSource::from_environment(set.iter().cloned().collect())
}

/// Consumes cycle requests until SIGTERM or Ctrl-C (running cycles finish
/// and settle their requests), or until idle with `--exit-when-idle`.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let scale = Arc::new(scale_out(&settings_of(&args.deployment.set)).await?);
    let deployment = Arc::new(Deployment::build(&args.deployment).await?);
    let _following = deployment.follow_registry();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: no new requests; running cycles finish");
        let _ = stop.send(true);
        // Keep the sender: a dropped one would read as a stop too.
        std::future::pending::<()>().await;
    });
    let options = worker::WorkerOptions {
        plan: args.plan,
        exit_when_idle: args.exit_when_idle,
    };
    let stats = worker::run(deployment, scale, options, stopped).await?;
    eprintln!(
        "worker: {} request(s) done, {} continued, {} failed attempt(s) left for a retry, {} poisoned",
        stats.done, stats.continued, stats.retried, stats.poisoned
    );
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Enqueues one request per tenant and source that has none pending.
pub async fn plan_once(args: &DeploymentArgs) -> anyhow::Result<bool> {
    let scale = scale_out(&settings_of(&args.set)).await?;
    let deployment = Deployment::build(args).await?;
    let report = plan(&deployment, &scale, None).await;
    eprintln!("{}", report.line());
    for failure in &report.failed {
        eprintln!("  not planned: {failure}");
    }
    Ok(report.failed.is_empty())
}

/// `poison list` / `poison retry`.
pub async fn poison(command: PoisonCommand) -> anyhow::Result<bool> {
    match command {
        PoisonCommand::List { set, json } => {
            let scale = scale_out(&settings_of(&set)).await?;
            let records = scale.queue.peek_poison().await?;
            let total = scale
                .queue
                .poison_length()
                .await
                .unwrap_or(records.len() as u64);
            for record in &records {
                match (record, json) {
                    (Ok(record), true) => println!("{}", serde_json::to_string(record)?),
                    (Ok(record), false) => println!("{}", record.line()),
                    (Err(e), _) => println!("(unreadable message: {e})"),
                }
            }
            if !json {
                eprintln!(
                    "{total} poisoned request(s) in queue {}{}",
                    scale.queue.poison_name(),
                    if total > records.len() as u64 {
                        " (the oldest 32 shown)"
                    } else {
                        ""
                    }
                );
            }
            Ok(true)
        }
        PoisonCommand::Retry { set } => {
            let scale = scale_out(&settings_of(&set)).await?;
            let moved = scale.queue.retry_poisoned().await?;
            eprintln!(
                "{moved} poisoned request(s) put back on queue {}",
                scale.queue.name()
            );
            Ok(true)
        }
    }
}
