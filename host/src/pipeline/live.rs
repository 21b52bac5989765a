//! A source whose component version can be replaced while the host runs
//! (the registry's hot swap, `crate::registry::follow`).
//!
//! A cycle takes the current version when it starts and looks again before
//! each new slice: a slice is planned and stepped by one version, so work
//! items never cross versions inside a running slice, and calls already
//! running finish on the version that started them. A catch-up of many
//! slices therefore moves to a new version at its next slice, not at its
//! end.

use super::cycle::Source;
use std::sync::{Arc, RwLock};

/// A source with a replaceable component.
pub struct LiveSource {
    name: String,
    current: RwLock<Arc<Source>>,
}

impl LiveSource {
    /// A live source starting with `source`.
    pub fn new(source: Source) -> Self {
        Self {
            name: source.name.clone(),
            current: RwLock::new(Arc::new(source)),
        }
    }

    /// The source's name (it never changes).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version running now.
    pub fn current(&self) -> Arc<Source> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes `next` the version new work runs on; returns the previous one.
    /// `next` must be the same source (same name).
    pub fn swap(&self, next: Arc<Source>) -> Arc<Source> {
        debug_assert_eq!(next.name, self.name);
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *current, next)
    }
}

impl From<Source> for LiveSource {
    fn from(source: Source) -> Self {
        Self::new(source)
    }
}
