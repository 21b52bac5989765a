//! Which hosts a component may reach, and the record of what it tried.
//!
//! Policy is data built once per component and tenant from what the
//! operator's grant admitted of the component's `describe()` answer
//! (`crate::grants`); the gate only consults it.

use std::sync::{Arc, Mutex};

/// One authority a component may call, and the token audience for it: a
/// declared endpoint as the operator's grant admitted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedEndpoint {
    /// `host` or `host:port`, lower case, default ports removed.
    pub authority: String,
    /// Token audience to attach, if any: always one the operator granted
    /// for this authority.
    pub audience: Option<String>,
    /// The pace requests for one tenant must keep, if any: the stricter of
    /// the component's and the host's.
    pub budget: Option<super::budget::Rate>,
}

/// What one component may do on the network while working for one tenant.
///
/// Built only from an [`Admission`](crate::grants::Admission): the
/// component's endpoints as the operator's grant admitted them, so every
/// audience here is one the operator granted for that authority.
#[derive(Clone, Debug)]
pub struct GatePolicy {
    /// The component's name, for logs and errors.
    pub component: Arc<str>,
    /// The tenant the requests are made for (tokens and budgets are per tenant).
    pub tenant: Arc<str>,
    /// The only authorities reachable.
    endpoints: Vec<AllowedEndpoint>,
}

impl GatePolicy {
    /// The policy for what `admission` admitted, working for `tenant`.
    pub fn admitted(admission: &crate::grants::Admission, tenant: &str) -> Self {
        Self {
            component: admission.component().into(),
            tenant: tenant.into(),
            endpoints: admission.endpoints().to_vec(),
        }
    }

    /// A policy that lets nothing out (`describe`, instantiation).
    pub fn deny_all(component: &str) -> Self {
        Self {
            component: component.into(),
            tenant: "-".into(),
            endpoints: Vec::new(),
        }
    }

    /// A policy of exactly `endpoints`, for the gate's own tests.
    #[cfg(test)]
    pub(crate) fn for_tests(endpoints: Vec<AllowedEndpoint>) -> Self {
        Self {
            component: "audit".into(),
            tenant: "t".into(),
            endpoints,
        }
    }

    /// Everything reachable.
    pub fn endpoints(&self) -> &[AllowedEndpoint] {
        &self.endpoints
    }

    /// The endpoint for `authority` of a URL with `scheme`, if allowed.
    pub fn find(&self, scheme: &str, authority: &str) -> Option<&AllowedEndpoint> {
        let wanted = normalize_authority(scheme, authority);
        self.endpoints
            .iter()
            .find(|e| normalize_authority(scheme, &e.authority) == wanted)
    }
}

/// Lower-cases an authority and drops the scheme's default port, so that
/// `Manage.Office.com:443` and `manage.office.com` compare equal.
pub fn normalize_authority(scheme: &str, authority: &str) -> String {
    let lower = authority.trim().to_ascii_lowercase();
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return lower,
    };
    lower
        .strip_suffix(default_port)
        .map(str::to_string)
        .unwrap_or(lower)
}

/// Whether an authority names this machine, where plain `http` is allowed
/// (simulators, local tests). Anywhere else the gate insists on `https`.
pub fn is_loopback(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Something the gate refused or could not do for a component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incident {
    /// A request to an authority the component was not granted.
    HostNotAllowed {
        /// The refused URL.
        url: String,
    },
    /// A plain-`http` request to a host that is not loopback.
    InsecureScheme {
        /// The refused URL.
        url: String,
    },
    /// The component tried to set its own `Authorization` (or
    /// `Proxy-Authorization`) header.
    GuestCredentials {
        /// The header it tried to set.
        header: String,
    },
    /// No token could be obtained for an allowed request.
    TokenUnavailable {
        /// The audience asked for.
        audience: String,
        /// Why not.
        error: String,
    },
}

impl std::fmt::Display for Incident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Incident::HostNotAllowed { url } => write!(
                f,
                "request to {url} refused: its host is not granted to the component (the operator's settings decide which hosts it may reach)"
            ),
            Incident::InsecureScheme { url } => write!(
                f,
                "request to {url} refused: plain http is allowed only to loopback addresses; use https"
            ),
            Incident::GuestCredentials { header } => write!(
                f,
                "the component tried to set its own `{header}` header, which is refused: \
                 the host attaches credentials"
            ),
            Incident::TokenUnavailable { audience, error } => {
                write!(f, "no token for audience {audience}: {error}")
            }
        }
    }
}

/// The incidents of one invocation, shared between the gate and the runtime.
#[derive(Clone, Debug, Default)]
pub struct IncidentLog(Arc<Mutex<Vec<Incident>>>);

impl IncidentLog {
    /// Records an incident.
    pub fn push(&self, incident: Incident) {
        if let Ok(mut list) = self.0.lock() {
            list.push(incident);
        }
    }

    /// Everything recorded so far.
    pub fn snapshot(&self) -> Vec<Incident> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> GatePolicy {
        GatePolicy::for_tests(vec![AllowedEndpoint {
            authority: "manage.office.com".into(),
            audience: Some("https://manage.office.com".into()),
            budget: None,
        }])
    }

    #[test]
    fn matches_case_insensitively_and_ignores_default_port() {
        let p = policy();
        assert!(p.find("https", "Manage.Office.com").is_some());
        assert!(p.find("https", "manage.office.com:443").is_some());
        assert!(p.find("https", "manage.office.com:8443").is_none());
        assert!(p.find("https", "manage.office.com.evil.example").is_none());
        assert!(p.find("https", "evil.example").is_none());
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1:8080"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:9000"));
        assert!(!is_loopback("manage.office.com"));
        assert!(!is_loopback("10.0.0.1:80"));
        assert!(!is_loopback("localhost.evil.example"));
    }
}
