//! The Event Hubs sink's settings: namespace, hub per source, endpoint,
//! partition-key policy, send attempts. Every wrong value is refused at
//! start with the setting's name and the fix.

use crate::settings::SettingsSource;
use anyhow::{Context as _, bail};

/// The hub a source publishes to when its setting is absent (the seed's default).
pub const DEFAULT_HUB: &str = "securityevents";

/// Which partition key each event carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionKeyPolicy {
    /// No key: Event Hubs spreads batches over partitions (default).
    None,
    /// The tenant id: one tenant's events stay in order in one partition.
    Tenant,
    /// The event kind (audit content type, `MessageTrace`).
    Kind,
}

impl PartitionKeyPolicy {
    /// Parses `O365_EVENT_HUB_PARTITION_KEY`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Self::None,
            "tenant" => Self::Tenant,
            "kind" => Self::Kind,
            other => bail!(
                "O365_EVENT_HUB_PARTITION_KEY = `{other}` is not a policy: use `none` (default, \
                 Event Hubs spreads the load), `tenant` or `kind`"
            ),
        })
    }
}

/// Everything the Event Hubs sink needs from the settings.
#[derive(Clone, Debug)]
pub struct EventHubsConfig {
    /// `EventHub__fullyQualifiedNamespace`, e.g. `myns.servicebus.windows.net`.
    pub namespace: String,
    /// The hub of the audit source (`AUDIT_LOGS_EVENT_HUB_NAME`).
    pub audit_hub: String,
    /// The hub of the message-trace source (`MESSAGE_TRACES_EVENT_HUB_NAME`).
    pub message_trace_hub: String,
    /// `O365_EVENT_HUBS_ENDPOINT`: where to connect instead of
    /// `amqps://<namespace>` (a private endpoint, a test broker).
    pub endpoint: Option<String>,
    /// `O365_EVENT_HUB_PARTITION_KEY`.
    pub partition_key: PartitionKeyPolicy,
    /// `O365_EVENT_HUBS_SEND_ATTEMPTS`: tries per batch before a flush fails.
    pub send_attempts: u32,
    /// `O365_EVENT_HUBS_MAX_EVENT_BYTES`: the largest message the hub takes
    /// (1 MiB on Standard and Premium); larger events are truncated.
    pub max_event_bytes: usize,
}

impl EventHubsConfig {
    /// The config if `EventHub__fullyQualifiedNamespace` is set, else `None`.
    pub fn from_settings(settings: &SettingsSource) -> anyhow::Result<Option<Self>> {
        let Some(namespace) = settings
            .get("EventHub__fullyQualifiedNamespace")
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
        else {
            return Ok(None);
        };
        if namespace.contains("://") || namespace.contains('/') {
            bail!(
                "EventHub__fullyQualifiedNamespace = `{namespace}` must be a host name such as \
                 `myns.servicebus.windows.net`, without scheme or path"
            );
        }
        let hub = |name: &str| -> anyhow::Result<String> {
            let hub = settings
                .get(name)
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| DEFAULT_HUB.to_string());
            validate_hub_name(&hub).with_context(|| format!("{name} = `{hub}`"))?;
            Ok(hub)
        };
        let endpoint = settings
            .get("O365_EVENT_HUBS_ENDPOINT")
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty());
        if let Some(endpoint) = &endpoint
            && !(endpoint.starts_with("amqp://") || endpoint.starts_with("amqps://"))
        {
            bail!(
                "O365_EVENT_HUBS_ENDPOINT = `{endpoint}` must be an `amqps://host[:port]` URL \
                 (or `amqp://` for a local test broker)"
            );
        }
        let send_attempts = match settings.get("O365_EVENT_HUBS_SEND_ATTEMPTS") {
            None => 5,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => bail!(
                    "O365_EVENT_HUBS_SEND_ATTEMPTS = `{text}` must be a whole number from 1 to 100"
                ),
            },
        };
        let max_event_bytes = match settings.get("O365_EVENT_HUBS_MAX_EVENT_BYTES") {
            None => 1 << 20,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if (64 * 1024..=100 << 20).contains(&n) => n,
                _ => bail!(
                    "O365_EVENT_HUBS_MAX_EVENT_BYTES = `{text}` must be a byte count from 65536 \
                     to 104857600 (1048576 for Standard and Premium)"
                ),
            },
        };
        Ok(Some(Self {
            max_event_bytes,
            namespace,
            audit_hub: hub("AUDIT_LOGS_EVENT_HUB_NAME")?,
            message_trace_hub: hub("MESSAGE_TRACES_EVENT_HUB_NAME")?,
            endpoint,
            partition_key: PartitionKeyPolicy::parse(
                &settings
                    .get("O365_EVENT_HUB_PARTITION_KEY")
                    .unwrap_or_default(),
            )?,
            send_attempts,
        }))
    }

    /// The hub a source publishes to.
    pub fn hub_for(&self, source: &str) -> &str {
        match source {
            "message-trace" => &self.message_trace_hub,
            _ => &self.audit_hub,
        }
    }

    /// A plain `amqp://` endpoint: only a local test broker, which takes any token.
    pub fn is_plain_test_endpoint(&self) -> bool {
        self.endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("amqp://"))
    }
}

/// Event Hubs name rules: 1–256 characters, letters, digits, `.`, `_`,
/// `-`, starting and ending with a letter or digit.
pub fn validate_hub_name(name: &str) -> anyhow::Result<()> {
    let ok_len = (1..=256).contains(&name.len());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_len && ok_chars && ends(name.chars().next()) && ends(name.chars().last()) {
        Ok(())
    } else {
        bail!(
            "not a valid Event Hub name: use 1 to 256 letters, digits, `.`, `_` or `-`, \
             starting and ending with a letter or digit"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_namespace_means_no_event_hubs_sink() {
        let settings = SettingsSource::from_pairs(&[]);
        assert!(EventHubsConfig::from_settings(&settings).unwrap().is_none());
    }

    #[test]
    fn hubs_default_to_securityevents_and_follow_their_settings() {
        let settings = SettingsSource::from_pairs(&[
            (
                "EventHub__fullyQualifiedNamespace",
                "ns.servicebus.windows.net",
            ),
            ("MESSAGE_TRACES_EVENT_HUB_NAME", "traces"),
        ]);
        let config = EventHubsConfig::from_settings(&settings).unwrap().unwrap();
        assert_eq!(config.hub_for("audit"), "securityevents");
        assert_eq!(config.hub_for("message-trace"), "traces");
        assert_eq!(config.partition_key, PartitionKeyPolicy::None);
        assert_eq!(config.send_attempts, 5);
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value, expect) in [
            (
                "AUDIT_LOGS_EVENT_HUB_NAME",
                "-hub",
                "AUDIT_LOGS_EVENT_HUB_NAME",
            ),
            (
                "AUDIT_LOGS_EVENT_HUB_NAME",
                "hub/x",
                "not a valid Event Hub name",
            ),
            (
                "O365_EVENT_HUB_PARTITION_KEY",
                "random",
                "O365_EVENT_HUB_PARTITION_KEY",
            ),
            (
                "O365_EVENT_HUBS_ENDPOINT",
                "http://x",
                "O365_EVENT_HUBS_ENDPOINT",
            ),
            (
                "O365_EVENT_HUBS_SEND_ATTEMPTS",
                "0",
                "O365_EVENT_HUBS_SEND_ATTEMPTS",
            ),
            (
                "EventHub__fullyQualifiedNamespace",
                "sb://ns/",
                "without scheme",
            ),
        ] {
            let mut pairs = vec![(
                "EventHub__fullyQualifiedNamespace",
                "ns.servicebus.windows.net",
            )];
            pairs.push((name, value));
            let settings = SettingsSource::from_pairs(&pairs);
            let error = format!(
                "{:#}",
                EventHubsConfig::from_settings(&settings).unwrap_err()
            );
            assert!(error.contains(expect), "{name}={value}: {error}");
        }
        let long = "a".repeat(257);
        assert!(validate_hub_name(&long).is_err());
        assert!(validate_hub_name(&"a".repeat(256)).is_ok());
        assert!(validate_hub_name("a.b_c-1").is_ok());
    }
}
