//! The `audit` source component: Office 365 audit logs from the Management
//! Activity API, normalized into the shared event envelope.
//!
//! How it works, in the contract's terms:
//! - `plan` checks the window (at most 24 hours, at most 7 days back),
//!   reads the subscriptions, starts missing ones (at most every 15 minutes
//!   per content type) and returns `list-content` items for every content
//!   type that can be listed, from `O365_LISTING_OVERLAP` before the window
//!   (or from where the type fell behind). Types that cannot be listed are
//!   marked behind in the connector state and reported with
//!   `lagging:<type>:<reason>` counters ([`marks`]);
//! - a `list-content` step lists one page of content blobs and returns a
//!   `content-blob` item per blob (remembered 8 days by content id, so a
//!   blob listed twice is fetched once), then the next page; a listing
//!   aged past 7 days is re-planned inside the limit;
//! - a `content-blob` step fetches the blob and returns its records as
//!   events, a record that cannot be normalized with `normalizationError`;
//! - a `start-subscription` step starts one subscription (items of this
//!   kind were written by earlier versions; they still run).
//!
//! This file is only glue between the generated bindings and the modules,
//! which do not touch WIT imports and are tested natively.
// Natively only the logic is used (tests, benchmark); the component glue
// is checked by the wasm32 build and its lints.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code, unused_imports))]

mod api;
mod blob;
mod content_type;
mod counters;
mod errors;
mod items;
mod listing;
mod marks;
mod normalize;
mod plan;
mod settings;
mod span;
mod split;
mod state;
mod step;
mod subscriptions;
mod time;
mod urls;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod testing;

use connector_sdk::http::{self, HttpError, Response};
use connector_sdk::{
    ConfigError, Context, FetchError, Guest, Info, PlanOutput, PlanRequest, Setting, StepOutput,
    WorkItem, export, log,
};

use crate::api::{Api, Level};

/// The [`Api`] of a running component: the SDK's `wasi:http` client and
/// the host's log.
struct Wasi;

impl Api for Wasi {
    fn get(&mut self, url: &str) -> Result<Response, HttpError> {
        http::get(url, &[("Accept", "application/json")])
    }

    fn post(&mut self, url: &str) -> Result<Response, HttpError> {
        // An explicit zero length: some front ends refuse a POST without
        // one (411) when the body would otherwise be sent chunked.
        http::send(
            "POST",
            url,
            &[("Accept", "application/json"), ("Content-Length", "0")],
            Some(&[]),
        )
    }

    fn log(&mut self, level: Level, message: &str) {
        match level {
            Level::Info => log::info(message),
            Level::Warn => log::warn(message),
        }
    }
}

struct Audit;

impl Guest for Audit {
    fn describe(settings: Vec<Setting>) -> Result<Info, ConfigError> {
        settings::describe(&settings)
    }

    fn plan(ctx: Context, request: PlanRequest) -> Result<PlanOutput, FetchError> {
        let config = settings::Config::for_call(&ctx.settings)?;
        plan::plan(&mut Wasi, &ctx, &config, &request)
    }

    fn step(ctx: Context, item: WorkItem) -> Result<StepOutput, FetchError> {
        let config = settings::Config::for_call(&ctx.settings)?;
        step::step(&mut Wasi, &ctx, &config, &item)
    }
}

// Only a wasm build exports the component. Natively (unit tests, the
// normalization benchmark) the export's symbol names cannot be linked, and
// two connectors in one benchmark binary would clash.
#[cfg(target_arch = "wasm32")]
export!(Audit);
// Audit keeps nothing between calls: no globals.
connector_sdk::reusable!();

/// Runs `step` natively, answering every request with `body`: the very code
/// the component runs for a content blob, without wasm around it, for the
/// benchmark that compares the two (`o365-bench normalize`). Not part of
/// the component's contract.
#[doc(hidden)]
pub fn step_natively(
    ctx: &Context,
    item: &WorkItem,
    body: &[u8],
) -> Result<StepOutput, FetchError> {
    let config = settings::Config::for_call(&ctx.settings)?;
    step::step(&mut Canned(body), ctx, &config, item)
}

/// An [`Api`] that answers every request with the same body.
struct Canned<'a>(&'a [u8]);

impl Api for Canned<'_> {
    fn get(&mut self, _url: &str) -> Result<Response, HttpError> {
        Ok(Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: self.0.to_vec(),
        })
    }

    fn post(&mut self, url: &str) -> Result<Response, HttpError> {
        self.get(url)
    }

    fn log(&mut self, _level: Level, _message: &str) {}
}
