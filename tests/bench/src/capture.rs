//! Transports of the benchmark: one that keeps the last body it fetched
//! (to capture what each step read), and one that answers every step from
//! those captured bodies with no network.

use bytes::Bytes;
use o365_host::gate::{InboundResponse, OutboundRequest, Transport, TransportError};
use std::collections::HashMap;
use std::sync::Mutex;

/// Sends through `inner` and remembers the last request URL and response
/// body.
pub struct CapturingTransport {
    inner: Box<dyn Transport>,
    last: Mutex<Option<(String, Bytes)>>,
}

impl CapturingTransport {
    /// Wraps `inner`.
    pub fn new(inner: impl Transport + 'static) -> Self {
        Self {
            inner: Box::new(inner),
            last: Mutex::new(None),
        }
    }

    /// The last URL and response body, forgetting them.
    pub fn take_last(&self) -> Option<(String, Bytes)> {
        self.last.lock().ok()?.take()
    }
}

#[async_trait::async_trait]
impl Transport for CapturingTransport {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError> {
        let url = request.url.clone();
        let response = self.inner.send(request).await?;
        if let Ok(mut last) = self.last.lock() {
            *last = Some((url, response.body.clone()));
        }
        Ok(response)
    }
}

/// Answers each request with the body captured for its URL.
pub struct Canned {
    bodies: HashMap<String, Bytes>,
}

impl Canned {
    /// Bodies by URL.
    pub fn new(bodies: HashMap<String, Bytes>) -> Self {
        Self { bodies }
    }
}

#[async_trait::async_trait]
impl Transport for Canned {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError> {
        let body = self
            .bodies
            .get(&request.url)
            .cloned()
            .ok_or_else(|| TransportError::NotRecorded(request.url.clone()))?;
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok(InboundResponse {
            status: 200,
            headers,
            body,
        })
    }

    fn offline(&self) -> bool {
        true
    }
}
