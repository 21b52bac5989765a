//! The simulator's notion of "now": wall-clock time plus an adjustable offset.
//!
//! Data appears as real time passes (blobs get created, late message traces
//! become available). Tests that cannot wait shift the clock forward instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// Shared, cheaply clonable clock.
#[derive(Clone, Debug, Default)]
pub(crate) struct Clock {
    /// Milliseconds added to the system time.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The simulated current time.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Sets how far the simulated time runs ahead of (or behind) the system time.
    pub(crate) fn set_offset(&self, offset: Duration) {
        self.offset_ms
            .store(offset.num_milliseconds(), Ordering::Relaxed);
    }
}
