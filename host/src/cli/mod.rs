//! The `o365-host` command line. Each subcommand lives in its own file; this
//! one parses, sets up logging and dispatches.

mod allocator;
mod args;
mod bench;
mod bench_pipeline;
mod component;
mod config;
mod demo;
mod deployment;
mod harness;
mod inspect;
mod once;
mod serve;
mod serve_queue;
mod set_aside;
mod worker;

pub use args::{NetworkArgs, RuntimeArgs, TokenArgs};
pub use deployment::{Deployment, DeploymentArgs, KNOWN_SOURCES, ScheduledSource, grant_for};
pub use inspect::human_ms;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Pull Microsoft 365 activity into Event Hubs through sandboxed connectors.
#[derive(Parser, Debug)]
#[command(name = "o365-host", version, about, long_about = None)]
pub struct Cli {
    /// Log format: `text` for people, `json` for log pipelines (Azure).
    #[arg(long, global = true, env = "O365_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// See it work: the audit pipeline against the embedded simulator.
    Demo(demo::DemoArgs),
    /// Run one cycle of every tenant and source and exit.
    Once(Box<DeploymentArgs>),
    /// Run cycles on each source's schedule until stopped.
    Run(Box<DeploymentArgs>),
    /// Check the configuration, or list the settings.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Serve the Azure Functions custom handler on FUNCTIONS_CUSTOMHANDLER_PORT:
    /// one route per timer function, each running that source's cycle.
    Serve(Box<DeploymentArgs>),
    /// Consume cycle requests from the queue (O365_CYCLE_QUEUE), one cycle
    /// per request: the scale-out path outside Azure Functions.
    Worker(Box<worker::WorkerArgs>),
    /// Enqueue one cycle request per tenant and source that has none pending.
    Plan(Box<DeploymentArgs>),
    /// Requests that kept failing (poison queue): list or retry.
    #[command(subcommand)]
    Poison(worker::PoisonCommand),
    /// Work items that failed too often and were set aside: list or retry.
    #[command(subcommand)]
    SetAside(set_aside::SetAsideCommand),
    /// Run the simulator of the Microsoft APIs on its own.
    Simulate(o365_simulator::SimulateArgs),
    /// Work with component files.
    #[command(subcommand)]
    Component(component::ComponentCommand),
    /// Run one component over a time range and write its events as JSON lines.
    Harness(Box<harness::HarnessArgs>),
    /// Measure the runtime or the whole pipeline.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `o365-host bench ...`
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Compile, cache load, instantiate (median, p99), call round trip.
    Runtime(bench::BenchArgs),
    /// End to end against the simulator: events/s, CPU per million events, peak RSS.
    Pipeline(bench_pipeline::PipelineBenchArgs),
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    allocator::return_freed_memory_to_the_os();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => Ok(exit_code(demo::demo(args).await?)),
        Command::Once(args) => Ok(exit_code(once::once(&args).await?)),
        Command::Run(args) => once::run(&args).await.map(|_| ExitCode::SUCCESS),
        Command::Config(command) => config::run(command).await.map(|usable| {
            if usable {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }),
        Command::Serve(args) => serve::serve(*args).await.map(|_| ExitCode::SUCCESS),
        Command::Worker(args) => worker::worker(*args).await.map(|_| ExitCode::SUCCESS),
        Command::Plan(args) => Ok(exit_code(worker::plan_once(&args).await?)),
        Command::Poison(command) => worker::poison(command).await.map(exit_code),
        Command::SetAside(command) => set_aside::run(command).await.map(exit_code),
        Command::Simulate(args) => o365_simulator::run_cli(args)
            .await
            .map(|_| ExitCode::SUCCESS),
        Command::Component(command) => component::run(command).await.map(|ok| {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }),
        Command::Harness(args) => Ok(exit_code(harness::harness(*args).await?)),
        Command::Bench(BenchCommand::Runtime(args)) => {
            bench::bench(args).await.map(|_| ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Pipeline(args)) => bench_pipeline::bench_pipeline(args)
            .await
            .map(|_| ExitCode::SUCCESS),
    }
}

/// Success, or 2 when the work did not complete (the checkpoint stays; the
/// next run retries).
fn exit_code(complete: bool) -> ExitCode {
    if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("O365_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
