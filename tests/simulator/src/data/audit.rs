//! Audit content blobs: when each exists, its content id, and its events.
//!
//! Blob `i` of a content type is created at `i * (3600 s / audit_blobs_per_hour)`
//! after the Unix epoch, so blob times line up on the hour grid and are the
//! same in every run. Its events happened 60–90 minutes before the blob was
//! created, as in the real service.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::{AuditTruth, ContentType, TenantData, at_ms, div_ceil, ms, workloads};
use crate::rng::{Rng, hash};

/// How long content can be fetched after it was created.
pub(crate) const RETENTION_DAYS: i64 = 7;
/// Serialized size above which an event counts as oversized.
pub(crate) const OVERSIZED_BYTES: usize = 1024 * 1024;

/// One content blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blob {
    /// Its content type.
    pub(crate) content_type: ContentType,
    /// Its position on the time grid.
    pub(crate) index: i64,
    /// `contentCreated`.
    pub(crate) created: DateTime<Utc>,
}

impl Blob {
    /// `contentExpiration`.
    pub(crate) fn expiration(&self) -> DateTime<Utc> {
        self.created + Duration::days(RETENTION_DAYS)
    }
}

/// The parts of an event that truth queries need, without building the event.
pub(crate) struct EventHead {
    pub(crate) id: String,
    pub(crate) cloud_app_security: bool,
    pub(crate) oversized: bool,
    pub(crate) creation_time: DateTime<Utc>,
}

impl TenantData {
    /// Milliseconds between two blobs of one content type, `None` when no blobs are made.
    fn blob_interval_ms(&self) -> Option<i64> {
        let per_hour = i64::from(self.spec.audit_blobs_per_hour);
        (per_hour > 0).then(|| (3_600_000 / per_hour).max(1))
    }

    /// The blob at `index`, if it exists (created at or after the data start).
    pub(crate) fn blob(&self, content_type: ContentType, index: i64) -> Option<Blob> {
        let created = index.checked_mul(self.blob_interval_ms()?)?;
        (created >= ms(self.data_start)).then(|| Blob {
            content_type,
            index,
            created: at_ms(created),
        })
    }

    /// Index of the first blob created at or after `t` (existing or not).
    pub(crate) fn first_blob_index_from(&self, t: DateTime<Utc>) -> i64 {
        self.blob_interval_ms().map_or(0, |iv| div_ceil(ms(t), iv))
    }

    /// Existing blobs of `content_type` created in `[from, to)`, oldest first.
    pub(crate) fn blobs(
        &self,
        content_type: ContentType,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = Blob> + '_ {
        let from = from.max(self.data_start);
        let (first, end) = match self.blob_interval_ms() {
            Some(_) if from < to => (
                self.first_blob_index_from(from),
                self.first_blob_index_from(to),
            ),
            _ => (0, 0),
        };
        (first..end).filter_map(move |i| self.blob(content_type, i))
    }

    /// The content id of a blob, shaped like the service's
    /// (`{timestamp}{n}${timestamp}{n}$audit_exchange$Audit_Exchange${region}`).
    pub(crate) fn content_id(&self, blob: &Blob) -> String {
        let stamp = blob.created.format("%Y%m%d%H%M%S%3f");
        let n = hash(&[self.spec.seed, blob.content_type.code(), blob.index as u64]) % 1_000_000;
        let wire = blob.content_type.as_str();
        format!(
            "{stamp}{n:06}${stamp}{n:06}${}${}$na{:04}",
            wire.to_ascii_lowercase().replace('.', "_"),
            wire.replace('.', "_"),
            self.spec.seed % 10_000,
        )
    }

    /// The blob a content id names, if it is one this tenant produced.
    /// (It may be expired; existence is checked, expiry is not.)
    pub(crate) fn parse_content_id(&self, content_id: &str) -> Option<Blob> {
        let mut parts = content_id.split('$');
        let head = parts.next()?;
        let wire = parts.nth(2)?.replace('_', ".");
        let content_type = ContentType::parse(&wire)?;
        let stamp = head.get(..17)?;
        let created = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S%3f")
            .ok()?
            .and_utc();
        let interval = self.blob_interval_ms()?;
        let created_ms = ms(created);
        if created_ms % interval != 0 {
            return None;
        }
        let blob = self.blob(content_type, created_ms / interval)?;
        (self.content_id(&blob) == content_id).then_some(blob)
    }

    /// Which event (blob index, position) sits at position `j` of blob `index`:
    /// itself, or with `duplicate_events` sometimes an event of the previous blob.
    fn event_source(&self, content_type: ContentType, index: i64, j: u32) -> (i64, u32) {
        let mut rng = Rng::new(&[
            self.spec.seed,
            content_type.code(),
            index as u64,
            u64::from(j),
            7,
        ]);
        if self.spec.duplicate_events
            && rng.chance(20)
            && self.blob(content_type, index - 1).is_some()
        {
            (index - 1, j)
        } else {
            (index, j)
        }
    }

    /// The cheap parts of event `j` generated for blob `index`.
    pub(crate) fn event_head(&self, content_type: ContentType, index: i64, j: u32) -> EventHead {
        let seed = self.spec.seed;
        let mut rng = Rng::new(&[seed, content_type.code(), index as u64, u64::from(j)]);
        let id = rng.guid();
        let cloud_app_security = rng.chance(30);
        let large_kind = matches!(content_type, ContentType::SharePoint | ContentType::Dlp);
        let oversized = self.spec.large_events && large_kind && rng.chance(20);
        let created = at_ms(index * self.blob_interval_ms().unwrap_or(0));
        let creation_time = created - Duration::seconds(rng.between(3600, 5400));
        EventHead {
            id,
            cloud_app_security,
            oversized,
            creation_time,
        }
    }

    /// The events of a blob, as served by its `contentUri`.
    pub(crate) fn blob_events(&self, blob: &Blob) -> Vec<Value> {
        (0..self.spec.audit_events_per_blob)
            .map(|j| {
                let (index, j) = self.event_source(blob.content_type, blob.index, j);
                let head = self.event_head(blob.content_type, index, j);
                workloads::event(&self.spec, blob.content_type, index, j, &head)
            })
            .collect()
    }

    /// What every existing blob created in `[from, to)` serves, for all content types.
    pub(crate) fn audit_truth(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<AuditTruth> {
        let mut out = Vec::new();
        for content_type in ContentType::ALL {
            for blob in self.blobs(content_type, from, to) {
                let content_id = self.content_id(&blob);
                for j in 0..self.spec.audit_events_per_blob {
                    let (index, j) = self.event_source(content_type, blob.index, j);
                    let head = self.event_head(content_type, index, j);
                    out.push(AuditTruth {
                        event_id: head.id,
                        content_id: content_id.clone(),
                        content_type,
                        content_created: blob.created,
                        ignored_source: head.cloud_app_security,
                        oversized: head.oversized,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantSpec;

    fn tenant() -> TenantData {
        let spec = TenantSpec {
            large_events: true,
            ..TenantSpec::default()
        };
        TenantData {
            spec,
            data_start: Utc::now() - Duration::days(8),
        }
    }

    #[test]
    fn content_ids_round_trip_and_reject_forgeries() {
        let t = tenant();
        let blob = t
            .blobs(
                ContentType::Exchange,
                Utc::now() - Duration::hours(3),
                Utc::now(),
            )
            .next()
            .unwrap();
        let id = t.content_id(&blob);
        assert!(id.contains("$audit_exchange$Audit_Exchange$"), "{id}");
        assert_eq!(t.parse_content_id(&id), Some(blob));
        assert_eq!(
            t.parse_content_id(&id.replace("Audit_Exchange", "Audit_General")),
            None
        );
        assert_eq!(t.parse_content_id("garbage"), None);
        assert_eq!(t.parse_content_id("$$$$"), None);
    }

    #[test]
    fn events_precede_their_blob_and_oversized_ones_are_large() {
        let t = tenant();
        let now = Utc::now();
        let mut saw_large = false;
        for blob in t.blobs(ContentType::Dlp, now - Duration::hours(24), now) {
            if saw_large {
                break;
            }
            for (j, event) in t.blob_events(&blob).iter().enumerate() {
                let head = t.event_head(blob.content_type, blob.index, j as u32);
                let text = serde_json::to_string(event).unwrap();
                assert_eq!(head.oversized, text.len() > OVERSIZED_BYTES);
                saw_large |= head.oversized;
                let created = event["CreationTime"].as_str().unwrap();
                let created = chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S")
                    .unwrap()
                    .and_utc();
                let lag = blob.created - created;
                assert!(lag >= Duration::minutes(60) && lag <= Duration::minutes(90));
            }
        }
        assert!(saw_large);
    }
}
