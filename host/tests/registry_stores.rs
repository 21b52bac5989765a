//! The component registry on both backends, a local directory and a Blob
//! container (Azurite): the same suite runs against each, so that what an
//! operator does with `o365-host component` means the same wherever the
//! registry lives.

use o365_host::azure::storage::BlobAccount;
use o365_host::registry::{
    BlobRegistry, Described, Expect, Fetched, Registry, RegistryError, RolledBack, layout,
};
use std::sync::Arc;

enum Backend {
    Local(tempfile::TempDir),
    Blob(azurite_support::Azurite),
}

impl Backend {
    fn registry(&self) -> Registry {
        match self {
            Self::Local(dir) => Registry::local(dir.path()),
            Self::Blob(azurite) => {
                let account =
                    BlobAccount::from_connection_string(&azurite.connection_string()).unwrap();
                Registry::new(Arc::new(BlobRegistry::new(Arc::new(account), "components")))
            }
        }
    }
}

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Registry) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(Backend::Local(tempfile::tempdir().unwrap()).registry()).await;
    let azurite = Backend::Blob(azurite_support::Azurite::start());
    test(azurite.registry()).await;
}

fn described(name: &str, version: &str) -> Described {
    Described {
        name: name.into(),
        version: version.into(),
        contract: "0.1.0".into(),
        summary: format!("{name} {version}"),
    }
}

#[tokio::test]
async fn publish_keeps_versions_immutable_and_lists_them() {
    each_backend(|r| async move {
        let first = r
            .publish(b"wasm one", &described("audit", "1.0.0"))
            .await
            .unwrap();
        assert!(!first.already);
        assert_eq!(
            first.manifest.sha256,
            o365_host::registry::digest(b"wasm one")
        );
        // The same bytes again: nothing to do.
        let again = r
            .publish(b"wasm one", &described("audit", "1.0.0"))
            .await
            .unwrap();
        assert!(again.already);
        // Other bytes under a published version: refused, with both digests.
        let err = r
            .publish(b"wasm two", &described("audit", "1.0.0"))
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::VersionExists { .. }), "{err}");
        assert!(err.to_string().contains("bump the version"), "{err}");
        r.publish(b"wasm two", &described("audit", "1.1.0"))
            .await
            .unwrap();
        r.publish(b"trace", &described("message-trace", "0.2.0"))
            .await
            .unwrap();

        let listing = r.list().await.unwrap();
        let names: Vec<&str> = listing.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["audit", "message-trace"]);
        let versions: Vec<&str> = listing[0]
            .versions
            .iter()
            .map(|m| m.version.as_str())
            .collect();
        assert_eq!(versions, ["1.0.0", "1.1.0"]);
        assert!(listing[0].current.is_none());
        // The file under the version is what was published.
        let (manifest, bytes) = r.download("audit", "1.1.0", None).await.unwrap();
        assert_eq!(bytes, b"wasm two");
        assert_eq!(manifest.bytes, 8);
    })
    .await;
}

#[tokio::test]
async fn promote_and_rollback_move_the_pointers_for_everyone_and_for_one_tenant() {
    each_backend(|r| async move {
        for (version, bytes) in [("1.0.0", &b"v1"[..]), ("1.1.0", b"v2"), ("1.2.0", b"v3")] {
            r.publish(bytes, &described("audit", version))
                .await
                .unwrap();
        }
        let v1 = r.manifest("audit", "1.0.0").await.unwrap();
        let v2 = r.manifest("audit", "1.1.0").await.unwrap();
        let v3 = r.manifest("audit", "1.2.0").await.unwrap();
        r.promote(&v1, None).await.unwrap();
        r.promote(&v2, None).await.unwrap();
        let pointer = r.promote(&v3, None).await.unwrap();
        assert_eq!(pointer.history.len(), 2);
        let (current, _) = r.pointer("audit", None).await.unwrap().unwrap();
        assert_eq!(
            (current.version.as_str(), current.sha256.as_str()),
            ("1.2.0", v3.sha256.as_str())
        );

        // One tenant moves first, and back.
        r.promote(&v1, Some("Contoso")).await.unwrap();
        let listing = r.list().await.unwrap();
        assert_eq!(listing[0].tenants["contoso"].version, "1.0.0");
        assert!(matches!(
            r.rollback("audit", Some("contoso")).await.unwrap(),
            RolledBack::TenantPointerRemoved
        ));
        assert!(r.pointer("audit", Some("contoso")).await.unwrap().is_none());
        let err = r.rollback("audit", Some("contoso")).await.unwrap_err();
        assert!(
            matches!(err, RegistryError::NothingToRollBack { .. }),
            "{err}"
        );

        // Everyone rolls back one version at a time, then no further.
        let RolledBack::To(back) = r.rollback("audit", None).await.unwrap() else {
            panic!("the global pointer is never removed")
        };
        assert_eq!(back.version, "1.1.0");
        let RolledBack::To(back) = r.rollback("audit", None).await.unwrap() else {
            panic!()
        };
        assert_eq!(back.version, "1.0.0");
        let err = r.rollback("audit", None).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("no earlier version to roll back to"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_replaced_file_is_refused_by_its_digest() {
    each_backend(|r| async move {
        let published = r
            .publish(b"the real one", &described("audit", "2.0.0"))
            .await
            .unwrap();
        r.promote(&published.manifest, None).await.unwrap();
        // Someone overwrites the file behind the registry's back.
        r.store()
            .put(
                &layout::wasm_path("audit", "2.0.0"),
                b"tampered".to_vec(),
                None,
            )
            .await
            .unwrap();
        let err = r
            .download(
                "audit",
                "2.0.0",
                Some(("audit/current.json", &published.manifest.sha256)),
            )
            .await
            .unwrap_err();
        match &err {
            RegistryError::DigestMismatch {
                expected, found, ..
            } => {
                assert_eq!(expected, &published.manifest.sha256);
                assert_eq!(found, &o365_host::registry::digest(b"tampered"));
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("replaced or damaged"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn unknown_names_and_versions_say_what_exists() {
    each_backend(|r| async move {
        let err = r.manifest("audit", "1.0.0").await.unwrap_err();
        assert!(err.to_string().contains("(it has: nothing yet)"), "{err}");
        r.publish(b"a", &described("audit", "1.0.0")).await.unwrap();
        let err = r.manifest("audit", "9.9.9").await.unwrap_err();
        assert!(
            err.to_string()
                .contains("has no version `9.9.9` in the registry (it has: 1.0.0)"),
            "{err}"
        );
        let err = r.manifest("message-trace", "1.0.0").await.unwrap_err();
        assert!(
            err.to_string()
                .contains("no component named `message-trace` in the registry (it has: audit)"),
            "{err}"
        );
        let err = r.manifest("../audit", "1.0.0").await.unwrap_err();
        assert!(matches!(err, RegistryError::BadName { .. }), "{err}");
    })
    .await;
}

#[tokio::test]
async fn writes_are_conditional_and_unchanged_reads_are_cheap() {
    each_backend(|r| async move {
        let store = r.store();
        let path = "audit/current.json";
        let etag = store
            .put(path, b"{}".to_vec(), Some(Expect::Absent))
            .await
            .unwrap();
        // A second create loses.
        let err = store
            .put(path, b"{}".to_vec(), Some(Expect::Absent))
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Conflict { .. }), "{err}");
        // A read with the current ETag is "not modified".
        assert!(matches!(
            store.get(path, Some(&etag)).await.unwrap(),
            Fetched::NotModified
        ));
        let newer = store
            .put(
                path,
                b"{\"v\":2}".to_vec(),
                Some(Expect::Etag(etag.clone())),
            )
            .await
            .unwrap();
        assert_ne!(newer, etag);
        // A write based on what was read before another write loses.
        let err = store
            .put(
                path,
                b"{\"v\":3}".to_vec(),
                Some(Expect::Etag(etag.clone())),
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("changed while this command ran"),
            "{err}"
        );
        match store.get(path, Some(&etag)).await.unwrap() {
            Fetched::Found { bytes, etag } => {
                assert_eq!(bytes, b"{\"v\":2}");
                assert_eq!(etag, newer);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            store.get("audit/none.json", None).await.unwrap(),
            Fetched::Missing
        ));
        let listed: Vec<String> = store
            .list("audit/")
            .await
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(listed, [path]);
    })
    .await;
}
