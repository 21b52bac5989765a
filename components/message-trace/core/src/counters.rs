//! The counters both versions report, each named once here so that the
//! name a metric has in the host and the place that counts it cannot drift
//! apart. They are added up in the SDK's
//! [`Counters`](connector_sdk::counters::Counters).

/// Pages fetched (one per `page` step that got an answer).
pub const PAGES: &str = "pages";
/// Events returned.
pub const EVENTS: &str = "events";
/// Records whose time lies outside the queried window (the API's bounds are
/// whole seconds and inclusive; the window is half-open), dropped: the
/// window that holds them publishes them.
pub const OUT_OF_WINDOW: &str = "out-of-window";
/// Rows without a trace id, which got one derived from their content.
pub const RECORDS_WITHOUT_ID: &str = "records-without-id";
/// Stored next-page links that pointed away from the current API (the
/// other version swapped in, or the API base changed), whose window was
/// read again from its first page instead.
pub const RESTARTED_WINDOWS: &str = "restarted-windows";
/// Records that could not be normalized (not a JSON object, a missing or
/// unreadable received time), published as they came with
/// `normalizationError`.
pub const MALFORMED_RECORDS: &str = "malformed-records";
