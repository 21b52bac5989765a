//! Loading a component: check that the bytes are a component of our world,
//! compile (or read the compile cache), pre-instantiate, and ask it to
//! describe itself. Every way this can fail has its own error that says what
//! is wrong with the file and how to fix it.

use super::bindings::{CONNECTOR_EXPORT, CONTRACT_VERSION, SourcePre};
use super::cache::CodeSource;
use super::state::InvocationState;
use super::{Info, Runtime};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::Component;

/// A component ready to run: compiled, linked and pre-instantiated.
pub struct LoadedComponent {
    /// Its name, from `describe`.
    pub name: String,
    /// sha256 of the `.wasm`, hex.
    pub digest: String,
    /// Its description with default settings.
    pub info: Info,
    /// The contract version it exports.
    pub contract: String,
    /// Whether the code came from the compile cache.
    pub code_source: CodeSource,
    /// How long compiling (or loading from the cache) took.
    pub compile_time: Duration,
    /// Whether it declares that it keeps nothing between calls
    /// (`connector_sdk::reusable!()`), so that the calls of a cycle may
    /// share warm instances.
    pub reusable: bool,
    /// Tells this load apart from every other one in the process (the key
    /// of its idle instances).
    pub(super) id: u64,
    pub(super) pre: SourcePre<InvocationState>,
}

/// The next [`LoadedComponent::id`].
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why a file could not be loaded as a connector.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not WebAssembly at all.
    #[error("{origin} is not a WebAssembly file (it does not start with `\\0asm`)")]
    NotWasm {
        /// Where the bytes came from.
        origin: String,
    },
    /// A core module instead of a component.
    #[error(
        "{origin} is a core WebAssembly module, not a component; build connectors with \
         `cargo build --target wasm32-wasip2` (or wrap a module with `wasm-tools component new`)"
    )]
    CoreModule {
        /// Where the bytes came from.
        origin: String,
    },
    /// wasmtime could not compile it.
    #[error("{origin} could not be compiled: {message}")]
    Compile {
        /// Where the bytes came from.
        origin: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// It does not export the connector interface.
    #[error(
        "{origin} is not an o365 connector: it does not export `{CONNECTOR_EXPORT}` \
         (it exports: {exports}); target the `o365:connector/source` world from wit/"
    )]
    NotAConnector {
        /// Where the bytes came from.
        origin: String,
        /// What it exports instead.
        exports: String,
    },
    /// It implements another version of the contract.
    #[error(
        "{origin} implements contract {found}, but this host implements {CONTRACT_VERSION}; \
         rebuild the component against this host's wit/ or run a host that supports {found}"
    )]
    ContractMismatch {
        /// Where the bytes came from.
        origin: String,
        /// The version it exports.
        found: String,
    },
    /// It needs imports the host does not provide, or its types differ.
    #[error("{origin} cannot be linked: {message}")]
    Link {
        /// Where the bytes came from.
        origin: String,
        /// Which import or type is wrong.
        message: String,
    },
    /// `describe` with default settings failed.
    #[error("{origin} failed to describe itself: {message}")]
    Describe {
        /// Where the bytes came from.
        origin: String,
        /// Why.
        message: String,
    },
}

const COMPONENT_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
const CORE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

impl Runtime {
    /// Loads a component from `wasm`; `origin` names it in errors (a path,
    /// a registry entry).
    pub async fn load(&self, origin: &str, wasm: &[u8]) -> Result<LoadedComponent, LoadError> {
        let origin = origin.to_string();
        if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
            return Err(LoadError::NotWasm { origin });
        }
        if wasm[4..8] == CORE_VERSION {
            return Err(LoadError::CoreModule { origin });
        }
        if wasm[4..8] != COMPONENT_LAYER {
            return Err(LoadError::Compile {
                origin,
                message: format!("unknown WebAssembly version/layer {:02x?}", &wasm[4..8]),
            });
        }
        let digest = hex::encode(Sha256::digest(wasm));
        let reusable = super::reuse::declares_reusable(wasm);
        let started = Instant::now();
        // Compiling takes seconds of CPU: off the async threads, so that a
        // host swapping in a new version keeps its running cycles moving.
        let (engine, cache, bytes, key) = (
            self.engine.clone(),
            self.config.cache.clone(),
            wasm.to_vec(),
            digest.clone(),
        );
        let compiled = tokio::task::spawn_blocking(move || match &cache {
            Some(cache) => cache.load_or_compile(&engine, &bytes, &key),
            None => Component::new(&engine, &bytes).map(|c| (c, CodeSource::Compiled)),
        })
        .await
        .unwrap_or_else(|e| {
            Err(wasmtime::Error::msg(format!(
                "the compile task failed: {e}"
            )))
        });
        let (component, code_source) = compiled.map_err(|e| LoadError::Compile {
            origin: origin.clone(),
            message: format!("{e:#}"),
        })?;
        let compile_time = started.elapsed();
        let contract = self.check_exports(&origin, &component)?;
        let link = |e: wasmtime::Error| LoadError::Link {
            origin: origin.clone(),
            message: format!("{e:#}"),
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(link)?;
        let pre = SourcePre::new(instance_pre).map_err(link)?;
        // Named after its origin until it has described itself.
        let mut loaded = LoadedComponent {
            name: String::new(),
            digest,
            info: placeholder_info(),
            contract,
            code_source,
            compile_time,
            reusable,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pre,
        };
        let info = match self.describe(&loaded, &[]).await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) => {
                return Err(LoadError::Describe {
                    origin,
                    message: format!(
                        "describe() with default settings rejected `{}`: {}",
                        e.setting, e.message
                    ),
                });
            }
            Err(e) => {
                return Err(LoadError::Describe {
                    origin,
                    message: e.to_string(),
                });
            }
        };
        if info.name.trim().is_empty() {
            return Err(LoadError::Describe {
                origin,
                message: "describe() returned an empty name".into(),
            });
        }
        loaded.name = info.name.clone();
        loaded.info = info;
        Ok(loaded)
    }

    /// Loads a component from a file.
    pub async fn load_file(&self, path: &std::path::Path) -> Result<LoadedComponent, LoadError> {
        let origin = path.display().to_string();
        let wasm = std::fs::read(path).map_err(|e| LoadError::NotWasm {
            origin: format!("{origin} (unreadable: {e})"),
        })?;
        self.load(&origin, &wasm).await
    }

    /// The contract version of the connector export, or why there is none.
    fn check_exports(&self, origin: &str, component: &Component) -> Result<String, LoadError> {
        let exports: Vec<String> = component
            .component_type()
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        if exports.iter().any(|e| e == CONNECTOR_EXPORT) {
            return Ok(CONTRACT_VERSION.to_string());
        }
        let prefix = CONNECTOR_EXPORT
            .split('@')
            .next()
            .unwrap_or(CONNECTOR_EXPORT);
        if let Some(other) = exports.iter().find(|e| e.split('@').next() == Some(prefix)) {
            return Err(LoadError::ContractMismatch {
                origin: origin.to_string(),
                found: other.split('@').nth(1).unwrap_or("unversioned").to_string(),
            });
        }
        Err(LoadError::NotAConnector {
            origin: origin.to_string(),
            exports: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        })
    }
}

fn placeholder_info() -> Info {
    Info {
        name: String::new(),
        version: String::new(),
        summary: String::new(),
        settings: Vec::new(),
        endpoints: Vec::new(),
        max_window: 0,
        max_lookback: 0,
        min_age: 0,
        dedup_horizon: 0,
        event_kinds: Vec::new(),
    }
}
