//! Record the HTTP exchanges of a run, and replay them offline.
//!
//! A recording is a directory of numbered JSON files, one per exchange, so
//! that it can be read, diffed and trimmed by hand (fixtures). Credentials
//! are never written: `Authorization` and `Proxy-Authorization` are dropped
//! before anything reaches the disk.

use super::transport::{InboundResponse, OutboundRequest, Transport, TransportError};
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// One exchange as stored on disk.
#[derive(Debug, Serialize, Deserialize)]
pub struct Exchange {
    /// Request method.
    pub method: String,
    /// Request URL.
    pub url: String,
    /// Response status.
    pub status: u16,
    /// Response headers (name, value).
    pub headers: Vec<(String, String)>,
    /// Response body as text, when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Response body as base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

fn is_credential(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("proxy-authorization")
}

impl Exchange {
    fn new(request: &OutboundRequest, response: &InboundResponse) -> Self {
        let (body, body_base64) = match std::str::from_utf8(&response.body) {
            Ok(text) => (Some(text.to_string()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(&response.body)),
            ),
        };
        Self {
            method: request.method.to_string(),
            url: request.url.clone(),
            status: response.status,
            headers: response
                .headers
                .iter()
                .filter(|(n, _)| !is_credential(n.as_str()))
                .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body,
            body_base64,
        }
    }

    fn response(&self) -> Result<InboundResponse, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|e| e.to_string())?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|e| e.to_string())?;
            headers.append(name, value);
        }
        let body = match (&self.body, &self.body_base64) {
            (_, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| e.to_string())?,
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, None) => Vec::new(),
        };
        Ok(InboundResponse {
            status: self.status,
            headers,
            body: body.into(),
        })
    }
}

/// Sends through another transport and writes every exchange to a directory.
pub struct Recorder {
    inner: Arc<dyn Transport>,
    dir: PathBuf,
    sequence: AtomicU64,
}

impl Recorder {
    /// Records into `dir` (created if needed).
    pub fn new(inner: Arc<dyn Transport>, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            inner,
            dir: dir.to_path_buf(),
            sequence: AtomicU64::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Transport for Recorder {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError> {
        let response = self.inner.send(request.clone()).await?;
        let n = self.sequence.fetch_add(1, Ordering::SeqCst);
        let exchange = Exchange::new(&request, &response);
        let path = self.dir.join(format!("{n:06}.json"));
        let json = serde_json::to_vec_pretty(&exchange)
            .map_err(|e| TransportError::Other(format!("recording {}: {e}", path.display())))?;
        tokio::fs::write(&path, json)
            .await
            .map_err(|e| TransportError::Other(format!("recording {}: {e}", path.display())))?;
        Ok(response)
    }
}

/// Answers from a recording, in the order the responses were recorded for
/// each method and URL; the last one repeats once they run out.
pub struct Replayer {
    exchanges: Mutex<HashMap<(String, String), VecDeque<Exchange>>>,
}

impl Replayer {
    /// Loads every `*.json` exchange in `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot read recording {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| p.file_name().is_some_and(|n| n != "run.json"))
            .collect();
        files.sort();
        if files.is_empty() {
            anyhow::bail!("recording {} holds no exchanges", dir.display());
        }
        let mut exchanges: HashMap<(String, String), VecDeque<Exchange>> = HashMap::new();
        for file in files {
            let text = std::fs::read(&file)?;
            let exchange: Exchange = serde_json::from_slice(&text).map_err(|e| {
                anyhow::anyhow!("{} is not a recorded exchange: {e}", file.display())
            })?;
            exchanges
                .entry((exchange.method.clone(), exchange.url.clone()))
                .or_default()
                .push_back(exchange);
        }
        Ok(Self {
            exchanges: Mutex::new(exchanges),
        })
    }
}

#[async_trait::async_trait]
impl Transport for Replayer {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError> {
        let key = (request.method.to_string(), request.url.clone());
        let mut map = self
            .exchanges
            .lock()
            .map_err(|_| TransportError::Other("recording lock poisoned".into()))?;
        let queue = map
            .get_mut(&key)
            .ok_or_else(|| TransportError::NotRecorded(format!("{} {}", key.0, key.1)))?;
        let exchange = if queue.len() > 1 {
            queue.pop_front()
        } else {
            None
        };
        let exchange = exchange
            .as_ref()
            .or(queue.front())
            .ok_or_else(|| TransportError::NotRecorded(format!("{} {}", key.0, key.1)))?;
        exchange.response().map_err(TransportError::Other)
    }

    fn offline(&self) -> bool {
        true
    }
}
