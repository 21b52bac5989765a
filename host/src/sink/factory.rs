//! Which sink a deployment publishes to, chosen once from the settings:
//! Event Hubs when `EventHub__fullyQualifiedNamespace` is set, otherwise
//! JSON-lines files. Built once (Event Hubs connections are shared across
//! cycles); each cycle asks it for a cheap sink of its own.

use super::eventhubs::{EventHubsConfig, EventHubsSink, Producers, TestBrokerCredential};
use super::{EventSink, JsonLinesSink};
use crate::azure::AzureIdentity;
use crate::settings::SettingsSource;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;

/// Makes a sink per cycle.
pub enum SinkFactory {
    /// `<out_dir>/<source>.jsonl`.
    Files(PathBuf),
    /// The Event Hubs namespace's producers.
    EventHubs(Arc<Producers>),
}

impl SinkFactory {
    /// Event Hubs if configured (credential: the host's Azure identity, or a
    /// fixed one for a plain `amqp://` test broker), else files in `out_dir`.
    pub fn from_settings(settings: &SettingsSource, out_dir: PathBuf) -> anyhow::Result<Self> {
        let Some(config) = EventHubsConfig::from_settings(settings)? else {
            return Ok(Self::Files(out_dir));
        };
        let credential = if config.is_plain_test_endpoint() {
            Arc::new(TestBrokerCredential)
        } else {
            AzureIdentity::from_settings(settings).credential()?
        };
        Ok(Self::EventHubs(Arc::new(Producers::new(
            config, credential,
        ))))
    }

    /// A sink for one cycle of `source` for `tenant`.
    pub async fn for_source(
        &self,
        source: &str,
        tenant: &str,
    ) -> anyhow::Result<Box<dyn EventSink>> {
        Ok(match self {
            Self::Files(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Box::new(JsonLinesSink::append_to(&dir.join(format!("{source}.jsonl"))).await?)
            }
            Self::EventHubs(producers) => {
                Box::new(EventHubsSink::new(producers.clone(), source, tenant))
            }
        })
    }
}
