//! The counters this connector reports, each named once here so that the
//! name a metric has in the host and the place that counts it cannot drift
//! apart. They are added up in the SDK's
//! [`Counters`](connector_sdk::counters::Counters).

/// Listing pages fetched (one per `list-content` step that got an answer).
pub const PAGES: &str = "pages";
/// Content blobs fetched.
pub const BLOBS: &str = "blobs";
/// Events returned (after ignored sources were dropped).
pub const EVENTS: &str = "events";
/// Records dropped because their `Source` is in `O365_IGNORED_SOURCES`.
pub const IGNORED_EVENTS: &str = "ignored-events";
/// Records that had no `Id` and got `<contentId>:<index>` instead.
pub const RECORDS_WITHOUT_ID: &str = "records-without-id";
/// Records whose `CreationTime` could not be read; their time is the blob's
/// `contentCreated`.
pub const BAD_TIMES: &str = "bad-times";
/// Subscriptions started (`POST subscriptions/start` that succeeded).
pub const SUBSCRIPTIONS_STARTED: &str = "subscriptions-started";
/// Configured content types without an enabled subscription at plan time:
/// not listed in this window (a new subscription yields nothing for a while).
pub const SUBSCRIPTIONS_PENDING: &str = "subscriptions-pending";
/// Seconds of listing windows that aged past the API's 7-day limit before
/// they could be listed: content lost for good (a type that fell behind
/// for days, a listing refused with `AF20055` and moved inside the limit).
pub const LOST_WINDOW_SECONDS: &str = "lost-window-seconds";
/// Records that could not be normalized (not a JSON object, unreadable):
/// published as they came, with `normalizationError`.
pub const MALFORMED_RECORDS: &str = "malformed-records";
// The per-type lag counters (`lagging:<type>:<reason>`) have names made at
// run time; see `marks::lag_counter`.
