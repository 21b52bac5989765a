//! What both versions of the `message-trace` component share.
//!
//! The component exists in two versions built from one source tree, so that
//! a tenant moves from the legacy API to the current one by swapping
//! components, not by redeploying:
//!
//! - `message-trace-graph` (0.2.x): Microsoft Graph
//!   `GET /v1.0/admin/exchange/tracing/messageTraces`;
//! - `message-trace-reporting` (0.1.x): the Exchange Reporting Web Service
//!   `reporting.svc/MessageTrace`, which the seed used and Microsoft is
//!   retiring.
//!
//! Both describe themselves as `message-trace`, emit events of kind
//! `MessageTrace` and write the same envelope for the same message (their
//! golden tests compare with one shared expected file). Each version crate
//! only adds its API's wire format through [`step::Source`]: the first page
//! URL, how a page and a record read, and what its error answers mean.
//!
//! # Windows, late records, overlap and the dedup horizon
//!
//! Message traces keep arriving for a while after the message was received:
//! a window that closed a minute ago is not complete yet. Three numbers deal
//! with that, all derived from two settings ([`settings::Shared`]):
//!
//! - **min-age** (`MESSAGE_TRACES_MIN_AGE`, default 15 minutes) becomes
//!   `info.min-age`: the host never plans a window that ends later than
//!   `now - min-age`, so most records of a window are there when it is read.
//! - **overlap** (`MESSAGE_TRACES_OVERLAP`, default 1 hour): every window
//!   `[start, end)` is read from `start - overlap` ([`plan`]), so a record
//!   that showed up after the previous run read its window is still caught
//!   by the next run, as long as it was at most about `min-age + overlap`
//!   late. The price is that the newest `overlap` of every window is read
//!   twice.
//! - **dedup horizon** = `min-age + overlap + 1 hour` becomes
//!   `info.dedup-horizon`: the host remembers published event ids at least
//!   that long and drops the repeats the overlap produces. A record is
//!   emitted first by the run that covers its time and again only by runs
//!   whose re-read reaches back to it, that is within `overlap` of the window
//!   start, which itself lags `now` by `min-age`; the extra hour covers a
//!   missed schedule or a slow cycle. With an overlap of zero nothing is
//!   repeated on purpose and the horizon is zero.
//!
//! The widest window the host may hand over shrinks by the overlap (and a
//! minute of rounding), so that window plus overlap stays within what the
//! API accepts in one query (10 days); the lookback shrinks by the overlap
//! and an hour, so that the re-read start, and the later pages fetched a
//! while after planning, stay inside the API's history. Records outside the
//! queried window (the API's bounds are whole seconds and inclusive) are
//! dropped and counted as `out-of-window`.
//!
//! Planning needs no request: one `page` item covers the extended window,
//! and each page step returns its events and the next page, if any.
//!
//! # One event per message and recipient
//!
//! Both APIs return a row per recipient, all rows of a message sharing its
//! trace id. Event ids therefore name the trace, the recipient and the
//! status ([`identity`]): every recipient is published, an unchanged row
//! read again in the overlap is dropped by the host, and a row whose status
//! changed since (pending, then delivered) is published again.

pub mod api;
/// Lengths of time in settings, as every connector reads them.
pub use connector_sdk::duration;
pub mod counters;
pub mod errors;
pub mod identity;
pub mod items;
pub mod normalize;
pub mod plan;
pub mod records;
pub mod settings;
pub mod step;
pub mod time;
pub mod urls;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
