//! How the gate moves a request: over the network, through a recorder, or
//! from a recording. The gate's policy is the same whichever is used.

use bytes::Bytes;
use http::HeaderMap;

/// A complete outgoing request, after the gate's checks.
#[derive(Clone, Debug)]
pub struct OutboundRequest {
    /// HTTP method.
    pub method: http::Method,
    /// Absolute URL.
    pub url: String,
    /// Headers, including the `Authorization` the gate attached.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
}

/// A complete response.
#[derive(Clone, Debug)]
pub struct InboundResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// Why a request produced no response.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connecting or waiting for the answer took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection could not be made.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The response body was larger than allowed.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// Replaying: this request was never recorded.
    #[error("not in the recording: {0}")]
    NotRecorded(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Sends requests somewhere.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Sends one request and reads the whole response.
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError>;

    /// Whether this transport never touches the network (replay): then no
    /// token is needed.
    fn offline(&self) -> bool {
        false
    }
}
