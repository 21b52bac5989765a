//! `simulate` on the command line (the host binary embeds these arguments):
//! start a simulator, print where it listens, serve until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::{
    ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, SimulatorConfig,
    TenantSpec,
};
use crate::server::Simulator;

/// Command-line options of the simulator.
#[derive(Clone, Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address of the main (plain HTTP) listener.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Also serve HTTPS, with a CA generated at start.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the CA certificate (PEM); default: a file in the temp directory.
    #[arg(long)]
    pub ca_out: Option<PathBuf>,
    /// Tenant id.
    #[arg(long, default_value = DEFAULT_TENANT)]
    pub tenant: String,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Serve this many tenants instead of `--tenant`: ids
    /// `00000000-0000-0000-0000-000000000001` upward (`numbered_tenant`),
    /// seeds `--seed` upward, each with its own data and ground truth.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tenants: Option<u32>,
    /// Content blobs per hour, per content type.
    #[arg(long, default_value_t = 4)]
    pub blobs_per_hour: u32,
    /// Events per content blob.
    #[arg(long, default_value_t = 20)]
    pub events_per_blob: u32,
    /// Message traces per hour.
    #[arg(long, default_value_t = 120)]
    pub traces_per_hour: u32,
    /// Make about 2% of SharePoint and DLP events larger than 1 MB.
    #[arg(long)]
    pub large_events: bool,
    /// Client (application) id allowed to get tokens.
    #[arg(long, default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// Its client secret.
    #[arg(long, default_value = DEFAULT_CLIENT_SECRET)]
    pub client_secret: String,
    /// Its certificate (PEM), whose key signs client assertions.
    #[arg(long)]
    pub client_cert: Option<PathBuf>,
    /// Page size of content listings and Reporting WS results.
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// Enforce the real per-tenant request quotas.
    #[arg(long)]
    pub rate_limits: bool,
    /// Delay added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

impl SimulateArgs {
    /// The simulator configuration these options describe.
    pub fn to_config(&self) -> anyhow::Result<SimulatorConfig> {
        let certificate_pem = match &self.client_cert {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            ),
            None => None,
        };
        let spec = |id: &str, seed: u64| TenantSpec {
            audit_blobs_per_hour: self.blobs_per_hour,
            audit_events_per_blob: self.events_per_blob,
            traces_per_hour: self.traces_per_hour,
            large_events: self.large_events,
            ..TenantSpec::new(id, seed)
        };
        let tenants = match self.tenants {
            None => vec![spec(&self.tenant, self.seed)],
            Some(n) => (1..=n as usize)
                .map(|i| spec(&crate::config::numbered_tenant(i), self.seed + i as u64 - 1))
                .collect(),
        };
        Ok(SimulatorConfig {
            tenants,
            tls: self.tls,
            latency: Duration::from_millis(self.latency_ms),
            clients: vec![ClientSpec {
                client_id: self.client_id.clone(),
                secret: Some(self.client_secret.clone()),
                certificate_pem,
            }],
            page_size: self.page_size,
            rate_limits: self.rate_limits,
            listen: self.listen,
            ..SimulatorConfig::default()
        })
    }
}

/// Starts a simulator, prints its URLs (and the CA file), and serves until Ctrl-C.
pub async fn run_cli(args: SimulateArgs) -> anyhow::Result<()> {
    let simulator = Simulator::start(args.to_config()?).await?;
    println!("simulator listening");
    println!("  url:         {}", simulator.url());
    if let (Some(https), Some(pem)) = (simulator.https_url(), simulator.ca_pem()) {
        let path = args.ca_out.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("o365-simulator-{}-ca.pem", std::process::id()))
        });
        std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
        println!("  https_url:   {https}");
        println!("  ca:          {}", path.display());
    }
    println!("  foreign_url: {}", simulator.foreign_url());
    match args.tenants {
        Some(n) => println!(
            "  tenants:     {n}, {} to {}",
            crate::config::numbered_tenant(1),
            crate::config::numbered_tenant(n as usize)
        ),
        None => println!("  tenant:      {}", args.tenant),
    }
    println!("  client_id:   {}", args.client_id);
    println!(
        "  identity:    IDENTITY_ENDPOINT={} IDENTITY_HEADER={}",
        simulator.identity_endpoint(),
        crate::config::DEFAULT_IDENTITY_HEADER
    );
    println!(
        "  key vault:   https_url above; PUT {}/_sim/secrets/NAME to store a secret",
        simulator.url()
    );
    println!("  admin:       {}/_sim/requests", simulator.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    simulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    #[test]
    fn options_become_a_config_with_the_library_defaults() {
        let cli = Cli::parse_from(["simulate", "--tls", "--seed", "7", "--latency-ms", "5"]);
        let config = cli.args.to_config().unwrap();
        let defaults = SimulatorConfig::default();
        assert!(config.tls);
        assert_eq!(config.latency, Duration::from_millis(5));
        assert_eq!(config.tenants[0].seed, 7);
        assert_eq!(config.tenants[0].id, DEFAULT_TENANT);
        assert_eq!(
            config.tenants[0].audit_blobs_per_hour,
            defaults.tenants[0].audit_blobs_per_hour
        );
        assert_eq!(config.page_size, defaults.page_size);
        assert_eq!(config.clients[0].client_id, DEFAULT_CLIENT_ID);
        assert_eq!(config.listen, defaults.listen);
    }

    #[test]
    fn a_tenant_count_serves_numbered_tenants_each_with_its_own_seed() {
        let cli = Cli::parse_from([
            "simulate",
            "--tenants",
            "3",
            "--seed",
            "10",
            "--blobs-per-hour",
            "2",
        ]);
        let config = cli.args.to_config().unwrap();
        let ids: Vec<_> = config.tenants.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                DEFAULT_TENANT,
                "00000000-0000-0000-0000-000000000002",
                "00000000-0000-0000-0000-000000000003"
            ]
        );
        let seeds: Vec<_> = config.tenants.iter().map(|t| t.seed).collect();
        assert_eq!(seeds, [10, 11, 12]);
        assert!(config.tenants.iter().all(|t| t.audit_blobs_per_hour == 2));
    }
}
