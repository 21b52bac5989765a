//! What every store does the same way with a checkpoint's head: check the
//! names, decode a stored head (format 3 or 2, or format 1 whose remembered
//! keys move to the journal), and prepare a save (the journal write and the head
//! that commits it, serialized before any I/O). Only where the bytes go
//! differs between stores.

use super::journal::{self, JournalHead, JournalWrite};
use super::{Checkpoint, CheckpointError, FORMAT};
use std::collections::BTreeMap;

/// The head format before the journal: remembered keys and event ids inside
/// the head. Still read, and moved to the journal by the next save.
const FORMAT_WITHOUT_JOURNAL: u32 = 1;

/// The head format whose journal holds no digest lines: read as it is.
const FORMAT_WITHOUT_DIGESTS: u32 = 2;

/// `<source>/<tenant>`, once both are safe as file and blob names: letters,
/// digits, `-`, `_` and `.`, not starting with `.`.
pub(super) fn checked_name(source: &str, tenant: &str) -> Result<String, CheckpointError> {
    let safe = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !s.starts_with('.')
    };
    if !safe(source) || !safe(tenant) {
        return Err(CheckpointError::BadName {
            name: format!("{source}/{tenant}"),
        });
    }
    Ok(format!("{source}/{tenant}"))
}

/// Decodes a stored head; a head without a journal moves its remembered
/// keys and ids into memory, to be journaled by the next save. The error is
/// what is wrong, for [`CheckpointError::Corrupt`].
pub(super) fn decode_head(bytes: &[u8]) -> Result<Checkpoint, String> {
    let damaged = |e: serde_json::Error| e.to_string();
    let mut checkpoint: Checkpoint = serde_json::from_slice(bytes).map_err(damaged)?;
    match checkpoint.format {
        FORMAT | FORMAT_WITHOUT_DIGESTS => {}
        FORMAT_WITHOUT_JOURNAL => {
            let legacy: WithoutJournal = serde_json::from_slice(bytes).map_err(damaged)?;
            for (key, expiry) in legacy.remembered {
                checkpoint.memory.remember_key(&key, expiry);
            }
            for (id, expiry) in legacy.recent_events {
                checkpoint.memory.remember_event(&id, expiry);
            }
            checkpoint.journal = JournalHead::default();
        }
        other => {
            return Err(format!(
                "format {other} is not {FORMAT}; it was written by another version of the host"
            ));
        }
    }
    Ok(checkpoint)
}

/// The version of a stored head: what a conditional write compares.
pub(super) fn stored_version(bytes: &[u8]) -> Result<u64, String> {
    serde_json::from_slice::<VersionOnly>(bytes)
        .map(|v| v.version)
        .map_err(|e| e.to_string())
}

/// The maps a head of format 1 held.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WithoutJournal {
    #[serde(default)]
    remembered: BTreeMap<String, i64>,
    #[serde(default)]
    recent_events: BTreeMap<String, i64>,
}

/// Only the version of a head.
#[derive(serde::Deserialize)]
struct VersionOnly {
    version: u64,
}

/// A save ready to be written: everything computed before any I/O.
pub(super) struct Prepared {
    /// The version the stored head must still have.
    pub expected: u64,
    /// The head to write, as the next version.
    pub head: Vec<u8>,
    /// What goes into the journal first.
    pub write: JournalWrite,
    /// How far the journal is committed once the head is written.
    pub journal: JournalHead,
}

impl Prepared {
    /// The bytes this save writes: the head and the journal write.
    pub(super) fn bytes(&self) -> u64 {
        (self.head.len() + self.write.len()) as u64
    }
}

/// Plans the journal write and serializes the head that commits it, as the
/// next version; `checkpoint` is left as it was.
pub(super) fn prepare(
    name: &str,
    checkpoint: &mut Checkpoint,
) -> Result<Prepared, CheckpointError> {
    let (write, journal) = journal::plan(checkpoint.journal, &checkpoint.memory);
    with_journal(name, checkpoint, write, journal)
}

/// Like [`prepare`], with the journal written afresh as segment `segment`
/// (a Blob store whose append position was taken, or whose next segment
/// name was).
pub(super) fn prepare_rewrite(
    name: &str,
    checkpoint: &mut Checkpoint,
    segment: u64,
) -> Result<Prepared, CheckpointError> {
    let (write, journal) = journal::rewrite(checkpoint.journal, &checkpoint.memory, segment);
    with_journal(name, checkpoint, write, journal)
}

fn with_journal(
    name: &str,
    checkpoint: &mut Checkpoint,
    write: JournalWrite,
    journal: JournalHead,
) -> Result<Prepared, CheckpointError> {
    let expected = checkpoint.version;
    let kept = (checkpoint.format, checkpoint.journal);
    checkpoint.format = FORMAT;
    checkpoint.version = expected + 1;
    checkpoint.journal = journal;
    let head = serde_json::to_vec(checkpoint);
    checkpoint.version = expected;
    (checkpoint.format, checkpoint.journal) = kept;
    let head = head.map_err(|source| CheckpointError::Encode {
        name: name.to_string(),
        source,
    })?;
    Ok(Prepared {
        expected,
        head,
        write,
        journal,
    })
}

/// Records a committed save in `checkpoint`.
pub(super) fn finish(checkpoint: &mut Checkpoint, prepared: &Prepared) {
    checkpoint.format = FORMAT;
    checkpoint.version = prepared.expected + 1;
    checkpoint.journal = prepared.journal;
    checkpoint.memory.saved();
}
