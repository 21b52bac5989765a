//! Host-side bindings of the `o365:connector/source` world, generated from
//! `wit/`. The `wasi:*` interfaces reuse wasmtime-wasi's and
//! wasmtime-wasi-http's own bindings, so that one implementation of
//! `wasi:http` (with our gate as its hooks) serves every component.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "o365:connector/source",
    imports: { default: trappable },
    exports: { default: async },
    require_store_data_send: true,
    additional_derives: [PartialEq, Eq],
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use o365::connector::log;
pub use o365::connector::types;

/// The contract version this host implements, from `wit/connector.wit`.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The export every component of this world provides.
pub const CONNECTOR_EXPORT: &str = "o365:connector/connector@0.1.0";
