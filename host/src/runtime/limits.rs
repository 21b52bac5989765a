//! Memory and table limits of one invocation.
//!
//! A dedicated limiter (rather than wasmtime's `StoreLimits`) so that a guest
//! that asks for more memory than allowed ends with a typed error that names
//! the limit, instead of an allocation failure deep inside the guest.

use wasmtime::ResourceLimiter;

/// The guest tried to grow its memory past the configured limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (the component asked for {requested} bytes)")]
pub struct MemoryLimitExceeded {
    /// The configured limit.
    pub limit: usize,
    /// What the guest asked for.
    pub requested: usize,
}

/// Caps linear memory and tables of one store.
pub struct InvocationLimits {
    memory_bytes: usize,
    table_elements: usize,
    /// Linear memory the instance's memories have grown to, in all.
    grown: usize,
}

impl InvocationLimits {
    /// Limits with `memory_bytes` per linear memory.
    pub fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            table_elements: 100_000,
            grown: 0,
        }
    }

    /// Linear memory the instance holds, all its memories together.
    pub fn memory_grown_to(&self) -> usize {
        self.grown
    }
}

impl ResourceLimiter for InvocationLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(MemoryLimitExceeded {
                limit: self.memory_bytes,
                requested: desired,
            }
            .into());
        }
        self.grown += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }
}
