//! `o365-host bench runtime`: what the runtime costs per invocation, measured on
//! this machine: compiling a component, loading it from the compile cache,
//! instantiating it (median and p99) and a full call round trip.

use super::args::RuntimeArgs;
use crate::runtime::{CompileCache, Runtime};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Flags of `bench runtime`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Invocations to measure per benchmark.
    #[arg(long, default_value_t = 2000)]
    pub iterations: usize,
    /// The component to measure; default: the embedded audit connector.
    #[arg(long)]
    pub component: Option<PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Percentiles of a set of durations.
#[derive(Debug, serde::Serialize)]
pub struct Figures {
    /// Samples taken.
    pub samples: usize,
    /// Median, microseconds.
    pub median_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// Mean, microseconds.
    pub mean_us: f64,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    let n = samples.len().max(1);
    let at = |q: f64| {
        samples
            .get(
                ((n as f64 * q).ceil() as usize)
                    .saturating_sub(1)
                    .min(n - 1),
            )
            .map(|d| d.as_secs_f64() * 1e6)
            .unwrap_or(0.0)
    };
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1e6;
    Figures {
        samples: samples.len(),
        median_us: at(0.5),
        p99_us: at(0.99),
        mean_us: mean,
    }
}

/// Runs the benchmarks and prints the figures.
pub async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let wasm = match &args.component {
        Some(path) => std::fs::read(path)?,
        None => connector_artifacts::AUDIT_WASM.to_vec(),
    };
    let cache_dir = tempfile_dir()?;
    let mut config = args.runtime.config()?;
    config.cache = Some(CompileCache::new(&cache_dir));
    let runtime = Runtime::new(config)?;

    let t = Instant::now();
    let component = runtime.load("bench", &wasm).await?;
    let compile = t.elapsed();
    let t = Instant::now();
    let _cached = runtime.load("bench", &wasm).await?;
    let from_cache = t.elapsed();

    let iterations = args.iterations.max(1);
    // Warm up the pool and caches before measuring.
    for _ in 0..50 {
        runtime.instantiate_only(&component).await?;
    }
    let mut instantiate = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        runtime.instantiate_only(&component).await?;
        instantiate.push(t.elapsed());
    }
    let mut round_trip = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let _ = runtime.describe(&component, &[]).await?;
        round_trip.push(t.elapsed());
    }
    let _ = std::fs::remove_dir_all(&cache_dir);

    let report = serde_json::json!({
        "component": format!("{} {}", component.info.name, component.info.version),
        "wasmBytes": wasm.len(),
        "compileMs": compile.as_secs_f64() * 1e3,
        "loadFromCacheMs": from_cache.as_secs_f64() * 1e3,
        "instantiate": figures(instantiate),
        "describeRoundTrip": figures(round_trip),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "component            {}",
            report["component"].as_str().unwrap_or_default()
        );
        println!("wasm size            {} bytes", wasm.len());
        println!("compile (cold)       {:.1} ms", compile.as_secs_f64() * 1e3);
        println!(
            "load from cache      {:.1} ms",
            from_cache.as_secs_f64() * 1e3
        );
        for (label, key) in [
            ("instantiate", "instantiate"),
            ("describe round trip", "describeRoundTrip"),
        ] {
            let f = &report[key];
            println!(
                "{label:<20} median {:.1} µs   p99 {:.1} µs   ({} samples)",
                f["median_us"].as_f64().unwrap_or_default(),
                f["p99_us"].as_f64().unwrap_or_default(),
                f["samples"]
            );
        }
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("o365-host-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
