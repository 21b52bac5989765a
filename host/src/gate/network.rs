//! The real network: one pooled `reqwest` client for every component, with
//! the operator's proxy, extra trusted CAs and timeouts.

use super::transport::{InboundResponse, OutboundRequest, Transport, TransportError};
use crate::tokens::Secret;
use std::time::Duration;

/// A forward proxy for every outbound call (`APP_PROXY_URI`, `APP_PROXY_TOKEN`).
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The proxy URL, `http://proxy.example:3128`.
    pub uri: String,
    /// Sent as `Proxy-Authorization: Bearer <token>` when set.
    pub token: Option<Secret>,
}

/// Network settings shared by the gate and the token client.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Proxy for all outbound calls; none means direct (system proxy
    /// variables are ignored, so behaviour does not depend on the shell).
    pub proxy: Option<ProxyConfig>,
    /// Extra CA certificates (PEM) to trust, for simulators and TLS-inspecting
    /// proxies.
    pub extra_ca_pems: Vec<String>,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole request, body included.
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            proxy: None,
            extra_ca_pems: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_response_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Errors building the client from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum NetworkConfigError {
    /// The proxy URL or token is unusable.
    #[error("APP_PROXY_URI `{uri}` is not usable: {message}")]
    Proxy {
        /// The configured URI.
        uri: String,
        /// Why not.
        message: String,
    },
    /// A CA certificate could not be read.
    #[error("a trusted CA certificate is not valid PEM: {0}")]
    Certificate(String),
    /// The client could not be built.
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

impl NetworkConfig {
    /// Builds the pooled client.
    pub fn client(&self) -> Result<reqwest::Client, NetworkConfigError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "o365-activity-to-eventhubs/",
                env!("CARGO_PKG_VERSION")
            ));
        builder = match &self.proxy {
            None => builder.no_proxy(),
            Some(proxy) => {
                let err = |message: String| NetworkConfigError::Proxy {
                    uri: proxy.uri.clone(),
                    message,
                };
                let mut p = reqwest::Proxy::all(&proxy.uri).map_err(|e| err(e.to_string()))?;
                if let Some(token) = &proxy.token {
                    let mut value =
                        http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                            .map_err(|_| {
                                err(
                                    "APP_PROXY_TOKEN contains characters not allowed in a header"
                                        .into(),
                                )
                            })?;
                    // Never printed by the HTTP stack's own logs.
                    value.set_sensitive(true);
                    p = p.custom_http_auth(value);
                }
                builder.proxy(p)
            }
        };
        for pem in &self.extra_ca_pems {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| NetworkConfigError::Certificate(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build()
            .map_err(|e| NetworkConfigError::Client(e.to_string()))
    }
}

/// Sends over the network with a pooled client.
pub struct NetworkTransport {
    client: reqwest::Client,
    max_response_bytes: usize,
}

impl NetworkTransport {
    /// A transport over `client`.
    pub fn new(client: reqwest::Client, max_response_bytes: usize) -> Self {
        Self {
            client,
            max_response_bytes,
        }
    }
}

fn classify(e: reqwest::Error, url: &str) -> TransportError {
    let text = format!("{url}: {e}");
    if e.is_timeout() {
        TransportError::Timeout(text)
    } else if e.is_connect() {
        TransportError::Connect(text)
    } else {
        TransportError::Other(text)
    }
}

#[async_trait::async_trait]
impl Transport for NetworkTransport {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError> {
        let url = request.url.clone();
        let mut response = self
            .client
            .request(request.method, &request.url)
            .headers(request.headers)
            .body(request.body)
            .send()
            .await
            .map_err(|e| classify(e, &url))?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, &url))? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(TransportError::TooLarge(self.max_response_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(InboundResponse {
            status,
            headers,
            body: body.into(),
        })
    }
}
