//! Generated tenant data: audit content blobs and message traces.
//!
//! Nothing is stored. Each blob, event and trace is a pure function of the
//! tenant's seed and its index on a fixed time grid anchored at the Unix
//! epoch, so identical across restarts and simulators, and computed only
//! when asked for.

pub(crate) mod audit;
mod people;
pub(crate) mod traces;
mod workloads;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::TenantSpec;

/// A tenant's data as a function of time: its spec and the instant before
/// which nothing exists (simulator start minus `history`).
#[derive(Clone, Debug)]
pub(crate) struct TenantData {
    /// The tenant's configuration.
    pub(crate) spec: TenantSpec,
    /// The earliest instant with data.
    pub(crate) data_start: DateTime<Utc>,
}

/// The five Management Activity API content types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContentType {
    /// `Audit.AzureActiveDirectory`
    AzureActiveDirectory,
    /// `Audit.Exchange`
    Exchange,
    /// `Audit.SharePoint`
    SharePoint,
    /// `Audit.General`
    General,
    /// `DLP.All`
    Dlp,
}

impl ContentType {
    /// All content types, in a stable order.
    pub const ALL: [ContentType; 5] = [
        ContentType::AzureActiveDirectory,
        ContentType::Exchange,
        ContentType::SharePoint,
        ContentType::General,
        ContentType::Dlp,
    ];

    /// The wire name, e.g. `Audit.Exchange`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::AzureActiveDirectory => "Audit.AzureActiveDirectory",
            ContentType::Exchange => "Audit.Exchange",
            ContentType::SharePoint => "Audit.SharePoint",
            ContentType::General => "Audit.General",
            ContentType::Dlp => "DLP.All",
        }
    }

    /// Parses a wire name (case-insensitive, as the service accepts it).
    pub fn parse(s: &str) -> Option<ContentType> {
        ContentType::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }

    /// A small stable number mixed into seeds.
    pub(crate) fn code(self) -> u64 {
        self as u64 + 1
    }
}

impl Serialize for ContentType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ContentType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ContentType::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown content type {s}")))
    }
}

/// One audit event as served in one content blob (the same event can be
/// served by two blobs when the tenant has `duplicate_events`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTruth {
    /// The event's `Id`.
    pub event_id: String,
    /// The blob that serves it.
    pub content_id: String,
    /// The blob's content type.
    pub content_type: ContentType,
    /// The blob's `contentCreated`.
    pub content_created: DateTime<Utc>,
    /// The event has `"Source": "Cloud App Security"` (dropped by default by the connector).
    pub ignored_source: bool,
    /// The serialized event is larger than 1 MB.
    pub oversized: bool,
}

/// One message trace row (a message and one recipient), identical through
/// Graph and the Reporting WS. The rows of one message share `id`; a row
/// is identified by `id` and `recipient`, as Microsoft does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceTruth {
    /// Graph `id` / Reporting WS `MessageTraceId`: the message's trace id,
    /// shared by all its rows.
    pub id: String,
    /// Graph `recipientAddress` / Reporting WS `RecipientAddress`.
    pub recipient: String,
    /// When the message was received.
    pub received: DateTime<Utc>,
    /// The message's `Message-ID` header, e.g. `<...@...>`.
    pub message_id: String,
    /// From when on queries return the row (late data).
    pub available_at: DateTime<Utc>,
    /// The row's final status, in Graph's spelling (`delivered`).
    pub status: String,
    /// Until then the row is served as `pending` (a status change seen by
    /// a later read); none when it is served with its final status at once.
    pub pending_until: Option<DateTime<Utc>>,
}

impl TraceTruth {
    /// The status served at `at`, in Graph's spelling: `pending` before
    /// `pending_until`, the final status after.
    pub fn status_at(&self, at: DateTime<Utc>) -> &str {
        match self.pending_until {
            Some(until) if at < until => "pending",
            _ => &self.status,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The instant `ms` milliseconds after the Unix epoch.
pub(crate) fn at_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `ceil(a / b)` for `b > 0`.
pub(crate) fn div_ceil(a: i64, b: i64) -> i64 {
    a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0)
}
