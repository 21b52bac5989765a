//! The guest side of the `o365:connector` contract, shared by every source
//! component.
//!
//! Components depend on this crate instead of generating bindings themselves,
//! so that the contract is compiled in one place and every component speaks
//! the same version of it. It adds what each connector would otherwise
//! rewrite, so that every connector applies the same rules:
//!
//! - [`http`]: a small blocking HTTP client over `wasi:http` (the only way
//!   out of the sandbox; the host adds tokens and enforces the allow-list);
//! - [`api_error`] and [`fetch_error`]: reading the error an API writes into
//!   a failed answer, and the contract's `fetch-error` for it;
//! - [`url`]: the API base's origin, and the check every link passes before
//!   it is followed (the host would send the API's token along);
//! - [`settings`], [`duration`], [`time`], [`ip`], [`counters`]: reading settings,
//!   timestamps and client IP addresses, and counting;
//! - [`loose`]: reading a record's fields leniently, borrowing their text;
//! - `testkit` (feature `testkit`, for tests only): a scripted API, the
//!   golden-file runner and the envelope schema check.
//!
//! A component implements [`Guest`] and calls [`export!`]:
//!
//! ```ignore
//! struct MyConnector;
//! impl connector_sdk::Guest for MyConnector { /* describe, plan, step */ }
//! connector_sdk::export!(MyConnector);
//! ```

pub mod api_error;
pub mod counters;
pub mod duration;
pub mod fetch_error;
pub mod http;
pub mod ip;
pub mod log;
pub mod loose;
pub mod settings;
pub mod time;
pub mod url;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

/// Bindings generated from `wit/` for the `source` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "o365:connector/source",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "connector_sdk::bindings",
        export_macro_name: "export",
    });
}

pub use bindings::export;
pub use bindings::exports::o365::connector::connector::Guest;
pub use bindings::o365::connector::types::{
    ConfigError, Context, Counter, DurationMs, Endpoint, Event, FetchError, Info, PlanOutput,
    PlanRequest, RequestBudget, Setting, SettingDoc, SettingKind, StepOutput, Throttle, TimeWindow,
    Timestamp, WorkItem,
};

/// Builds a [`Counter`].
pub fn counter(name: &str, value: u64) -> Counter {
    Counter {
        name: name.to_string(),
        value,
    }
}

/// Name of the custom section that declares a component reusable
/// ([`reusable!`]); the host looks for it when it loads a component.
pub const REUSABLE_SECTION: &str = "o365:connector/reusable";

/// Declares that this component keeps nothing between calls, so the host may
/// run several calls of one cycle on one instance instead of a fresh one
/// each (up to a third less CPU per event; `docs/components.md`).
///
/// Declare it only if the component's code holds no state in globals
/// (`static`, `thread_local!`, lazily initialized caches) that one call
/// could leave for the next: a reused instance keeps its memory. The
/// declaration is a custom section in the compiled module, so it changes
/// nothing in the contract's shape; a host that does not know it calls the
/// component with a fresh instance as before.
///
/// ```ignore
/// connector_sdk::reusable!();
/// ```
#[macro_export]
macro_rules! reusable {
    () => {
        #[cfg(target_arch = "wasm32")]
        #[unsafe(link_section = "o365:connector/reusable")]
        #[used]
        static __O365_CONNECTOR_REUSABLE: [u8; 1] = [1];
    };
}
