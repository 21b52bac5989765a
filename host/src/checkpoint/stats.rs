//! What a checkpoint store wrote and read, counted so that `bench pipeline`
//! (and an operator) can see what checkpointing costs per save and per
//! event, independently of how the store lays its bytes out.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals of one store; shared by its clones.
#[derive(Debug, Default)]
pub struct StoreStats {
    saves: AtomicU64,
    bytes_written: AtomicU64,
    largest_save: AtomicU64,
    bytes_read: AtomicU64,
    compactions: AtomicU64,
}

/// A snapshot of [`StoreStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreFigures {
    /// Successful saves.
    pub saves: u64,
    /// Bytes written by them, all files included.
    pub bytes_written: u64,
    /// The most bytes one save wrote.
    pub largest_save: u64,
    /// Bytes read by loads and by the checks of saves.
    pub bytes_read: u64,
    /// Saves that rewrote the journal without its expired entries.
    pub compactions: u64,
}

impl StoreStats {
    /// Counts a successful save that wrote `bytes`.
    pub fn saved(&self, bytes: u64, compacted: bool) {
        self.saves.fetch_add(1, Ordering::Relaxed);
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        self.largest_save.fetch_max(bytes, Ordering::Relaxed);
        if compacted {
            self.compactions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts `bytes` read.
    pub fn read(&self, bytes: u64) {
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn figures(&self) -> StoreFigures {
        StoreFigures {
            saves: self.saves.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            largest_save: self.largest_save.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            compactions: self.compactions.load(Ordering::Relaxed),
        }
    }
}
