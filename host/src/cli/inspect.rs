//! `o365-host component inspect FILE.wasm`.

use super::args::RuntimeArgs;
use crate::runtime::{LoadedComponent, Runtime, SettingKind};
use std::path::Path;

/// Loads `file` and prints what it is, or why it is not a connector.
pub async fn inspect(file: &Path, runtime_args: &RuntimeArgs, json: bool) -> anyhow::Result<()> {
    let runtime = Runtime::new(runtime_args.config()?)?;
    let component = runtime.load_file(file).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&to_json(&component))?);
    } else {
        print!("{}", render(&component));
    }
    Ok(())
}

fn kind_name(kind: SettingKind) -> &'static str {
    match kind {
        SettingKind::Text => "text",
        SettingKind::List => "list",
        SettingKind::Number => "number",
        SettingKind::Duration => "duration",
        SettingKind::ApiBase => "api-base",
        SettingKind::Audience => "audience",
    }
}

pub use crate::fmt::human_ms;

fn render(c: &LoadedComponent) -> String {
    let i = &c.info;
    let mut out = String::new();
    out.push_str(&format!("component  {} {}\n", i.name, i.version));
    out.push_str(&format!("summary    {}\n", i.summary));
    out.push_str(&format!("contract   o365:connector@{}\n", c.contract));
    out.push_str(&format!("sha256     {}\n", c.digest));
    out.push_str(&format!(
        "limits     window ≤ {}, lookback {}, min-age {}, dedup horizon {}\n",
        human_ms(i.max_window),
        human_ms(i.max_lookback),
        human_ms(i.min_age),
        human_ms(i.dedup_horizon)
    ));
    out.push_str(&format!("events     {}\n", i.event_kinds.join(", ")));
    out.push_str("endpoints  (with default settings)\n");
    for e in &i.endpoints {
        match &e.audience {
            Some(a) => out.push_str(&format!("  {}  token for {a}\n", e.authority)),
            None => out.push_str(&format!("  {}  no token\n", e.authority)),
        }
    }
    out.push_str("settings\n");
    for s in &i.settings {
        let default = s
            .default_value
            .as_deref()
            .map(|d| format!("default `{d}`"))
            .unwrap_or_else(|| "no default".into());
        out.push_str(&format!(
            "  {} ({}, {default})\n      {}\n",
            s.name,
            kind_name(s.kind),
            s.description
        ));
    }
    out
}

fn to_json(c: &LoadedComponent) -> serde_json::Value {
    let i = &c.info;
    serde_json::json!({
        "name": i.name,
        "version": i.version,
        "summary": i.summary,
        "contract": format!("o365:connector@{}", c.contract),
        "sha256": c.digest,
        "maxWindowMs": i.max_window,
        "maxLookbackMs": i.max_lookback,
        "minAgeMs": i.min_age,
        "dedupHorizonMs": i.dedup_horizon,
        "eventKinds": i.event_kinds,
        "endpoints": i.endpoints.iter().map(|e| serde_json::json!({"authority": e.authority, "audience": e.audience})).collect::<Vec<_>>(),
        "settings": i.settings.iter().map(|s| serde_json::json!({"name": s.name, "kind": kind_name(s.kind), "default": s.default_value, "description": s.description})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::human_ms;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_ms(86_400_000), "1d");
        assert_eq!(human_ms(7 * 86_400_000), "7d");
        assert_eq!(human_ms(3_600_000), "1h");
        assert_eq!(human_ms(600_000), "10m");
        assert_eq!(human_ms(0), "0s");
        assert_eq!(human_ms(1500), "1500ms");
    }
}
