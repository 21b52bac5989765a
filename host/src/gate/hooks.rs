//! The `WasiHttpHooks` implementation: policy checks, credentials, sending.

use super::Gate;
use super::policy::{GatePolicy, Incident, IncidentLog, is_loopback};
use super::transport::{OutboundRequest, TransportError};
use http::header::{AUTHORIZATION, HOST, PROXY_AUTHORIZATION};
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full, Limited};
use std::sync::Arc;
use std::time::Instant;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

/// The gate as seen by one invocation: shared state plus this component's
/// policy and incident log.
pub struct GateHooks {
    gate: Arc<Gate>,
    policy: Arc<GatePolicy>,
    incidents: IncidentLog,
}

impl GateHooks {
    /// Hooks for one invocation.
    pub fn new(gate: Arc<Gate>, policy: Arc<GatePolicy>, incidents: IncidentLog) -> Self {
        Self {
            gate,
            policy,
            incidents,
        }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for GateHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        let incidents = self.incidents.clone();
        Arc::new(move |name: &HeaderName| {
            if name == AUTHORIZATION || name == PROXY_AUTHORIZATION {
                incidents.push(Incident::GuestCredentials {
                    header: name.to_string(),
                });
                return true;
            }
            DEFAULT_FORBIDDEN_HEADERS.contains(name)
        })
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        let gate = self.gate.clone();
        let policy = self.policy.clone();
        let incidents = self.incidents.clone();
        Box::new(async move {
            let response = forward(&gate, &policy, &incidents, request).await?;
            let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

fn refuse(policy: &GatePolicy, incidents: &IncidentLog, incident: Incident) -> HttpError {
    tracing::warn!(
        component = %policy.component,
        tenant = %policy.tenant,
        "{incident}"
    );
    incidents.push(incident);
    HttpError::HttpRequestDenied
}

async fn forward(
    gate: &Gate,
    policy: &GatePolicy,
    incidents: &IncidentLog,
    request: http::Request<WasiBody>,
) -> Result<http::Response<WasiBody>, HttpError> {
    let (parts, body) = request.into_parts();
    let url = parts.uri.to_string();
    let scheme = parts
        .uri
        .scheme_str()
        .unwrap_or("https")
        .to_ascii_lowercase();
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();

    let Some(endpoint) = policy.find(&scheme, &authority) else {
        return Err(refuse(policy, incidents, Incident::HostNotAllowed { url }));
    };
    if scheme != "https" && !is_loopback(&authority) {
        return Err(refuse(policy, incidents, Incident::InsecureScheme { url }));
    }

    let body = Limited::new(body, gate.max_request_bytes)
        .collect()
        .await
        .map_err(|_| HttpError::HttpRequestBodySize(None))?
        .to_bytes();

    let mut headers = parts.headers;
    for name in [AUTHORIZATION, PROXY_AUTHORIZATION, HOST] {
        headers.remove(name);
    }
    if let Some(audience) = &endpoint.audience
        && !gate.transport.offline()
    {
        let token = match gate.tokens.token(&policy.tenant, audience).await {
            Ok(token) => token,
            Err(e) => {
                let incident = Incident::TokenUnavailable {
                    audience: audience.clone(),
                    error: e.to_string(),
                };
                tracing::error!(component = %policy.component, tenant = %policy.tenant, "{incident}");
                incidents.push(incident);
                return Err(HttpError::InternalError(Some(format!(
                    "refused: no token for {audience}"
                ))));
            }
        };
        let value = HeaderValue::from_str(&format!("Bearer {}", token.value.expose()))
            .map_err(|_| HttpError::InternalError(Some("token is not a valid header".into())))?;
        headers.insert(AUTHORIZATION, value);
    }

    if let Some(rate) = endpoint.budget
        && !gate.transport.offline()
    {
        gate.budgets
            .acquire(&policy.tenant, &endpoint.authority, rate)
            .await;
    }
    let started = Instant::now();
    let outbound = OutboundRequest {
        method: parts.method.clone(),
        url: url.clone(),
        headers,
        body,
    };
    let result = gate.transport.send(outbound).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let response = match result {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(component = %policy.component, tenant = %policy.tenant, method = %parts.method, %url, elapsed_ms, "request failed: {e}");
            return Err(match e {
                TransportError::Timeout(_) => HttpError::ConnectionReadTimeout,
                TransportError::Connect(_) => HttpError::ConnectionRefused,
                TransportError::TooLarge(n) => HttpError::HttpResponseBodySize(Some(n as u64)),
                other => HttpError::InternalError(Some(other.to_string())),
            });
        }
    };
    tracing::debug!(component = %policy.component, tenant = %policy.tenant, method = %parts.method, %url, status = response.status, elapsed_ms, "request");
    if response.status == 401
        && let Some(audience) = &endpoint.audience
    {
        gate.tokens.invalidate(&policy.tenant, audience);
    }

    let mut builder = http::Response::builder().status(response.status);
    if let Some(h) = builder.headers_mut() {
        *h = response.headers;
    }
    let body: WasiBody = Full::new(response.body)
        .map_err(|never| match never {})
        .boxed_unsync();
    builder
        .body(body)
        .map_err(|e| HttpError::InternalError(Some(e.to_string())))
}
