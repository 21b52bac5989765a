//! Message traces: trace `i` is received in the `i`-th slot of
//! `3600 s / traces_per_hour` after the Unix epoch (with jitter inside the
//! slot), and becomes visible to queries 0–20 minutes later (late data).
//! Graph and the Reporting WS render the same [`Trace`].

use chrono::{DateTime, Duration, Utc};

use super::people::{external_address, ipv4, upn};
use super::{TenantData, TraceTruth, at_ms, ms};
use crate::rng::Rng;

/// Delivery status of a traced message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Delivered,
    Failed,
    Pending,
    Quarantined,
    FilteredAsSpam,
    Expanded,
}

impl Status {
    /// The Graph spelling (`filteredAsSpam`).
    pub(crate) fn graph(self) -> &'static str {
        match self {
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Pending => "pending",
            Status::Quarantined => "quarantined",
            Status::FilteredAsSpam => "filteredAsSpam",
            Status::Expanded => "expanded",
        }
    }

    /// The Reporting WS spelling (`FilteredAsSpam`).
    pub(crate) fn reporting(self) -> &'static str {
        match self {
            Status::Delivered => "Delivered",
            Status::Failed => "Failed",
            Status::Pending => "Pending",
            Status::Quarantined => "Quarantined",
            Status::FilteredAsSpam => "FilteredAsSpam",
            Status::Expanded => "Expanded",
        }
    }
}

/// One message trace record.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    pub(crate) index: i64,
    pub(crate) id: String,
    pub(crate) received: DateTime<Utc>,
    pub(crate) available_at: DateTime<Utc>,
    pub(crate) sender: String,
    pub(crate) recipient: String,
    pub(crate) subject: String,
    pub(crate) status: Status,
    pub(crate) size: u64,
    pub(crate) message_id: String,
    pub(crate) from_ip: String,
    pub(crate) to_ip: Option<String>,
}

const SUBJECTS: [&str; 8] = [
    "Quarterly review",
    "Invoice 2291",
    "Re: Project Falcon kickoff",
    "Your order has shipped",
    "Team offsite agenda",
    "Password expiry notice",
    "FW: Contract draft",
    "Weekly status",
];

impl TenantData {
    fn trace_interval_ms(&self) -> Option<i64> {
        let per_hour = i64::from(self.spec.traces_per_hour);
        (per_hour > 0).then(|| (3_600_000 / per_hour).max(1))
    }

    /// Trace `index`, if it exists (received at or after the data start).
    pub(crate) fn trace(&self, index: i64) -> Option<Trace> {
        let interval = self.trace_interval_ms()?;
        let mut rng = Rng::new(&[self.spec.seed, 0x7ace, index as u64]);
        let received_ms = index.checked_mul(interval)? + rng.below(interval as u64) as i64;
        // Whole seconds, as both APIs print them; may fall just before the slot.
        let received = at_ms(received_ms - received_ms.rem_euclid(1000));
        if received < self.data_start {
            return None;
        }
        let available_at = received + Duration::seconds(rng.between(0, 20 * 60));
        let internal = upn(&mut rng, &self.spec.domain);
        let external = external_address(&mut rng);
        let (sender, recipient) = match rng.below(3) {
            0 => (internal, external),
            1 => (external, internal),
            _ => (internal, upn(&mut rng, &self.spec.domain)),
        };
        let status = match rng.below(100) {
            0..=79 => Status::Delivered,
            80..=84 => Status::Failed,
            85..=87 => Status::Pending,
            88..=90 => Status::Quarantined,
            91..=96 => Status::FilteredAsSpam,
            _ => Status::Expanded,
        };
        Some(Trace {
            index,
            id: rng.guid(),
            received,
            available_at,
            subject: rng.pick(&SUBJECTS).to_string(),
            size: 2_000 + rng.below(200_000),
            message_id: format!(
                "<{}@{}.prod.outlook.com>",
                rng.hex_upper(24),
                rng.hex_upper(10)
            ),
            from_ip: ipv4(&mut rng),
            to_ip: (!rng.chance(300)).then(|| ipv4(&mut rng)),
            sender,
            recipient,
            status,
        })
    }

    /// Traces received in `[from, to]` and visible at `now`, newest first,
    /// starting below index `before` when continuing a previous page.
    pub(crate) fn visible_traces(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        before: Option<i64>,
    ) -> impl Iterator<Item = Trace> + '_ {
        let (low, high) = match self.trace_interval_ms() {
            Some(iv) => {
                let high = ms(to.min(now)).div_euclid(iv) + 2;
                (
                    ms(from.max(self.data_start)).div_euclid(iv) - 1,
                    before.map_or(high, |b| b.min(high)),
                )
            }
            None => (0, 0),
        };
        (low..high)
            .rev()
            .filter_map(|i| self.trace(i))
            .filter(move |t| t.received >= from && t.received <= to && t.available_at <= now)
    }

    /// Every trace received in `[from, to)`, visible yet or not, oldest first.
    pub(crate) fn trace_truth(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<TraceTruth> {
        let Some(iv) = self.trace_interval_ms() else {
            return Vec::new();
        };
        let low = ms(from.max(self.data_start)).div_euclid(iv) - 1;
        let high = ms(to).div_euclid(iv) + 2;
        (low..high.max(low))
            .filter_map(|i| self.trace(i))
            .filter(|t| t.received >= from && t.received < to)
            .map(|t| TraceTruth {
                id: t.id,
                received: t.received,
                message_id: t.message_id,
                available_at: t.available_at,
            })
            .collect()
    }
}
