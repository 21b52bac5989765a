//! The `message-trace` component, Microsoft Graph version (0.2.x): Exchange
//! Online message traces from
//! `GET {MESSAGE_TRACES_GRAPH_API}/v1.0/admin/exchange/tracing/messageTraces`.
//!
//! - `plan` turns a window into one `page` item covering it, read from
//!   `MESSAGE_TRACES_OVERLAP` earlier to catch late records (see
//!   `message_trace_core` for the reasoning); no request is made;
//! - a `page` step asks for
//!   `$filter=receivedDateTime ge <start> and receivedDateTime le <end>`
//!   with `$top=MESSAGE_TRACES_PAGE_SIZE` (or follows the
//!   `@odata.nextLink` of the previous page, only if it stays on the API's
//!   origin), and returns the records as events plus the next page.
//!
//! The app needs the Microsoft Graph application permission
//! `ExchangeMessageTrace.Read.All` with admin consent, and the tenant needs
//! the Exchange message trace service principal
//! (`8bd644d1-64a1-4d4b-ae52-2e0cbf64e373`); the errors say how to fix
//! either. Graph allows about 100 requests per 5 minutes per tenant, a
//! query spans at most 10 days, and history goes back 90 days.
//!
//! This file is only glue between the generated bindings and the modules,
//! which are tested natively.
// Natively only the logic is used (tests, benchmark); the component glue
// is checked by the wasm32 build and its lints.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code, unused_imports))]

mod errors;
mod settings;
mod source;

#[cfg(test)]
mod golden_tests;

use connector_sdk::{
    ConfigError, Context, FetchError, Guest, Info, PlanOutput, PlanRequest, Setting, StepOutput,
    WorkItem, export,
};
use message_trace_core::api::Wasi;
use message_trace_core::{plan, step};

use crate::settings::{Config, LIMITS};

struct MessageTraceGraph;

impl Guest for MessageTraceGraph {
    fn describe(settings: Vec<Setting>) -> Result<Info, ConfigError> {
        settings::describe(&settings)
    }

    fn plan(ctx: Context, request: PlanRequest) -> Result<PlanOutput, FetchError> {
        let config = Config::for_call(&ctx.settings)?;
        plan::plan(&ctx, &request, &LIMITS, &config.shared)
    }

    fn step(ctx: Context, item: WorkItem) -> Result<StepOutput, FetchError> {
        let config = Config::for_call(&ctx.settings)?;
        step::step(&mut Wasi, &ctx, &config.graph, &item)
    }
}

// Only a wasm build exports the component. Natively (unit tests, the
// normalization benchmark) the export's symbol names cannot be linked, and
// two connectors in one benchmark binary would clash.
#[cfg(target_arch = "wasm32")]
export!(MessageTraceGraph);
// Keeps nothing between calls: no globals.
connector_sdk::reusable!();

/// Runs `step` natively, answering every request with `body`: the very code
/// the component runs for a page, without wasm around it, for the benchmark
/// that compares the two (`o365-bench normalize`). Not part of the
/// component's contract.
#[doc(hidden)]
pub fn step_natively(
    ctx: &Context,
    item: &WorkItem,
    body: &[u8],
) -> Result<StepOutput, FetchError> {
    let config = Config::for_call(&ctx.settings)?;
    step::step(
        &mut message_trace_core::api::Canned(body),
        ctx,
        &config.graph,
        item,
    )
}
