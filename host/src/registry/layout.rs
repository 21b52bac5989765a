//! Where a registry keeps things, and the two small JSON documents in it.
//!
//! ```text
//! <name>/<version>.wasm         the component, immutable once published
//! <name>/<version>.json         its manifest: sha256, contract, size, summary
//! <name>/current.json           the pointer every tenant follows
//! <name>/tenants/<tenant>.json  a pointer for one tenant (moved first)
//! ```
//!
//! `<name>` is the name the component gives itself in `describe` (`audit`,
//! `message-trace`), which is also the source it runs as; `<version>` is the
//! version it gives. A pointer names a version *and* its sha256, so that a
//! file replaced behind the registry's back is refused rather than run.

use super::RegistryError;
use serde::{Deserialize, Serialize};

/// How many earlier pointers a pointer remembers for `rollback`.
pub const HISTORY: usize = 20;

/// The path of a version's component.
pub fn wasm_path(name: &str, version: &str) -> String {
    format!("{name}/{version}.wasm")
}

/// The path of a version's manifest.
pub fn manifest_path(name: &str, version: &str) -> String {
    format!("{name}/{version}.json")
}

/// The folder of a name's per-tenant pointers (with a trailing `/`).
pub fn tenant_pointers(name: &str) -> String {
    format!("{name}/tenants/")
}

/// The path of the pointer a tenant (or, with `None`, everyone) follows.
pub fn pointer_path(name: &str, tenant: Option<&str>) -> String {
    match tenant {
        Some(tenant) => format!(
            "{}{}.json",
            tenant_pointers(name),
            tenant.to_ascii_lowercase()
        ),
        None => format!("{name}/current.json"),
    }
}

/// Checks a component name: lowercase letters, digits and `-`.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadName {
            what: "component name",
            value: name.to_string(),
            rule: "lowercase letters, digits and `-`, at most 64",
        })
    }
}

/// Checks a version: letters, digits, `.`, `-`, `+`, `_` (semver fits).
pub fn check_version(version: &str) -> Result<(), RegistryError> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
        && !version.starts_with('.')
        && version != "current";
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadName {
            what: "version",
            value: version.to_string(),
            rule: "letters, digits, `.`, `-`, `+` and `_`, at most 64, not `current`",
        })
    }
}

/// Checks a tenant as it names a pointer: a tenant id or key.
pub fn check_tenant(tenant: &str) -> Result<(), RegistryError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadName {
            what: "tenant",
            value: tenant.to_string(),
            rule: "a tenant id (GUID) or the tenant's key in O365_TENANTS",
        })
    }
}

/// What `publish` writes next to a version's component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The component's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// sha256 of the `.wasm`, hex.
    pub sha256: String,
    /// The contract (`wit/`) version it implements.
    pub contract: String,
    /// Size of the `.wasm` in bytes.
    pub bytes: u64,
    /// When it was published (RFC 3339).
    pub published_at: String,
    /// Its one-line summary, from `describe`.
    #[serde(default)]
    pub summary: String,
}

/// A pointer: the version a tenant (or everyone) runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pointer {
    /// The component's name.
    pub name: String,
    /// The version to run.
    pub version: String,
    /// sha256 of that version's `.wasm`, hex: a file that does not match is
    /// refused.
    pub sha256: String,
    /// The contract version of that version.
    #[serde(default)]
    pub contract: String,
    /// When it was promoted (RFC 3339).
    #[serde(default)]
    pub promoted_at: String,
    /// The pointers this one replaced, newest last (for `rollback`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Earlier>,
}

/// A version a pointer pointed at before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Earlier {
    /// The version.
    pub version: String,
    /// Its sha256.
    pub sha256: String,
    /// Its contract version.
    #[serde(default)]
    pub contract: String,
    /// When it had been promoted.
    #[serde(default)]
    pub promoted_at: String,
}

impl Pointer {
    /// Parses a pointer read from `path`.
    pub fn parse(path: &str, bytes: &[u8]) -> Result<Self, RegistryError> {
        let pointer: Pointer =
            serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
                path: path.to_string(),
                message: format!(
                    "not a pointer ({e}); expected {{\"name\", \"version\", \"sha256\"}}"
                ),
            })?;
        check_version(&pointer.version).map_err(|e| RegistryError::Corrupt {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        if pointer.sha256.len() != 64 || !pointer.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RegistryError::Corrupt {
                path: path.to_string(),
                message: format!("`sha256` = `{}` is not a hex sha256", pointer.sha256),
            });
        }
        Ok(pointer)
    }

    /// This pointer moved to `manifest`, remembering where it was.
    pub fn moved_to(previous: Option<Pointer>, manifest: &Manifest, now: &str) -> Pointer {
        let mut history = Vec::new();
        if let Some(previous) = previous {
            history = previous.history.clone();
            history.push(Earlier {
                version: previous.version,
                sha256: previous.sha256,
                contract: previous.contract,
                promoted_at: previous.promoted_at,
            });
            let excess = history.len().saturating_sub(HISTORY);
            history.drain(..excess);
        }
        Pointer {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            sha256: manifest.sha256.clone(),
            contract: manifest.contract.clone(),
            promoted_at: now.to_string(),
            history,
        }
    }

    /// The pointer `rollback` leaves: the previous entry of the history, or
    /// `None` when there is none.
    pub fn rolled_back(mut self) -> Option<Pointer> {
        let previous = self.history.pop()?;
        Some(Pointer {
            name: self.name,
            version: previous.version,
            sha256: previous.sha256,
            contract: previous.contract,
            promoted_at: previous.promoted_at,
            history: self.history,
        })
    }

    /// JSON for storing.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

impl Manifest {
    /// Parses a manifest read from `path`.
    pub fn parse(path: &str, bytes: &[u8]) -> Result<Self, RegistryError> {
        serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
            path: path.to_string(),
            message: format!("not a manifest ({e})"),
        })
    }

    /// JSON for storing.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: &str) -> Manifest {
        Manifest {
            name: "audit".into(),
            version: version.into(),
            sha256: format!("{:0>64}", version.replace('.', "")),
            contract: "0.1.0".into(),
            bytes: 1,
            published_at: String::new(),
            summary: String::new(),
        }
    }

    #[test]
    fn promote_then_rollback_returns_to_each_earlier_version_in_turn() {
        let first = Pointer::moved_to(None, &manifest("1.0.0"), "t1");
        let second = Pointer::moved_to(Some(first.clone()), &manifest("1.1.0"), "t2");
        let third = Pointer::moved_to(Some(second.clone()), &manifest("1.2.0"), "t3");
        let back = third.rolled_back().unwrap();
        assert_eq!(back.version, "1.1.0");
        assert_eq!(back.promoted_at, "t2");
        let back = back.rolled_back().unwrap();
        assert_eq!(back, first);
        assert!(back.rolled_back().is_none());
    }

    #[test]
    fn history_is_bounded() {
        let mut pointer = Pointer::moved_to(None, &manifest("0"), "t");
        for i in 1..100 {
            pointer = Pointer::moved_to(Some(pointer), &manifest(&i.to_string()), "t");
        }
        assert_eq!(pointer.history.len(), HISTORY);
        assert_eq!(pointer.history.last().unwrap().version, "98");
    }

    #[test]
    fn names_versions_and_tenants_that_could_escape_a_path_are_refused() {
        for bad in ["", "../x", "a/b", "Audit", "-x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for bad in ["", "../1", "1/2", "current", ".hidden"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        assert!(check_tenant("../etc").is_err());
        check_name("message-trace").unwrap();
        check_version("0.2.0+graph.1").unwrap();
        check_tenant("contoso").unwrap();
        assert_eq!(pointer_path("audit", Some("ABC")), "audit/tenants/abc.json");
    }

    #[test]
    fn a_pointer_without_a_proper_digest_is_corrupt() {
        let err = Pointer::parse(
            "audit/current.json",
            br#"{"name":"audit","version":"1.0.0","sha256":"abc"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a hex sha256"), "{err}");
        assert!(Pointer::parse("p", b"{").is_err());
    }
}
