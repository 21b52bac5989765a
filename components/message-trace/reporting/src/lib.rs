//! The `message-trace` component, legacy version (0.1.x): Exchange Online
//! message traces from the Reporting Web Service, as the seed read them:
//! `GET {service}/MessageTrace?$format=Json&$filter=StartDate eq
//! datetime'..' and EndDate eq datetime'..'`, results in `d.results`,
//! times as `/Date(ms)/`, ids in `MessageTraceId`, paging by `d.__next`.
//!
//! Microsoft began retiring the service on 2026-04-06 and new tenants do
//! not have it. This version exists so that a tenant still on it keeps
//! working with the seed's settings, and moves to Microsoft Graph by
//! swapping in the Graph version of the same component (same name, same
//! events, same checkpoint). When the service answers as retired (410, 404,
//! or an error that says so), the step fails `fatal` with exactly that
//! advice.
//!
//! `EXCHANGE_REPORTING_API` takes either a bare origin
//! (`https://reports.office365.com`, the default; the service path is
//! appended) or the full service URL as the seed's default spelled it
//! (`https://reports.office365.com/ecp/reportingwebservice/reporting.svc`),
//! or even the report's URL (ending in `/MessageTrace`).
//!
//! The app needs the Office 365 Exchange Online application permission
//! `ReportingWebService.Read.All` with admin consent, and a Microsoft Entra
//! role that may read reports (Global Reader or Security Reader) on its
//! service principal. The service keeps 30 days of message traces.
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

struct MessageTraceReporting;

impl Guest for MessageTraceReporting {
    fn describe(settings: Vec<Setting>) -> Result<Info, ConfigError> {
        settings::describe(&settings)
    }

    fn plan(ctx: Context, request: PlanRequest) -> Result<PlanOutput, FetchError> {
        let config = Config::for_call(&ctx.settings)?;
        plan::plan(&ctx, &request, &LIMITS, &config.shared)
    }

    fn step(ctx: Context, item: WorkItem) -> Result<StepOutput, FetchError> {
        let config = Config::for_call(&ctx.settings)?;
        step::step(&mut Wasi, &ctx, &config.reporting, &item)
    }
}

// Only a wasm build exports the component. Natively (unit tests, the
// normalization benchmark) the export's symbol names cannot be linked, and
// two connectors in one benchmark binary would clash.
#[cfg(target_arch = "wasm32")]
export!(MessageTraceReporting);
// Keeps nothing between calls: no globals.
connector_sdk::reusable!();
