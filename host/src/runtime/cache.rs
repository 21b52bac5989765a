//! The compile cache: native code for a component, keyed by the component's
//! sha256 and the engine's compatibility hash, so that a restart (or a cold
//! Functions instance with a warm disk) deserializes in milliseconds instead
//! of compiling for seconds. A stale or damaged entry is recompiled.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a loaded component's code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled now (and stored, if there is a cache).
    Compiled,
    /// Read from the compile cache.
    Cache,
}

/// A directory of precompiled components.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// The cached code for `digest`, or `wasm` compiled (and cached).
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CodeSource)> {
        let path = self.entry(engine, digest);
        if let Ok(bytes) = std::fs::read(&path) {
            // Read into memory rather than `deserialize_file`, which maps the
            // file: another process replacing or truncating a mapped entry
            // would crash this one with SIGBUS.
            // SAFETY: the bytes were written by `store` below, from code this
            // engine configuration compiled, into a directory the host owns;
            // wasmtime checks the header and engine compatibility.
            match unsafe { Component::deserialize(engine, &bytes) } {
                Ok(component) => return Ok((component, CodeSource::Cache)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "compile cache entry unusable, recompiling: {e:#}")
                }
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), "could not write the compile cache: {e:#}");
        }
        Ok((component, CodeSource::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component
            .serialize()
            .map_err(|e| anyhow::anyhow!("serializing: {e:#}"))?;
        // Write-then-rename: a crash never leaves a half-written entry.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}
