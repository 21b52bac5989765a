//! What a checkpoint remembers besides its head: the keys of finished work
//! (content ids, for `remember-for`) and the ids of published events (for
//! connectors that re-read an overlap), each with its expiry.
//!
//! Both sets can be large (160,000 content ids at 20,000 blobs a day) while
//! a save only ever adds a few entries, so every addition is also queued as
//! a journal entry: a save appends what was added since the previous one
//! and never rewrites the rest (see `journal`). Expired entries are dropped
//! from memory at once and from storage when the journal is compacted.
//!
//! In memory a key or id is only its [`Digest`] (16 bytes, in a flat table)
//! rather than its text: an audit content id is about 80 characters, and
//! with 50,000 of them (5 million events) the heap's peak went from about 26
//! to 22 MiB; the set only answers "seen before?", never "which ones?".
//! The text still reaches the journal with the save that adds it (readable
//! with `tail`); a compaction, which writes from memory, writes digests.
//! Two different keys share a digest with a probability of about n²/2¹²⁹
//! (below 10⁻²⁸ for a million keys), the only way a digest could skip work.

use super::journal::{Entry, Name};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;

/// A remembered key or id as memory keeps it: the first 128 bits of the
/// SHA-256 of its text. Stored in compacted journals, so it never changes.
pub type Digest = [u8; 16];

/// The digest of a key or id.
pub fn digest(text: &str) -> Digest {
    let full = Sha256::digest(text.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Remembered work keys and event ids, with the entries not yet saved.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    keys: HashMap<Digest, i64>,
    events: HashMap<Digest, i64>,
    pending: Vec<Entry>,
}

/// Two memories are equal when they remember the same things, saved or not.
impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys && self.events == other.events
    }
}

impl Memory {
    /// Remembers a finished work item's key until `expiry` (ms).
    pub fn remember_key(&mut self, key: &str, expiry: i64) {
        self.keys.insert(digest(key), expiry);
        self.pending.push(Entry::Key {
            key: Name::Text(key.to_string()),
            expiry,
        });
    }

    /// Remembers a published event's id until `expiry` (ms).
    pub fn remember_event(&mut self, id: &str, expiry: i64) {
        self.remember_event_as(digest(id), id, expiry);
    }

    /// Whether the event `id` is new at `now` (ms), that is not remembered
    /// then; a new one is remembered until `remember_until`, if given. The
    /// pipeline's check of every event: one digest for both steps.
    pub fn first_sight_of_event(
        &mut self,
        id: &str,
        now: i64,
        remember_until: Option<i64>,
    ) -> bool {
        let digest = digest(id);
        if self.events.get(&digest).is_some_and(|expiry| *expiry > now) {
            return false;
        }
        if let Some(expiry) = remember_until {
            self.remember_event_as(digest, id, expiry);
        }
        true
    }

    fn remember_event_as(&mut self, digest: Digest, id: &str, expiry: i64) {
        self.events.insert(digest, expiry);
        self.pending.push(Entry::Event {
            id: Name::Text(id.to_string()),
            expiry,
        });
    }

    /// Whether work with `key` finished and is remembered at `now` (ms).
    pub fn knows_key(&self, key: &str, now: i64) -> bool {
        self.keys
            .get(&digest(key))
            .is_some_and(|expiry| *expiry > now)
    }

    /// Whether an event with `id` was published and is remembered at `now`.
    pub fn knows_event(&self, id: &str, now: i64) -> bool {
        self.events
            .get(&digest(id))
            .is_some_and(|expiry| *expiry > now)
    }

    /// Forgets everything whose expiry is not after `now` (ms), including
    /// entries not saved yet: they need not be written at all.
    pub fn prune(&mut self, now: i64) {
        self.keys.retain(|_, expiry| *expiry > now);
        self.events.retain(|_, expiry| *expiry > now);
        self.pending.retain(|entry| entry.expiry() > now);
    }

    /// Remembered work keys.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Remembered event ids.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Remembered keys and ids together: the entries a compacted journal
    /// holds.
    pub fn len(&self) -> usize {
        self.keys.len() + self.events.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.events.is_empty()
    }

    /// Entries added since the last successful save, oldest first.
    pub(super) fn pending(&self) -> &[Entry] {
        &self.pending
    }

    /// The pending entries are durable: forget that they were pending.
    pub(super) fn saved(&mut self) {
        self.pending.clear();
    }

    /// Applies an entry read back from storage (not pending: it is saved).
    pub(super) fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Key { key, expiry } => self.keys.insert(key.digest(), expiry),
            Entry::Event { id, expiry } => self.events.insert(id.digest(), expiry),
        };
    }

    /// Everything remembered, as entries (by digest): the content of a
    /// compacted journal.
    pub(super) fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let keys = self.keys.iter().map(|(key, expiry)| Entry::Key {
            key: Name::Digest(*key),
            expiry: *expiry,
        });
        let events = self.events.iter().map(|(id, expiry)| Entry::Event {
            id: Name::Digest(*id),
            expiry: *expiry,
        });
        keys.chain(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_exclusive_and_pruning_drops_unsaved_entries_too() {
        let mut memory = Memory::default();
        memory.remember_key("blob-1", 100);
        memory.remember_event("ev-1", 200);
        assert!(memory.knows_key("blob-1", 99));
        assert!(!memory.knows_key("blob-1", 100));
        assert!(!memory.knows_key("ev-1", 0), "keys and event ids are apart");
        assert!(memory.knows_event("ev-1", 199));
        memory.prune(150);
        assert_eq!((memory.key_count(), memory.event_count()), (0, 1));
        assert_eq!(memory.pending().len(), 1, "the expired key is not written");
    }

    #[test]
    fn a_first_sight_is_remembered_only_when_asked() {
        let mut memory = Memory::default();
        memory.remember_event("ev-1", 200);
        assert!(!memory.first_sight_of_event("ev-1", 199, Some(300)));
        assert!(
            !memory.knows_event("ev-1", 200),
            "a repeat is not remembered again"
        );
        assert!(memory.first_sight_of_event("ev-1", 200, None));
        assert!(!memory.knows_event("ev-1", 200), "seen, not remembered");
        assert!(memory.first_sight_of_event("ev-2", 0, Some(300)));
        assert!(memory.knows_event("ev-2", 299));
        assert_eq!(memory.pending().len(), 2, "ev-1 once, ev-2");
    }

    #[test]
    fn applied_entries_are_remembered_but_not_pending() {
        let mut memory = Memory::default();
        memory.apply(Entry::Key {
            key: "k".into(),
            expiry: 10,
        });
        memory.apply(Entry::Event {
            id: Name::Digest(digest("e")),
            expiry: 10,
        });
        assert!(memory.knows_event("e", 5), "a digest line remembers its id");
        assert!(memory.knows_key("k", 5));
        assert!(memory.pending().is_empty());
        memory.remember_key("k2", 10);
        memory.saved();
        assert!(memory.pending().is_empty());
        assert_eq!(memory.entries().count(), 3);
    }

    #[test]
    fn digests_are_the_leading_half_of_sha256() {
        // Compacted journals hold digests: this must never change.
        assert_eq!(
            hex::encode(digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223"
        );
        assert_ne!(digest("blob-1"), digest("blob-2"));
    }
}
