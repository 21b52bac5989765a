//! The `WasiHttpHooks` implementation: the gate's steps ([`check`],
//! [`authorize`], [`send`]) run in order for every guest request, and guest
//! credential headers are refused before a request is even built.

use super::Gate;
use super::authorize::{authorize, strip_credentials};
use super::check::{Checked, check};
use super::policy::{GatePolicy, Incident, IncidentLog};
use super::transport::{OutboundRequest, TransportError};
use http::HeaderName;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
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

/// The gate's steps in order: [`check`] the request against the policy,
/// read its body, [`authorize`] it, then [`send`] it.
async fn forward(
    gate: &Gate,
    policy: &GatePolicy,
    incidents: &IncidentLog,
    request: http::Request<WasiBody>,
) -> Result<http::Response<WasiBody>, HttpError> {
    let (parts, body) = request.into_parts();
    let checked =
        check(policy, &parts.uri).map_err(|incident| refuse(policy, incidents, incident))?;
    let body = Limited::new(body, gate.max_request_bytes)
        .collect()
        .await
        .map_err(|_| HttpError::HttpRequestBodySize(None))?
        .to_bytes();
    let mut headers = strip_credentials(parts.headers);
    let authorization = authorize(
        &checked,
        &policy.tenant,
        gate.tokens.as_ref(),
        gate.transport.offline(),
    )
    .await
    .map_err(|incident| {
        tracing::error!(component = %policy.component, tenant = %policy.tenant, "{incident}");
        let audience = checked.endpoint.audience.clone().unwrap_or_default();
        incidents.push(incident);
        HttpError::InternalError(Some(format!("refused: no token for {audience}")))
    })?;
    if let Some(value) = authorization {
        headers.insert(AUTHORIZATION, value);
    }
    let outbound = OutboundRequest {
        method: parts.method,
        url: checked.url.clone(),
        headers,
        body,
    };
    send(gate, policy, &checked, outbound).await
}

/// The last step: pace the request through the tenant's budget for the
/// endpoint, send it, and hand the response back. A `401` drops the cached
/// token, so the retry fetches a new one.
async fn send(
    gate: &Gate,
    policy: &GatePolicy,
    checked: &Checked,
    outbound: OutboundRequest,
) -> Result<http::Response<WasiBody>, HttpError> {
    let endpoint = &checked.endpoint;
    if let Some(rate) = endpoint.budget
        && !gate.transport.offline()
    {
        gate.budgets
            .acquire(&policy.tenant, &endpoint.authority, rate)
            .await;
    }
    let method = outbound.method.clone();
    let url = outbound.url.clone();
    let started = Instant::now();
    let result = gate.transport.send(outbound).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let response = match result {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(component = %policy.component, tenant = %policy.tenant, %method, %url, elapsed_ms, "request failed: {e}");
            return Err(match e {
                TransportError::Timeout(_) => HttpError::ConnectionReadTimeout,
                TransportError::Connect(_) => HttpError::ConnectionRefused,
                TransportError::TooLarge(n) => HttpError::HttpResponseBodySize(Some(n as u64)),
                other => HttpError::InternalError(Some(other.to_string())),
            });
        }
    };
    tracing::debug!(component = %policy.component, tenant = %policy.tenant, %method, %url, status = response.status, elapsed_ms, "request");
    if response.status == 401
        && let Some(audience) = &endpoint.audience
    {
        gate.tokens.invalidate(&policy.tenant, audience);
    }

    let mut builder = http::Response::builder().status(response.status);
    if let Some(h) = builder.headers_mut() {
        *h = response.headers;
        // The body is whole here (decompressed if it came compressed): its
        // true length lets the guest read it into one buffer of the right
        // size instead of growing one chunk by chunk.
        h.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(response.body.len()),
        );
    }
    let body: WasiBody = Full::new(response.body)
        .map_err(|never| match never {})
        .boxed_unsync();
    builder
        .body(body)
        .map_err(|e| HttpError::InternalError(Some(e.to_string())))
}

#[cfg(test)]
mod tests {
    //! The hooks called directly, as wasmtime calls them, without a guest.
    use super::*;
    use crate::gate::{AllowedEndpoint, InboundResponse, Transport};
    use crate::tokens::{AccessToken, NoTokens, Secret, TokenError, TokenProvider};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, SystemTime};

    /// Answers every request with `status` and keeps what it was sent.
    struct Listener {
        status: u16,
        seen: Mutex<Vec<OutboundRequest>>,
    }

    #[async_trait::async_trait]
    impl Transport for Listener {
        async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError> {
            self.seen.lock().unwrap().push(request);
            Ok(InboundResponse {
                status: self.status,
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::from_static(b"{}"),
            })
        }
    }

    /// A token per audience, counting the tokens dropped after a 401.
    #[derive(Default)]
    struct Tokens {
        invalidated: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl TokenProvider for Tokens {
        async fn token(&self, _tenant: &str, audience: &str) -> Result<AccessToken, TokenError> {
            Ok(AccessToken {
                value: Secret::new(format!("token-for-{audience}")),
                expires_at: SystemTime::now() + Duration::from_secs(3600),
            })
        }

        fn invalidate(&self, _tenant: &str, _audience: &str) {
            self.invalidated.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Setup {
        listener: Arc<Listener>,
        tokens: Arc<Tokens>,
        hooks: GateHooks,
        incidents: IncidentLog,
    }

    fn setup(status: u16, tokens: Option<Arc<Tokens>>) -> Setup {
        let listener = Arc::new(Listener {
            status,
            seen: Mutex::new(Vec::new()),
        });
        let counting = tokens.clone().unwrap_or_default();
        let provider: Arc<dyn TokenProvider> = match tokens {
            Some(t) => t,
            None => Arc::new(NoTokens),
        };
        let gate = Arc::new(Gate::new(listener.clone(), provider));
        let policy = Arc::new(GatePolicy::for_tests(vec![
            AllowedEndpoint {
                authority: "manage.office.com".into(),
                audience: Some("https://manage.office.com".into()),
                budget: None,
            },
            AllowedEndpoint {
                authority: "cdn.example".into(),
                audience: None,
                budget: None,
            },
        ]));
        let incidents = IncidentLog::default();
        Setup {
            listener,
            tokens: counting,
            hooks: GateHooks::new(gate, policy, incidents.clone()),
            incidents,
        }
    }

    fn request(url: &str, authorization: Option<&str>) -> http::Request<WasiBody> {
        let mut builder = http::Request::builder().uri(url);
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        let body: WasiBody = Full::new(bytes::Bytes::new())
            .map_err(|never| match never {})
            .boxed_unsync();
        builder.body(body).unwrap()
    }

    async fn send(s: &mut Setup, req: http::Request<WasiBody>) -> Result<u16, HttpError> {
        let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
            Box::new(async { Ok(()) });
        let fut = s.hooks.send_request(req, None, done);
        Box::into_pin(fut)
            .await
            .map(|(response, _)| response.status().as_u16())
    }

    fn sent_authorization(s: &Setup) -> Vec<Option<String>> {
        s.listener
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                r.headers
                    .get(AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_string())
            })
            .collect()
    }

    #[tokio::test]
    async fn a_granted_request_carries_the_token_for_its_audience_only() {
        let mut s = setup(200, Some(Arc::default()));
        let status = send(&mut s, request("https://manage.office.com/api", None)).await;
        assert_eq!(status.unwrap(), 200);
        assert_eq!(
            sent_authorization(&s),
            [Some(
                "Bearer token-for-https://manage.office.com".to_string()
            )]
        );
        assert!(s.incidents.snapshot().is_empty());
    }

    #[tokio::test]
    async fn a_request_without_a_granted_audience_leaves_without_credentials() {
        let mut s = setup(200, Some(Arc::default()));
        // Even one that reached the hooks with its own header set.
        let status = send(
            &mut s,
            request("https://cdn.example/blob", Some("Bearer mine")),
        )
        .await;
        assert_eq!(status.unwrap(), 200);
        assert_eq!(sent_authorization(&s), [None]);
    }

    #[tokio::test]
    async fn a_host_outside_the_policy_is_refused_and_never_sent() {
        let mut s = setup(200, Some(Arc::default()));
        let err = send(&mut s, request("https://evil.example/steal", None))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::HttpRequestDenied), "{err:?}");
        assert_eq!(
            s.incidents.snapshot(),
            [Incident::HostNotAllowed {
                url: "https://evil.example/steal".into()
            }]
        );
        assert!(s.listener.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn plain_http_off_this_machine_is_refused_and_never_sent() {
        let mut s = setup(200, Some(Arc::default()));
        let err = send(&mut s, request("http://cdn.example/blob", None))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::HttpRequestDenied), "{err:?}");
        assert!(matches!(
            s.incidents.snapshot()[..],
            [Incident::InsecureScheme { .. }]
        ));
        assert!(s.listener.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn no_token_means_the_request_does_not_leave() {
        let mut s = setup(200, None);
        let err = send(&mut s, request("https://manage.office.com/api", None))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::InternalError(_)), "{err:?}");
        assert!(matches!(
            s.incidents.snapshot()[..],
            [Incident::TokenUnavailable { .. }]
        ));
        assert!(s.listener.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_401_drops_the_cached_token() {
        let tokens: Arc<Tokens> = Arc::default();
        let mut s = setup(401, Some(tokens.clone()));
        let status = send(&mut s, request("https://manage.office.com/api", None)).await;
        assert_eq!(status.unwrap(), 401);
        assert_eq!(s.tokens.invalidated.load(Ordering::SeqCst), 1);
        // Without an audience there is no token to drop.
        let status = send(&mut s, request("https://cdn.example/blob", None)).await;
        assert_eq!(status.unwrap(), 401);
        assert_eq!(tokens.invalidated.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_guest_credential_header_is_forbidden_and_recorded() {
        let mut s = setup(200, None);
        let filter = s.hooks.forbidden_header_filter();
        assert!(filter(&AUTHORIZATION));
        assert!(filter(&PROXY_AUTHORIZATION));
        assert!(!filter(&HeaderName::from_static("accept")));
        assert_eq!(
            s.incidents.snapshot(),
            [
                Incident::GuestCredentials {
                    header: "authorization".into()
                },
                Incident::GuestCredentials {
                    header: "proxy-authorization".into()
                }
            ]
        );
    }
}
