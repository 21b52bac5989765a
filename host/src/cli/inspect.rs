//! `o365-host component inspect FILE.wasm` (or a registry version): what a component is, what it
//! asks for with the current settings, and what those settings grant it,
//! marking what would be refused at load.

use super::args::RuntimeArgs;
use super::deployment::grant_for;
use super::harness::operator_settings;
use crate::gate::{AllowedEndpoint, Rate};
use crate::grants::{Grant, Refusal, limits};
use crate::runtime::{Endpoint, Info, LoadedComponent, Runtime, SettingKind};
use std::time::Duration;

/// What to inspect, and with which settings.
pub struct InspectArgs<'a> {
    /// Where the component comes from (a path, a registry version).
    pub origin: &'a str,
    /// The component.
    pub wasm: &'a [u8],
    /// Sandbox limits.
    pub runtime: &'a RuntimeArgs,
    /// JSON instead of text.
    pub json: bool,
    /// `--set NAME=VALUE` settings on top of the environment.
    pub set: &'a [(String, String)],
    /// `--api URL`, as `harness` takes it.
    pub api: Option<&'a str>,
    /// The source to judge it as; default: the one named like the component.
    pub source: Option<&'a str>,
}

/// One declared endpoint and the grant's verdict on it.
struct Verdict {
    asked: Endpoint,
    outcome: Result<AllowedEndpoint, Refusal>,
}

/// What `inspect` found out.
struct Report<'a> {
    component: &'a LoadedComponent,
    /// The description with the current settings, or why they are refused.
    info: Result<Info, String>,
    grant: Grant,
    verdicts: Vec<Verdict>,
    limits: Result<(), limits::LimitError>,
}

impl Report<'_> {
    fn admitted(&self) -> bool {
        self.info.is_ok() && self.limits.is_ok() && self.verdicts.iter().all(|v| v.outcome.is_ok())
    }
}

/// Loads the file and prints what it is (or why it is not a connector),
/// what it asks for and what the settings grant; whether it would be
/// admitted as it stands.
pub async fn inspect(args: InspectArgs<'_>) -> anyhow::Result<bool> {
    let runtime = Runtime::new(args.runtime.config()?)?;
    let component = runtime.load(args.origin, args.wasm).await?;
    let settings = operator_settings(args.set, args.api, &component.info)?;
    let values = settings.for_component(&component.info);
    let info = match runtime.describe(&component, &values).await? {
        Ok(info) => Ok(info),
        Err(e) => Err(format!("setting {}: {}", e.setting, e.message)),
    };
    let described = info.as_ref().unwrap_or(&component.info);
    let grant = grant_for(args.source.unwrap_or(&described.name), &settings)?;
    let verdicts = described
        .endpoints
        .iter()
        .map(|e| Verdict {
            asked: e.clone(),
            outcome: grant.admit_endpoint(&described.name, e),
        })
        .collect();
    let report = Report {
        limits: limits::check(described),
        component: &component,
        info,
        grant,
        verdicts,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&report))?);
    } else {
        print!("{}", render(&report));
    }
    Ok(report.admitted())
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

fn budget_text(rate: Option<Rate>) -> String {
    match rate {
        Some(r) => format!("{} per {}", r.requests, human_ms(r.per.as_millis() as u64)),
        None => "no pacing".into(),
    }
}

fn asked_budget(e: &Endpoint) -> Option<Rate> {
    e.budget.map(|b| Rate {
        requests: b.requests,
        per: Duration::from_millis(b.per),
    })
}

fn render(r: &Report<'_>) -> String {
    let c = r.component;
    let i = r.info.as_ref().unwrap_or(&c.info);
    let mut out = String::new();
    out.push_str(&format!("component  {} {}\n", i.name, i.version));
    out.push_str(&format!("summary    {}\n", i.summary));
    out.push_str(&format!("contract   o365:connector@{}\n", c.contract));
    out.push_str(&format!(
        "instances  {}\n",
        if c.reusable {
            "reusable: the calls of a cycle share warm instances"
        } else {
            "a fresh instance per call"
        }
    ));
    out.push_str(&format!("sha256     {}\n", c.digest));
    out.push_str(&format!(
        "limits     window ≤ {}, lookback {}, min-age {}, dedup horizon {}\n",
        human_ms(i.max_window),
        human_ms(i.max_lookback),
        human_ms(i.min_age),
        human_ms(i.dedup_horizon)
    ));
    if let Err(e) = &r.limits {
        out.push_str(&format!(
            "  REFUSED  {} = {} is outside {}\n",
            e.field, e.value, e.accepted
        ));
    }
    out.push_str(&format!("events     {}\n", i.event_kinds.join(", ")));
    if let Err(e) = &r.info {
        out.push_str(&format!(
            "settings   REFUSED by the component: {e} (shown with its defaults)\n"
        ));
    }
    out.push_str("endpoints  asked for with the current settings, and what the grant gives\n");
    for v in &r.verdicts {
        let e = &v.asked;
        match &e.audience {
            Some(a) => out.push_str(&format!("  {}  token for {a}", e.authority)),
            None => out.push_str(&format!("  {}  no token", e.authority)),
        }
        out.push_str(&format!(", {}\n", budget_text(asked_budget(e))));
        match &v.outcome {
            Ok(allowed) => out.push_str(&format!(
                "      granted: {}, {}\n",
                allowed
                    .audience
                    .as_deref()
                    .map_or_else(|| "no token".to_string(), |a| format!("token for {a}")),
                budget_text(allowed.budget)
            )),
            Err(refusal) => out.push_str(&format!("      REFUSED: {refusal}\n")),
        }
    }
    out.push_str(&format!(
        "grant      what the settings grant source `{}`\n",
        r.grant.source()
    ));
    if r.grant.endpoints().is_empty() {
        out.push_str("  nothing\n");
    }
    for g in r.grant.endpoints() {
        out.push_str(&format!(
            "  {}  token for {}, {} ({})\n",
            g.authority,
            g.audience.as_deref().unwrap_or("nothing"),
            budget_text(g.budget),
            g.granted_by()
        ));
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
    out.push_str(if r.admitted() {
        "verdict    admitted\n"
    } else {
        "verdict    REFUSED: the host would not load it with these settings\n"
    });
    out
}

fn to_json(r: &Report<'_>) -> serde_json::Value {
    let c = r.component;
    let i = r.info.as_ref().unwrap_or(&c.info);
    let rate = |b: Option<Rate>| {
        b.map(|b| serde_json::json!({"requests": b.requests, "perMs": b.per.as_millis() as u64}))
    };
    serde_json::json!({
        "name": i.name,
        "version": i.version,
        "summary": i.summary,
        "contract": format!("o365:connector@{}", c.contract),
        "reusable": c.reusable,
        "sha256": c.digest,
        "maxWindowMs": i.max_window,
        "maxLookbackMs": i.max_lookback,
        "minAgeMs": i.min_age,
        "dedupHorizonMs": i.dedup_horizon,
        "eventKinds": i.event_kinds,
        "settingsError": r.info.as_ref().err(),
        "limitsError": r.limits.as_ref().err().map(|e| serde_json::json!({"field": e.field, "value": e.value, "accepted": e.accepted})),
        "endpoints": r.verdicts.iter().map(|v| serde_json::json!({
            "authority": v.asked.authority,
            "audience": v.asked.audience,
            "budget": rate(asked_budget(&v.asked)),
            "granted": v.outcome.as_ref().ok().map(|a| serde_json::json!({"audience": a.audience, "budget": rate(a.budget)})),
            "refused": v.outcome.as_ref().err().map(|e| e.to_string()),
        })).collect::<Vec<_>>(),
        "grant": {
            "source": r.grant.source(),
            "endpoints": r.grant.endpoints().iter().map(|g| serde_json::json!({
                "authority": g.authority,
                "audience": g.audience,
                "budget": rate(g.budget),
                "setting": g.granted_by(),
            })).collect::<Vec<_>>(),
        },
        "admitted": r.admitted(),
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
