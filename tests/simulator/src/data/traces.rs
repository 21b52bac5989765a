//! Message traces: message `i` is received in the `i`-th slot of
//! `3600 s / traces_per_hour` after the Unix epoch (with jitter inside the
//! slot), and becomes visible to queries 0–20 minutes later (late data).
//!
//! As in the real APIs, a message is served as **one row per recipient**,
//! every row carrying the message's trace id: about 30 % of messages have
//! 2–5 recipients. Each row has its own status, and about 8 % of rows are
//! first served `pending` and settle to their final status 5–40 minutes
//! after they became visible. Graph and the Reporting WS render the same
//! [`Row`]s, in the same order (newest message first, then recipient order).

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

/// One traced message: what all its rows share.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    pub(crate) index: i64,
    pub(crate) id: String,
    pub(crate) received: DateTime<Utc>,
    pub(crate) available_at: DateTime<Utc>,
    pub(crate) sender: String,
    pub(crate) recipients: Vec<Recipient>,
    pub(crate) subject: String,
    pub(crate) size: u64,
    pub(crate) message_id: String,
    pub(crate) from_ip: String,
    pub(crate) to_ip: Option<String>,
}

/// One recipient of a message: the part of a row that is its own.
#[derive(Clone, Debug)]
pub(crate) struct Recipient {
    pub(crate) address: String,
    /// The final status.
    pub(crate) status: Status,
    /// Until then the row is served `pending` (a status change).
    pub(crate) pending_until: Option<DateTime<Utc>>,
}

/// One row as the APIs serve it: a message and one of its recipients.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) trace: Trace,
    /// Which recipient, in the message's order.
    pub(crate) row: usize,
}

impl Row {
    /// The recipient of this row.
    pub(crate) fn recipient(&self) -> &Recipient {
        &self.trace.recipients[self.row]
    }

    /// The status served at `now`.
    pub(crate) fn status_at(&self, now: DateTime<Utc>) -> Status {
        let r = self.recipient();
        match r.pending_until {
            Some(until) if now < until => Status::Pending,
            _ => r.status,
        }
    }

    /// Where this row is in the served order, for a skip token.
    pub(crate) fn position(&self) -> (i64, usize) {
        (self.trace.index, self.row)
    }
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
        let (sender, first) = match rng.below(3) {
            0 => (internal, external),
            1 => (external, internal),
            _ => (internal, upn(&mut rng, &self.spec.domain)),
        };
        let mut addresses = vec![first];
        if rng.chance(300) {
            let more = rng.between(1, 4);
            for _ in 0..more {
                let address = if rng.chance(600) {
                    upn(&mut rng, &self.spec.domain)
                } else {
                    external_address(&mut rng)
                };
                if !addresses.contains(&address) && address != sender {
                    addresses.push(address);
                }
            }
        }
        let recipients = addresses
            .into_iter()
            .map(|address| {
                let status = match rng.below(100) {
                    0..=79 => Status::Delivered,
                    80..=84 => Status::Failed,
                    85..=87 => Status::Pending,
                    88..=90 => Status::Quarantined,
                    91..=96 => Status::FilteredAsSpam,
                    _ => Status::Expanded,
                };
                let settles = status != Status::Pending && rng.chance(80);
                let pending_until =
                    settles.then(|| available_at + Duration::seconds(rng.between(5 * 60, 40 * 60)));
                Recipient {
                    address,
                    status,
                    pending_until,
                }
            })
            .collect();
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
            recipients,
        })
    }

    /// Rows of messages received in `[from, to]` and visible at `now`,
    /// newest message first and each message's recipients in order,
    /// starting after the row at `after` when continuing a previous page.
    pub(crate) fn visible_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        after: Option<(i64, usize)>,
    ) -> impl Iterator<Item = Row> + '_ {
        let (low, high) = match self.trace_interval_ms() {
            Some(iv) => {
                let high = ms(to.min(now)).div_euclid(iv) + 2;
                (
                    ms(from.max(self.data_start)).div_euclid(iv) - 1,
                    after.map_or(high, |(index, _)| (index + 1).min(high)),
                )
            }
            None => (0, 0),
        };
        (low..high)
            .rev()
            .filter_map(|i| self.trace(i))
            .filter(move |t| t.received >= from && t.received <= to && t.available_at <= now)
            .flat_map(|t| {
                (0..t.recipients.len()).map(move |row| Row {
                    trace: t.clone(),
                    row,
                })
            })
            .filter(move |r| after.is_none_or(|(index, row)| r.trace.index < index || r.row > row))
    }

    /// Every row of the messages received in `[from, to)`, visible yet or
    /// not, oldest message first.
    pub(crate) fn trace_truth(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<TraceTruth> {
        let Some(iv) = self.trace_interval_ms() else {
            return Vec::new();
        };
        let low = ms(from.max(self.data_start)).div_euclid(iv) - 1;
        let high = ms(to).div_euclid(iv) + 2;
        (low..high.max(low))
            .filter_map(|i| self.trace(i))
            .filter(|t| t.received >= from && t.received < to)
            .flat_map(|t| {
                t.recipients
                    .iter()
                    .map(|r| TraceTruth {
                        id: t.id.clone(),
                        recipient: r.address.clone(),
                        received: t.received,
                        message_id: t.message_id.clone(),
                        available_at: t.available_at,
                        status: r.status.graph().to_string(),
                        pending_until: r.pending_until,
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
