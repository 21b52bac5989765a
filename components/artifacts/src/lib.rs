//! The compiled guest components, built by this crate's build script.
//!
//! The production connectors are embedded (`*_WASM`) so that the host binary
//! runs on its own with no registry; every component's path is exposed
//! (`*_PATH`) for tests and benchmarks.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
