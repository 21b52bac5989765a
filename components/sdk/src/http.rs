//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! The host gates every request: it refuses authorities the operator did not
//! grant the component, adds the bearer token (only where its audience is
//! granted) and proxy, and applies timeouts. A
//! component therefore never sets `Authorization` (the host refuses it); it
//! only says where to go and reads what comes back.

use crate::FetchError;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;

/// Largest response body a component reads, so that a hostile or broken
/// server cannot make a component allocate without end.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text, lossily, cut to `max` characters: for error messages.
    pub fn body_snippet(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut snippet: String = text.chars().take(max).collect();
        if text.chars().count() > max {
            snippet.push('…');
        }
        snippet
    }

    /// `Retry-After` in milliseconds, when given in seconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0) as u64)
    }
}

/// Why a request did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused the request (authority not allowed, forbidden
    /// header). Retrying cannot help.
    Refused(String),
    /// The URL could not be used.
    InvalidUrl(String),
    /// The network failed (timeout, reset, DNS); may work next time.
    Transport(String),
    /// The response body was larger than [`MAX_BODY_BYTES`].
    TooLarge(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Refused(m) => write!(f, "refused by the host: {m}"),
            HttpError::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            HttpError::Transport(m) => write!(f, "network error: {m}"),
            HttpError::TooLarge(m) => write!(f, "response too large: {m}"),
        }
    }
}

impl From<HttpError> for FetchError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Transport(_) => FetchError::Transient(e.to_string()),
            _ => FetchError::Fatal(e.to_string()),
        }
    }
}

/// Sends a GET request.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    send("GET", url, headers, None)
}

/// Sends a request with an optional body and waits for the whole response.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, HttpError> {
    let parts = UrlParts::parse(url)?;
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| HttpError::Refused(format!("header `{name}` on {url}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(fields);
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let invalid = |what: &str| HttpError::InvalidUrl(format!("{what} of {url}"));
    request.set_method(&method).map_err(|_| invalid("method"))?;
    request
        .set_scheme(Some(&parts.scheme))
        .map_err(|_| invalid("scheme"))?;
    request
        .set_authority(Some(&parts.authority))
        .map_err(|_| invalid("authority"))?;
    request
        .set_path_with_query(Some(&parts.path_and_query))
        .map_err(|_| invalid("path"))?;
    let outgoing_body = request
        .body()
        .map_err(|_| HttpError::Transport("request body unavailable".into()))?;
    let future = outgoing_handler::handle(request, None).map_err(|e| describe(url, &e))?;
    write_body(outgoing_body, body.unwrap_or_default(), url)?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or_else(|| HttpError::Transport(format!("no response from {url}")))?
        .map_err(|_| HttpError::Transport(format!("response from {url} already taken")))?
        .map_err(|e| describe(url, &e))?;
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let incoming = response
        .consume()
        .map_err(|_| HttpError::Transport(format!("body of {url} unavailable")))?;
    let length = content_length(&headers);
    let body = read_body(incoming, url, length)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn write_body(body: OutgoingBody, bytes: &[u8], url: &str) -> Result<(), HttpError> {
    {
        let stream = body
            .write()
            .map_err(|_| HttpError::Transport(format!("request body stream of {url}")))?;
        for chunk in bytes.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|e| {
                HttpError::Transport(format!("writing request body of {url}: {e:?}"))
            })?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| describe(url, &e))
}

/// The `content-length` the response announces, if it is a number.
fn content_length(headers: &[(String, String)]) -> Option<usize> {
    headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// Reads the whole body in as few reads as the host allows. With a known
/// length (the host always sends one) the first read asks for all of it,
/// and the chunk it returns is the body: for a large content blob that is
/// most of the memory a call touches, and it is touched once. A body that
/// comes in pieces grows once, to its announced size.
fn read_body(
    incoming: IncomingBody,
    url: &str,
    length: Option<usize>,
) -> Result<Vec<u8>, HttpError> {
    // No buffer yet: the first chunk becomes the body, so that a body the
    // host hands over whole (it does: the gate reads it before answering)
    // is neither allocated twice nor copied inside the guest.
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|_| HttpError::Transport(format!("body stream of {url}")))?;
        loop {
            let wanted = match length {
                Some(total) if total > body.len() => total - body.len(),
                _ => 1024 * 1024,
            };
            match stream.blocking_read(wanted.clamp(64 * 1024, 16 * 1024 * 1024) as u64) {
                Ok(chunk) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(HttpError::TooLarge(format!(
                            "{url} sent more than {MAX_BODY_BYTES} bytes"
                        )));
                    }
                    if body.is_empty() {
                        body = chunk;
                        if let Some(total) = length {
                            body.reserve(total.saturating_sub(body.len()).min(MAX_BODY_BYTES));
                        }
                    } else {
                        body.extend_from_slice(&chunk);
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(HttpError::Transport(format!(
                        "reading body of {url}: {}",
                        e.to_debug_string()
                    )));
                }
            }
        }
    }
    drop(IncomingBody::finish(incoming));
    Ok(body)
}

fn describe(url: &str, e: &ErrorCode) -> HttpError {
    match e {
        ErrorCode::HttpRequestDenied => HttpError::Refused(format!(
            "request to {url} denied: its host is not allowed for this component"
        )),
        ErrorCode::HttpRequestUriInvalid => HttpError::InvalidUrl(url.to_string()),
        ErrorCode::InternalError(Some(m)) if m.starts_with("refused:") => {
            HttpError::Refused(format!("{url}: {m}"))
        }
        other => HttpError::Transport(format!("{url}: {other:?}")),
    }
}

/// The pieces of an absolute `http(s)` URL that `wasi:http` wants.
struct UrlParts {
    scheme: Scheme,
    authority: String,
    path_and_query: String,
}

impl UrlParts {
    fn parse(url: &str) -> Result<Self, HttpError> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(HttpError::InvalidUrl(format!(
                "{url}: only absolute http(s) URLs are supported"
            )));
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = rest[..split].to_string();
        let mut path_and_query = rest[split..].split('#').next().unwrap_or("").to_string();
        if authority.is_empty() {
            return Err(HttpError::InvalidUrl(format!("{url}: no host")));
        }
        if !path_and_query.starts_with('/') {
            path_and_query.insert(0, '/');
        }
        Ok(UrlParts {
            scheme,
            authority,
            path_and_query,
        })
    }
}

/// The authority (`host` or `host:port`, lower case) of an absolute URL, for
/// checking a link a response handed over before following it.
pub fn authority(url: &str) -> Option<String> {
    UrlParts::parse(url)
        .ok()
        .map(|p| p.authority.to_ascii_lowercase())
}

/// The common mapping of a non-success status onto a [`FetchError`]. `what`
/// names the request in the message (for example `listing Audit.Exchange`).
/// Source-specific codes (such as `AF429` in a 403) are the caller's to check
/// first.
pub fn status_error(response: &Response, what: &str) -> FetchError {
    let detail = format!(
        "{what}: HTTP {} {}",
        response.status,
        response.body_snippet(400)
    );
    crate::fetch_error::by_status(response, detail)
}

/// The body without a UTF-8 byte order mark, which some Microsoft
/// endpoints put in front of JSON and which JSON parsers refuse.
pub fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_dropped_once() {
        assert_eq!(strip_bom(b"\xEF\xBB\xBF[1]"), b"[1]");
        assert_eq!(strip_bom(b"[1]"), b"[1]");
        assert_eq!(strip_bom(b"\xEF\xBB\xBF\xEF\xBB\xBF"), b"\xEF\xBB\xBF");
        assert_eq!(strip_bom(b""), b"");
    }

    #[test]
    fn status_errors_say_what_and_keep_the_kind() {
        let r = Response {
            status: 503,
            headers: vec![],
            body: b"down".to_vec(),
        };
        assert!(matches!(
            status_error(&r, "listing"),
            FetchError::Transient(m) if m == "listing: HTTP 503 down"
        ));
    }
}
