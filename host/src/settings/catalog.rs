//! Every setting the host itself reads, with its meaning, default, whether
//! it is secret, and what a valid value looks like: one table that
//! `config check` validates and prints from, and that `config keys` lists
//! for the deployment templates. Settings a component declares (such as
//! `O365_EVENT_TYPES`) come with their own documentation from `describe`
//! and are not repeated here.

/// Whether a setting is the deployment's or each tenant's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One value for the whole deployment.
    Host,
    /// Shared by default; a tenant may set its own (`O365_TENANT_<KEY>__<NAME>`).
    Tenant,
}

/// What a valid value looks like.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Free text.
    Text,
    /// A GUID (tenant and app ids).
    Guid,
    /// A cloud name (`O365_CLOUD`).
    Cloud,
    /// An absolute `https` URL (`http` only for a local simulator).
    Url,
    /// A proxy's URL: `http` or `https`.
    ProxyUrl,
    /// An NCRONTAB schedule with seconds.
    Schedule,
    /// A duration like `90s`, `5m`, `12h`.
    Duration,
    /// A whole number in a range.
    Count {
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
    },
    /// An Event Hub name.
    HubName,
    /// One of a fixed set (any case).
    OneOf(&'static [&'static str]),
    /// A Key Vault name, or the vault's full `https` URL.
    KeyVault,
    /// A TCP port.
    Port,
}

/// One setting.
#[derive(Clone, Copy, Debug)]
pub struct SettingSpec {
    /// Its name, as in the Function App settings.
    pub name: &'static str,
    /// The deployment's or each tenant's.
    pub scope: Scope,
    /// What a valid value looks like.
    pub kind: Kind,
    /// Never printed or logged.
    pub secret: bool,
    /// The value when unset, as operators would write it.
    pub default: Option<&'static str>,
    /// What it does, in one line.
    pub meaning: &'static str,
}

const fn spec(
    name: &'static str,
    scope: Scope,
    kind: Kind,
    default: Option<&'static str>,
    meaning: &'static str,
) -> SettingSpec {
    SettingSpec {
        name,
        scope,
        kind,
        secret: false,
        default,
        meaning,
    }
}

const fn secret(name: &'static str, scope: Scope, meaning: &'static str) -> SettingSpec {
    SettingSpec {
        name,
        scope,
        kind: Kind::Text,
        secret: true,
        default: None,
        meaning,
    }
}

use Kind::*;
use Scope::{Host, Tenant};

/// Every setting the host reads.
#[rustfmt::skip]
pub const SETTINGS: &[SettingSpec] = &[
    // Tenants and credentials.
    spec("O365_TENANTS", Host, Text, None, "tenant keys, comma-separated, for a deployment serving several tenants; each tenant's own values are O365_TENANT_<KEY>__<NAME>"),
    spec("ENTRA_TENANT_ID", Tenant, Guid, None, "the tenant (directory) id to collect from"),
    spec("ENTRA_APP_CLIENT_ID", Tenant, Guid, None, "the app registration's application (client) id"),
    secret("ENTRA_APP_CLIENT_SECRET", Tenant, "the app's client secret (prefer a certificate)"),
    spec("ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME", Tenant, KeyVault, None, "the Key Vault holding the app's certificate (PEM key and certificate as a secret)"),
    spec("ENTRA_APP_CLIENT_CERTIFICATE_NAME", Tenant, Text, None, "the name of that Key Vault secret"),
    spec("ENTRA_APP_CLIENT_CERTIFICATE_PATH", Tenant, Text, None, "a local PEM file with the app's private key and certificate, instead of Key Vault"),
    secret("O365_STATIC_TOKEN", Tenant, "a fixed bearer token for every request (testing only)"),
    spec("O365_CLOUD", Tenant, Cloud, Some("public"), "the tenant's cloud: public, gcchigh, dod or china; picks the authority and every API host"),
    spec("ENTRA_AUTHORITY_HOST", Tenant, Url, None, "the Entra ID authority (default: the cloud's)"),
    // The APIs (grants).
    spec("O365_MANAGEMENT_API", Tenant, Url, None, "Management Activity API base (default: the cloud's); grants the audit source this host"),
    spec("MESSAGE_TRACES_GRAPH_API", Tenant, Url, None, "Microsoft Graph base for message traces (default: the cloud's)"),
    spec("EXCHANGE_REPORTING_API", Tenant, Url, None, "Reporting Web Service base (legacy message traces)"),
    spec("EXCHANGE_REPORTING_SCOPE", Tenant, Url, None, "token audience of the Reporting Web Service"),
    spec("O365_REQUESTS_PER_MINUTE", Tenant, Count { min: 0, max: 100_000 }, Some("2000"), "request budget of the Management Activity API per tenant; 0 turns pacing off"),
    spec("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", Tenant, Count { min: 0, max: 100_000 }, Some("100"), "request budget of Graph message traces per tenant; 0 turns pacing off"),
    // Sources and schedules.
    spec("O365_SOURCES", Tenant, Text, Some("audit,message-trace"), "the sources to run, comma-separated"),
    spec("O365_AUDIT_COMPONENT", Tenant, Text, Some("management-api"), "the audit component: an embedded version or a .wasm path"),
    spec("O365_MESSAGE_TRACE_COMPONENT", Tenant, Text, Some("graph"), "the message-trace component: graph, reporting, or a .wasm path"),
    spec("AUDIT_LOGS_INDEXER_SCHEDULE", Host, Schedule, Some("0 */5 * * * *"), "when audit cycles run (NCRONTAB with seconds)"),
    spec("MESSAGE_TRACES_INDEXER_SCHEDULE", Host, Schedule, Some("0 */5 * * * *"), "when message-trace cycles run (NCRONTAB with seconds)"),
    spec("O365_SET_ASIDE_AFTER", Host, Count { min: 1, max: 1000 }, Some("3"), "cycles a work item may fail before it is set aside"),
    spec("O365_CONCURRENCY", Host, Count { min: 1, max: 1024 }, Some("32"), "work items running at once per cycle"),
    spec("O365_PARALLEL_CYCLES", Host, Count { min: 1, max: 256 }, Some("4"), "cycles (tenant and source) running at once"),
    // Where state and events go.
    spec("O365_STATE_DIR", Host, Text, Some(".o365-state"), "directory of checkpoints when no storage account is set"),
    spec("O365_OUTPUT_DIR", Host, Text, Some("o365-events"), "directory of JSON-lines event files when no Event Hubs namespace is set"),
    secret("AzureWebJobsStorage", Host, "the storage account (connection string) for checkpoints"),
    spec("AzureWebJobsStorage__accountName", Host, Text, None, "the storage account for checkpoints, reached with the managed identity"),
    spec("AzureWebJobsStorage__blobServiceUri", Host, Url, None, "the Blob endpoint for checkpoints, reached with the managed identity"),
    spec("O365_CHECKPOINT_CONTAINER", Host, Text, Some("o365-checkpoints"), "the Blob container of checkpoints"),
    spec("O365_CHECKPOINT_LEASE", Host, Duration, Some("60s"), "the Blob lease a cycle holds on its tenant and source (15s to 60s), renewed while it runs"),
    spec("AzureWebJobsStorage__queueServiceUri", Host, Url, None, "the Queue endpoint for cycle requests, reached with the managed identity (default: from the account name)"),
    spec("O365_CYCLE_QUEUE", Host, Text, None, "scale out: the queue of cycle requests (o365-cycles under Azure Functions); unset, each timer runs its cycles itself"),
    spec("O365_CYCLE_MAX_ATTEMPTS", Host, Count { min: 1, max: 10 }, Some("5"), "attempts of a cycle request before it goes to the poison queue with its cause and fix"),
    spec("O365_CYCLE_VISIBILITY", Host, Duration, Some("90s"), "how long a worker's cycle request stays invisible to others, extended while it runs (at least 1.5 x O365_CHECKPOINT_LEASE)"),
    spec("EventHub__fullyQualifiedNamespace", Host, Text, None, "the Event Hubs namespace (name.servicebus.windows.net) events go to"),
    spec("O365_EVENT_HUBS_ENDPOINT", Host, Url, None, "a custom AMQP endpoint for Event Hubs (private link, test broker)"),
    spec("AUDIT_LOGS_EVENT_HUB_NAME", Tenant, HubName, Some("securityevents"), "the hub audit events go to"),
    spec("MESSAGE_TRACES_EVENT_HUB_NAME", Tenant, HubName, Some("securityevents"), "the hub message-trace events go to"),
    spec("O365_EVENT_HUB_PARTITION_KEY", Host, OneOf(&["none", "tenant", "kind"]), Some("none"), "how events are spread over partitions: none (Event Hubs spreads them), tenant or kind"),
    spec("O365_EVENT_HUBS_SEND_ATTEMPTS", Host, Count { min: 1, max: 100 }, Some("5"), "tries per batch before a cycle fails and keeps its checkpoint"),
    spec("O365_EVENT_HUBS_MAX_EVENT_BYTES", Host, Count { min: 65_536, max: 104_857_600 }, Some("1048576"), "the largest message the hub takes; larger events are published truncated and marked"),
    // Sandbox, network, logs, Functions.
    spec("O365_COMPONENT_MEMORY_MB", Host, Count { min: 16, max: 4096 }, Some("512"), "memory one component call may use, MiB"),
    spec("O365_COMPONENT_DEADLINE", Host, Duration, Some("5m"), "time one component call may take"),
    spec("O365_COMPONENT_IDLE_INSTANCES", Host, Count { min: 0, max: 64 }, Some("32"), "instances of reusable components kept warm between the calls of a cycle; 0: a fresh instance for every call"),
    spec("O365_COMPONENT_CACHE_DIR", Host, Text, None, "directory of compiled components; none compiles on every start"),
    spec("O365_COMPONENT_REGISTRY", Host, Text, None, "the component registry: a directory, blob, blob:<container> or none (default: blob container components with a storage account, else .o365-components)"),
    spec("O365_COMPONENT_POLL_INTERVAL", Host, Duration, Some("60s"), "how often a running host reads the registry's pointers (0s: only at start)"),
    spec("APP_PROXY_URI", Host, ProxyUrl, None, "forward proxy for every outbound call"),
    secret("APP_PROXY_TOKEN", Host, "bearer token for the proxy"),
    spec("O365_EXTRA_CA_CERT", Host, Text, None, "a PEM file of extra CA certificates to trust"),
    spec("O365_LOG", Host, Text, Some("info"), "which log lines are written (tracing filter, e.g. info or o365_host=debug)"),
    spec("O365_LOG_FORMAT", Host, OneOf(&["text", "json"]), Some("text"), "log lines for people (text) or pipelines (json)"),
    spec("FUNCTIONS_CUSTOMHANDLER_PORT", Host, Port, None, "set by Azure Functions: the port `serve` listens on"),
    spec("O365_FUNCTION_TIMEOUT", Host, Text, None, "the Functions invocation timeout a run stops before (`10m`, `00:10:00`, `-1` for none; default: host.json functionTimeout)"),
    spec("AZURE_CLIENT_ID", Host, Guid, None, "a user-assigned managed identity to use instead of the system-assigned one"),
];

/// The spec of `name`, if the host reads it.
pub fn find(name: &str) -> Option<&'static SettingSpec> {
    SETTINGS.iter().find(|s| s.name == name)
}

impl Kind {
    /// Checks `value`; the error says what is wrong and what would be right.
    pub fn check(self, name: &str, value: &str) -> Result<(), String> {
        let value = value.trim();
        match self {
            Text => Ok(()),
            Guid => is_guid(value).then_some(()).ok_or_else(|| {
                "is not a GUID: use the id from the Entra admin center (Overview page), like \
                 `72f988bf-86f1-41af-91ab-2d7cd011db47`, not a domain name"
                    .into()
            }),
            Cloud => crate::grants::Cloud::parse(value)
                .map(|_| ())
                .ok_or_else(|| {
                    format!(
                        "is not a cloud; use one of {}",
                        crate::grants::Cloud::names().join(", ")
                    )
                }),
            Url => check_url(value),
            ProxyUrl => match url::Url::parse(value) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Ok(())
                }
                _ => Err("is not a proxy URL: write it like `http://proxy.example:3128`".into()),
            },
            Schedule => crate::schedule::Schedule::parse(name, value)
                .map(|_| ())
                .map_err(|e| {
                    e.to_string()
                        .replacen(&format!("{name} = `{value}` "), "", 1)
                }),
            Duration => super::parse_duration(value)
                .map(|_| ())
                .map_err(|e| format!("{e}; write a duration like `90s`, `5m` or `12h`")),
            Count { min, max } => match value.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(format!("must be a whole number from {min} to {max}")),
            },
            HubName => check_hub_name(value),
            OneOf(options) => options
                .iter()
                .any(|o| o.eq_ignore_ascii_case(value))
                .then_some(())
                .ok_or_else(|| format!("must be one of {}", options.join(", "))),
            KeyVault => {
                if value.starts_with("https://") {
                    return check_url(value);
                }
                let ok = (3..=24).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && value.as_bytes()[0].is_ascii_alphabetic()
                    && !value.ends_with('-')
                    && !value.contains("--");
                ok.then_some(()).ok_or_else(|| {
                    "is not a Key Vault name: 3 to 24 letters, digits and single `-`, starting \
                     with a letter (or give the vault's https URL)"
                        .into()
                })
            }
            Port => match value.parse::<u16>() {
                Ok(n) if n > 0 => Ok(()),
                _ => Err("must be a TCP port, 1 to 65535".into()),
            },
        }
    }
}

/// Whether `text` is a GUID (`8-4-4-4-12` hex digits).
pub fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check_url(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| {
        format!("is not an absolute URL ({e}); write it like `https://manage.office.com`")
    })?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" | "amqps" => Ok(()),
        "http" | "amqp" if local => Ok(()),
        scheme => Err(format!(
            "uses `{scheme}`: only https is accepted (plain http only for a simulator on localhost)"
        )),
    }
}

/// Event Hubs' naming rule: 1 to 256 letters, digits, `.`, `_` and `-`,
/// starting and ending with a letter or digit.
pub fn check_hub_name(value: &str) -> Result<(), String> {
    let b = value.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 256
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric();
    ok.then_some(()).ok_or_else(|| {
        "is not a name Event Hubs accepts: 1 to 256 letters, digits, `.`, `_` and `-`, starting \
         and ending with a letter or digit"
            .into()
    })
}

/// How `value` of `spec` may be shown: secrets redacted, and keys inside
/// connection strings and URLs masked.
pub fn display(spec: Option<&SettingSpec>, value: &str) -> String {
    if spec.is_some_and(|s| s.secret && s.name != "AzureWebJobsStorage") {
        return format!("(set, {} characters, redacted)", value.chars().count());
    }
    if value.contains('=') && value.contains(';') {
        return value
            .split(';')
            .map(|part| match part.split_once('=') {
                Some((k, _))
                    if ["accountkey", "sharedaccesskey", "sharedaccesssignature"]
                        .contains(&k.trim().to_ascii_lowercase().as_str()) =>
                {
                    format!("{k}=(redacted)")
                }
                _ => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join(";");
    }
    if let Ok(mut url) = url::Url::parse(value)
        && (url.password().is_some() || url.query_pairs().any(|(k, _)| k == "sig"))
    {
        let _ = url.set_password(Some("redacted"));
        if url.query_pairs().any(|(k, _)| k == "sig") {
            url.set_query(Some("(SAS redacted)"));
        }
        return url.to_string();
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn values_are_judged_by_kind() {
        assert!(
            Guid.check("ENTRA_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
                .is_ok()
        );
        let e = Guid
            .check("ENTRA_TENANT_ID", "contoso.onmicrosoft.com")
            .unwrap_err();
        assert!(e.contains("not a GUID"), "{e}");
        assert!(Schedule.check("S", "0 */5 * * * *").is_ok());
        let e = Schedule.check("S", "*/5 * * * *").unwrap_err();
        assert!(e.contains("5 fields"), "{e}");
        assert!(HubName.check("H", "security-events_1").is_ok());
        assert!(HubName.check("H", "-bad").is_err());
        assert!(HubName.check("H", "has space").is_err());
        assert!(Cloud.check("C", "GccHigh").is_ok());
        assert!(Cloud.check("C", "mars").unwrap_err().contains("public"));
        assert!(
            Url.check("U", "http://manage.office.com")
                .unwrap_err()
                .contains("https")
        );
        assert!(Url.check("U", "http://127.0.0.1:8080").is_ok());
        assert!(KeyVault.check("K", "kv-o365-prod").is_ok());
        assert!(KeyVault.check("K", "1kv").is_err());
        assert!(Count { min: 1, max: 10 }.check("N", "0").is_err());
        assert!(Duration.check("D", "10 minutes").is_err());
    }

    #[test]
    fn secrets_and_embedded_keys_are_redacted() {
        let s = find("ENTRA_APP_CLIENT_SECRET");
        assert!(!display(s, "abc~def").contains("abc"));
        let conn = "DefaultEndpointsProtocol=https;AccountName=st1;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net";
        let shown = display(find("AzureWebJobsStorage"), conn);
        assert!(
            shown.contains("AccountName=st1") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
        let shown = display(find("APP_PROXY_URI"), "http://user:hunter2@proxy:3128");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
