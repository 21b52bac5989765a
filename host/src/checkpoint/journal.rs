//! The journal: a checkpoint's remembered keys and event ids as an
//! append-only sequence of entries, committed by the head.
//!
//! A save appends the entries added since the previous save and then writes
//! the head, which records how far the journal is committed
//! ([`JournalHead`]). A reader reads only that far, so entries appended
//! before a crash but not committed by a head write are ignored (and cut off
//! by the next save): a key becomes remembered only in the same durable step
//! that records its item as published. When expired entries outnumber the
//! live ones, a save writes the live ones to a fresh segment instead (the
//! head then names the new segment), so the journal stays proportional to
//! what is remembered and rewriting it is paid for by the appends before it.
//!
//! The encoding is one JSON object per line, `{"k":"<work key>","x":<expiry
//! ms>}` or `{"e":"<event id>","x":<expiry ms>}`: readable with `tail`, and
//! any key the components make survives it unchanged. Memory keeps only a
//! digest of each (see `memory`), so a compaction writes `{"kd":"<32 hex
//! digits>","x":…}` and `{"ed":…}` lines; a reader takes all four.

use super::memory::{Digest, Memory, digest};
use serde::{Deserialize, Serialize};

/// A journal needs at least this many entries before it is compacted, so
/// that a small one is never rewritten.
pub const COMPACT_MIN_ENTRIES: u64 = 4096;

/// How far the journal is committed: written in the head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalHead {
    /// The segment in use; a compaction moves to the next number.
    pub segment: u64,
    /// Bytes of the segment that are committed; anything after is ignored.
    pub bytes: u64,
    /// Entries in those bytes, live or expired.
    pub entries: u64,
}

/// What an entry names: the text a component made (what a save appends),
/// or only its digest (what a compaction writes from memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name {
    /// The key or id as made.
    Text(String),
    /// Its digest.
    Digest(Digest),
}

impl Name {
    /// The digest memory keeps of it.
    pub fn digest(&self) -> Digest {
        match self {
            Name::Text(text) => digest(text),
            Name::Digest(digest) => *digest,
        }
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Self {
        Name::Text(text.to_string())
    }
}

/// One remembered thing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The key of a finished work item, skipped if listed again.
    Key {
        /// The work item's key.
        key: Name,
        /// When it may be forgotten (ms).
        expiry: i64,
    },
    /// The id of a published event, dropped if emitted again.
    Event {
        /// The event's id.
        id: Name,
        /// When it may be forgotten (ms).
        expiry: i64,
    },
}

impl Entry {
    /// When the entry may be forgotten (ms).
    pub fn expiry(&self) -> i64 {
        match self {
            Entry::Key { expiry, .. } | Entry::Event { expiry, .. } => *expiry,
        }
    }
}

/// An entry as a line: exactly one of `k`, `e` (text), `kd` and `ed`
/// (digest, in hex).
#[derive(Default, Serialize, Deserialize)]
struct Line<'a> {
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    k: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    e: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    kd: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    ed: Option<std::borrow::Cow<'a, str>>,
    x: i64,
}

/// Appends `entry` to `out` as one line.
fn encode_into(out: &mut Vec<u8>, entry: &Entry) {
    let mut line = Line {
        x: entry.expiry(),
        ..Line::default()
    };
    match entry {
        Entry::Key {
            key: Name::Text(text),
            ..
        } => line.k = Some(text.as_str().into()),
        Entry::Event {
            id: Name::Text(text),
            ..
        } => line.e = Some(text.as_str().into()),
        Entry::Key {
            key: Name::Digest(d),
            ..
        } => line.kd = Some(hex::encode(d).into()),
        Entry::Event {
            id: Name::Digest(d),
            ..
        } => line.ed = Some(hex::encode(d).into()),
    }
    // A struct of strings and an integer always serializes.
    serde_json::to_writer(&mut *out, &line).expect("a journal line serializes");
    out.push(b'\n');
}

/// `entries` encoded as journal lines.
pub fn encode<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        encode_into(&mut out, entry);
    }
    out
}

/// Reads committed journal bytes into `memory`; later entries replace
/// earlier ones with the same key. Returns the number of entries, or what
/// is wrong with which line.
pub fn decode(bytes: &[u8], memory: &mut Memory) -> Result<u64, String> {
    let mut count = 0;
    for (number, text) in bytes.split(|b| *b == b'\n').enumerate() {
        if text.is_empty() {
            continue;
        }
        let line: Line<'_> = serde_json::from_slice(text)
            .map_err(|e| format!("journal line {} is not an entry: {e}", number + 1))?;
        let entry = match (line.k, line.e, line.kd, line.ed) {
            (Some(key), None, None, None) => Entry::Key {
                key: Name::Text(key.into_owned()),
                expiry: line.x,
            },
            (None, Some(id), None, None) => Entry::Event {
                id: Name::Text(id.into_owned()),
                expiry: line.x,
            },
            (None, None, Some(key), None) => Entry::Key {
                key: Name::Digest(hex_digest(&key, number)?),
                expiry: line.x,
            },
            (None, None, None, Some(id)) => Entry::Event {
                id: Name::Digest(hex_digest(&id, number)?),
                expiry: line.x,
            },
            _ => {
                return Err(format!(
                    "journal line {} holds not exactly one of `k`, `e`, `kd` and `ed`",
                    number + 1
                ));
            }
        };
        memory.apply(entry);
        count += 1;
    }
    if !bytes.is_empty() && bytes.last() != Some(&b'\n') {
        return Err("the committed journal ends inside a line".into());
    }
    Ok(count)
}

/// The digest spelled `hex` on line `number` (from 0).
fn hex_digest(hex: &str, number: usize) -> Result<Digest, String> {
    let mut digest = [0; 16];
    hex::decode_to_slice(hex, &mut digest).map_err(|e| {
        format!(
            "journal line {} holds a digest that is not 32 hex digits ({e})",
            number + 1
        )
    })?;
    Ok(digest)
}

/// What a save writes to the journal.
#[derive(Debug, PartialEq, Eq)]
pub enum JournalWrite {
    /// Nothing was added since the last save.
    Nothing,
    /// Append `data` to `segment`, whose committed length is `at`; bytes
    /// after `at` (an uncommitted tail) are discarded first.
    Append {
        /// The segment.
        segment: u64,
        /// Its committed length.
        at: u64,
        /// The new lines.
        data: Vec<u8>,
    },
    /// Write `data` as the whole of a new `segment`, which replaces
    /// `replaces` once the head naming it is written.
    Rewrite {
        /// The new segment.
        segment: u64,
        /// The segment it replaces.
        replaces: u64,
        /// Every live entry.
        data: Vec<u8>,
    },
}

impl JournalWrite {
    /// Bytes this write puts into the journal.
    pub fn len(&self) -> usize {
        match self {
            JournalWrite::Nothing => 0,
            JournalWrite::Append { data, .. } | JournalWrite::Rewrite { data, .. } => data.len(),
        }
    }
}

/// What to write after `head` so that the journal holds `memory`, and the
/// head that commits it. Appends the pending entries, unless expired
/// entries would then outnumber the live ones in a journal of at least
/// [`COMPACT_MIN_ENTRIES`]: then the live entries go to a new segment.
pub fn plan(head: JournalHead, memory: &Memory) -> (JournalWrite, JournalHead) {
    let pending = memory.pending();
    let total = head.entries + pending.len() as u64;
    let live = memory.len() as u64;
    if total >= COMPACT_MIN_ENTRIES && total > 2 * live {
        return rewrite(head, memory, head.segment + 1);
    }
    if pending.is_empty() {
        return (JournalWrite::Nothing, head);
    }
    let data = encode(pending);
    let next = JournalHead {
        segment: head.segment,
        bytes: head.bytes + data.len() as u64,
        entries: total,
    };
    let write = JournalWrite::Append {
        segment: head.segment,
        at: head.bytes,
        data,
    };
    (write, next)
}

/// Every live entry of `memory` written as the new `segment`, which
/// replaces the one `head` names, and the head that commits it.
pub fn rewrite(head: JournalHead, memory: &Memory, segment: u64) -> (JournalWrite, JournalHead) {
    let entries: Vec<Entry> = memory.entries().collect();
    let data = encode(&entries);
    let next = JournalHead {
        segment,
        bytes: data.len() as u64,
        entries: memory.len() as u64,
    };
    let write = JournalWrite::Rewrite {
        segment,
        replaces: head.segment,
        data,
    };
    (write, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_later_entries_win() {
        let entries = [
            Entry::Key {
                key: "a \"quoted\"\nkey".into(),
                expiry: 5,
            },
            Entry::Event {
                id: "ev".into(),
                expiry: 7,
            },
            Entry::Key {
                key: "a \"quoted\"\nkey".into(),
                expiry: 9,
            },
        ];
        let bytes = encode(&entries);
        let mut memory = Memory::default();
        assert_eq!(decode(&bytes, &mut memory), Ok(3));
        assert!(memory.knows_key("a \"quoted\"\nkey", 8));
        assert!(memory.knows_event("ev", 6));
        assert_eq!(memory.len(), 2);
    }

    #[test]
    fn text_and_digest_lines_name_the_same_things() {
        let key = digest("content-1");
        let id = digest("event-1");
        let bytes = encode(&[
            Entry::Key {
                key: "content-1".into(),
                expiry: 5,
            },
            Entry::Key {
                key: Name::Digest(key),
                expiry: 9,
            },
            Entry::Event {
                id: Name::Digest(id),
                expiry: 7,
            },
        ]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"k\":\"content-1\",\"x\":5}}\n{{\"kd\":\"{}\",\"x\":9}}\n{{\"ed\":\"{}\",\"x\":7}}\n",
                hex::encode(key),
                hex::encode(id)
            )
        );
        let mut memory = Memory::default();
        assert_eq!(decode(&bytes, &mut memory), Ok(3));
        assert!(
            memory.knows_key("content-1", 8),
            "the later digest line wins"
        );
        assert!(memory.knows_event("event-1", 6));
        assert!(
            !memory.knows_key("event-1", 0),
            "keys and event ids are apart"
        );
        assert_eq!(memory.len(), 2);
    }

    #[test]
    fn damage_is_named_by_line() {
        let mut memory = Memory::default();
        let err = decode(b"{\"k\":\"a\",\"x\":1}\n{\"x\":2}\n", &mut memory).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = decode(b"{\"k\":\"a\",\"x\":1}", &mut memory).unwrap_err();
        assert!(err.contains("inside a line"), "{err}");
        assert!(decode(b"not json\n", &mut memory).is_err());
        let err = decode(b"{\"kd\":\"00ff\",\"x\":1}\n", &mut memory).unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("32 hex digits"),
            "{err}"
        );
        let err = decode(b"{\"k\":\"a\",\"ed\":\"b\",\"x\":1}\n", &mut memory).unwrap_err();
        assert!(err.contains("not exactly one of"), "{err}");
    }

    #[test]
    fn a_save_appends_only_what_was_added() {
        let mut memory = Memory::default();
        let head = JournalHead {
            segment: 3,
            bytes: 1000,
            entries: 40,
        };
        assert_eq!(plan(head, &memory), (JournalWrite::Nothing, head));
        memory.remember_key("k", 10);
        let (write, next) = plan(head, &memory);
        let data = encode(memory.pending());
        assert_eq!(
            next,
            JournalHead {
                segment: 3,
                bytes: 1000 + data.len() as u64,
                entries: 41
            }
        );
        assert_eq!(
            write,
            JournalWrite::Append {
                segment: 3,
                at: 1000,
                data
            }
        );
    }

    #[test]
    fn mostly_expired_journals_are_rewritten_with_the_live_entries() {
        let mut memory = Memory::default();
        for i in 0..10 {
            memory.remember_key(&format!("k{i}"), 100);
        }
        memory.saved();
        let head = JournalHead {
            segment: 0,
            bytes: 1_000_000,
            entries: COMPACT_MIN_ENTRIES,
        };
        let (write, next) = plan(head, &memory);
        let JournalWrite::Rewrite {
            segment: 1,
            replaces: 0,
            data,
        } = write
        else {
            panic!("not a rewrite: {write:?}");
        };
        assert_eq!(next.entries, 10);
        assert_eq!(next.bytes, data.len() as u64);
        let text = String::from_utf8(data.clone()).unwrap();
        assert!(
            text.lines().all(|l| l.starts_with(r#"{"kd":""#)),
            "a compaction writes digests: {text}"
        );
        let mut back = Memory::default();
        assert_eq!(decode(&data, &mut back), Ok(10));
        assert_eq!(back, memory);

        // Below the minimum, or mostly live: appended, not rewritten.
        let small = JournalHead {
            entries: COMPACT_MIN_ENTRIES - 20,
            ..head
        };
        memory.remember_key("new", 100);
        assert!(matches!(
            plan(small, &memory).0,
            JournalWrite::Append { .. }
        ));
    }
}
