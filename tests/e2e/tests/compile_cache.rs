//! A restart reads compiled code from the cache instead of recompiling, and a
//! damaged cache entry is recompiled rather than trusted.

use o365_host::runtime::{CodeSource, CompileCache, Runtime, RuntimeConfig};

fn runtime_with(cache: &std::path::Path) -> std::sync::Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        cache: Some(CompileCache::new(cache)),
        max_instances: 4,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn second_start_loads_from_the_cache_and_damage_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(connector_artifacts::TESTBED_PATH).unwrap();

    let first = runtime_with(dir.path())
        .load("testbed", &wasm)
        .await
        .unwrap();
    assert_eq!(first.code_source, CodeSource::Compiled);
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1);
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        name.starts_with(&first.digest),
        "entry {name} is keyed by the digest"
    );
    assert!(name.ends_with(".cwasm"));

    // A new runtime (as after a restart) reads the cache.
    let second = runtime_with(dir.path())
        .load("testbed", &wasm)
        .await
        .unwrap();
    assert_eq!(second.code_source, CodeSource::Cache);
    assert_eq!(second.info, first.info);

    // A damaged entry is not trusted: the component is compiled again, works,
    // and the entry is repaired.
    std::fs::write(&entries[0], b"not compiled code").unwrap();
    let rt = runtime_with(dir.path());
    let third = rt.load("testbed", &wasm).await.unwrap();
    assert_eq!(third.code_source, CodeSource::Compiled);
    assert!(rt.describe(&third, &[]).await.unwrap().is_ok());
    let fourth = runtime_with(dir.path())
        .load("testbed", &wasm)
        .await
        .unwrap();
    assert_eq!(fourth.code_source, CodeSource::Cache);
}
