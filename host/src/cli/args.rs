//! Options shared by several commands: sandbox limits, network, credentials.
//! Each flag also reads an environment variable, so the same settings work
//! as Function App settings.

use crate::gate::{NetworkConfig, ProxyConfig};
use crate::grants::Cloud;
use crate::runtime::{CompileCache, RuntimeConfig};
use crate::settings::SettingsSource;
use crate::settings::parse_duration;
use crate::tokens::{Secret, TokenProvider, provider_from_settings};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Sandbox limits and the compile cache.
#[derive(clap::Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Memory one component invocation may use, in MiB.
    #[arg(long, env = "O365_COMPONENT_MEMORY_MB", default_value_t = 512)]
    pub memory_mb: usize,
    /// Time one component call may take (for example 90s, 5m).
    #[arg(long, env = "O365_COMPONENT_DEADLINE", default_value = "5m", value_parser = parse_duration)]
    pub deadline: Duration,
    /// Instances of reusable components kept warm between the calls of a
    /// cycle (they take instance slots while idle); 0 gives every call a
    /// fresh instance.
    #[arg(long, env = "O365_COMPONENT_IDLE_INSTANCES", default_value_t = 32)]
    pub idle_instances: u32,
    /// Directory for compiled components; `none` compiles on every start.
    /// Default: the user's cache directory.
    #[arg(long, env = "O365_COMPONENT_CACHE_DIR")]
    pub cache_dir: Option<String>,
}

impl RuntimeArgs {
    /// The runtime configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<RuntimeConfig> {
        if self.memory_mb < 16 {
            anyhow::bail!(
                "O365_COMPONENT_MEMORY_MB / --memory-mb is {} MiB; a component needs at least 16",
                self.memory_mb
            );
        }
        if self.idle_instances > 64 {
            anyhow::bail!(
                "O365_COMPONENT_IDLE_INSTANCES / --idle-instances is {}; at most 64 (the instance slots), \
                 and the default, 32, keeps one for each of the 32 items a cycle runs at once",
                self.idle_instances
            );
        }
        let cache = match self.cache_dir.as_deref() {
            Some("none") => None,
            Some(dir) => Some(CompileCache::new(dir)),
            None => default_cache_dir().map(CompileCache::new),
        };
        Ok(RuntimeConfig {
            memory_limit: self.memory_mb * 1024 * 1024,
            call_deadline: self.deadline,
            idle_instances: self.idle_instances,
            cache,
            ..RuntimeConfig::default()
        })
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    Some(base.join("o365-host").join("components"))
}

/// Proxy, extra trust and timeouts for outbound calls.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Forward proxy for every outbound call.
    #[arg(long, env = "APP_PROXY_URI")]
    pub proxy: Option<String>,
    /// Token for the proxy, sent as `Proxy-Authorization: Bearer ...`.
    #[arg(long, env = "APP_PROXY_TOKEN", hide_env_values = true)]
    pub proxy_token: Option<String>,
    /// A PEM file of extra CA certificates to trust (a simulator's CA).
    #[arg(long, env = "O365_EXTRA_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl NetworkArgs {
    /// The network configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<NetworkConfig> {
        let mut config = NetworkConfig::default();
        if let Some(uri) = self.proxy.as_deref().filter(|u| !u.trim().is_empty()) {
            config.proxy = Some(ProxyConfig {
                uri: uri.to_string(),
                token: self.proxy_token.clone().map(Secret::new),
            });
        }
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "O365_EXTRA_CA_CERT / --ca-cert: cannot read {}",
                    path.display()
                )
            })?;
            config.extra_ca_pems.push(pem);
        }
        Ok(config)
    }
}

/// Where tokens come from.
#[derive(clap::Args, Debug, Clone)]
pub struct TokenArgs {
    /// A fixed bearer token for every request (testing).
    #[arg(long, env = "O365_STATIC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The app (client) id for client-credentials tokens.
    #[arg(long, env = "ENTRA_APP_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The app's client secret.
    #[arg(long, env = "ENTRA_APP_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// The Entra ID authority host (a simulator's URL for local runs).
    /// Default: the one of the cloud `O365_CLOUD` names
    /// (`https://login.microsoftonline.com` in the public cloud).
    #[arg(long, env = "ENTRA_AUTHORITY_HOST")]
    pub authority: Option<String>,
}

impl TokenArgs {
    /// The token provider these flags and `settings` describe, for a
    /// tenant in `cloud` (`crate::tokens::provider_from_settings`; a flag
    /// wins over the setting of the same name).
    pub async fn provider(
        &self,
        settings: &SettingsSource,
        cloud: Cloud,
        http: reqwest::Client,
        extra_ca_pems: &[String],
    ) -> anyhow::Result<Arc<dyn TokenProvider>> {
        let mut settings = settings.clone();
        if self.token.is_some() {
            // `--token` chosen on the command line wins over an app
            // credential in the environment (one way to get tokens).
            for name in crate::tokens::APP_CREDENTIAL_SETTINGS {
                settings.set(name, "");
            }
        }
        for (name, value) in [
            ("O365_STATIC_TOKEN", &self.token),
            ("ENTRA_APP_CLIENT_ID", &self.client_id),
            ("ENTRA_APP_CLIENT_SECRET", &self.client_secret),
            ("ENTRA_AUTHORITY_HOST", &self.authority),
        ] {
            if let Some(value) = value {
                settings.set(name, value);
            }
        }
        provider_from_settings(&settings, cloud, http, extra_ca_pems).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_flag_wins_over_an_app_credential_in_the_settings() {
        let settings = SettingsSource::from_pairs(&[
            ("ENTRA_APP_CLIENT_ID", "app"),
            ("ENTRA_APP_CLIENT_SECRET", "s"),
        ]);
        let flags = TokenArgs {
            token: Some("fixed".into()),
            client_id: None,
            client_secret: None,
            authority: None,
        };
        let provider = flags
            .provider(&settings, Cloud::Public, reqwest::Client::new(), &[])
            .await
            .expect("the flag chooses the fixed token");
        let token = provider
            .token("t1", "https://manage.office.com")
            .await
            .unwrap();
        assert_eq!(token.value.expose(), "fixed");

        let both = TokenArgs {
            token: Some("fixed".into()),
            client_secret: Some("s2".into()),
            ..flags
        };
        let err = both
            .provider(&settings, Cloud::Public, reqwest::Client::new(), &[])
            .await
            .err()
            .expect("two ways given as flags");
        assert!(err.to_string().contains("both set"), "{err}");
    }
}
