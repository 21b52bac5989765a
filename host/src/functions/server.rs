//! The custom handler's web server: one `POST /<function name>` route per
//! function, each answered by its [`Invoke`] handler, and `GET /`, which the
//! Functions host pings until the handler answers (any answer counts as
//! ready) and which tells an operator what is served.
//!
//! The server listens on `127.0.0.1:<FUNCTIONS_CUSTOMHANDLER_PORT>`; the
//! Functions host sets that variable when it starts the handler and must
//! get an answer within 60 seconds of the start, so the server binds first
//! and whatever takes longer (compiling components) happens behind it.
//!
//! A failed invocation is answered with status 500 and the documented body.
//! The Functions host records the failure but does not read a failed
//! answer's body, so every `Logs` line is also written to the process log,
//! which the Functions host collects from the handler. The process log goes
//! to stderr: the Functions host records every stdout line at Information
//! level, but a stderr line at Warning when it contains "warn" and at Error
//! when it contains "error" or "fail" (`WorkerProcess.ParseErrorMessageAndLog`),
//! so JSON lines with `"level":"ERROR"` are recorded as errors.

use super::protocol::{INVOCATION_ID_HEADER, InvocationRequest, InvocationResponse};
use crate::settings::SettingsSource;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The setting holding the port the Functions host calls the handler on.
pub const PORT_SETTING: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";

/// What a handler knows about the invocation besides the request.
#[derive(Clone, Debug, Default)]
pub struct InvocationContext {
    /// The function invoked.
    pub function: String,
    /// `X-Azure-Functions-InvocationId`, when sent.
    pub invocation_id: Option<String>,
}

/// How an invocation ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Invocation {
    /// Whether the Functions host should record a success.
    pub succeeded: bool,
    /// The answer's body.
    pub response: InvocationResponse,
}

/// Runs one function.
#[async_trait::async_trait]
pub trait Invoke: Send + Sync {
    /// Runs the function for `request`.
    async fn invoke(&self, request: InvocationRequest, context: InvocationContext) -> Invocation;
}

/// The handlers by function name, and what `GET /` adds to its answer.
#[derive(Clone, Default)]
pub struct Functions {
    handlers: BTreeMap<String, Arc<dyn Invoke>>,
    about: serde_json::Map<String, serde_json::Value>,
}

impl Functions {
    /// No functions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `handler` at `POST /<name>`.
    pub fn route(mut self, name: &str, handler: Arc<dyn Invoke>) -> Self {
        self.handlers.insert(name.to_string(), handler);
        self
    }

    /// Adds `key: value` to the `GET /` answer.
    pub fn about(mut self, key: &str, value: serde_json::Value) -> Self {
        self.about.insert(key.to_string(), value);
        self
    }

    /// The served function names.
    pub fn names(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }

    /// The router.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(health))
            .route("/{function}", post(invoke))
            .with_state(Arc::new(self))
    }
}

/// The port from `FUNCTIONS_CUSTOMHANDLER_PORT`.
pub fn listen_port(settings: &SettingsSource) -> anyhow::Result<u16> {
    let Some(value) = settings.get(PORT_SETTING) else {
        anyhow::bail!(
            "{PORT_SETTING} is not set: the Azure Functions host sets it when it starts the custom \
             handler (host.json `customHandler`); to run `serve` by hand, set it to a free port, \
             for example {PORT_SETTING}=7071"
        );
    };
    match value.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => anyhow::bail!(
            "{PORT_SETTING} is `{value}`, which is not a TCP port: give a number from 1 to 65535"
        ),
    }
}

/// Serves `functions` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, functions: Functions) -> anyhow::Result<()> {
    axum::serve(listener, functions.router()).await?;
    Ok(())
}

async fn health(State(functions): State<Arc<Functions>>) -> Response {
    let mut body = functions.about.clone();
    body.insert("functions".into(), serde_json::json!(functions.names()));
    axum::Json(serde_json::Value::Object(body)).into_response()
}

async fn invoke(
    State(functions): State<Arc<Functions>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let context = InvocationContext {
        invocation_id: headers
            .get(INVOCATION_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        function: function.clone(),
    };
    let span = tracing::info_span!(
        "invocation",
        function = %function,
        invocation_id = context.invocation_id.as_deref().unwrap_or("")
    );
    let Some(handler) = functions.handlers.get(&function).cloned() else {
        let line = format!(
            "no function `{function}` in this custom handler; it serves {}",
            functions.names().join(", ")
        );
        return answer(&span, StatusCode::NOT_FOUND, failure(line));
    };
    let request: InvocationRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let line = format!(
                "the invocation request for `{function}` is not the custom handler payload \
                 ({{\"Data\":…,\"Metadata\":…}}): {e}"
            );
            return answer(&span, StatusCode::BAD_REQUEST, failure(line));
        }
    };
    let invocation = {
        use tracing::Instrument as _;
        handler
            .invoke(request, context)
            .instrument(span.clone())
            .await
    };
    let status = if invocation.succeeded {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    answer(&span, status, invocation)
}

fn failure(line: String) -> Invocation {
    Invocation {
        succeeded: false,
        response: InvocationResponse {
            logs: vec![line],
            ..InvocationResponse::default()
        },
    }
}

/// The answer, with every `Logs` line also in the process log.
fn answer(span: &tracing::Span, status: StatusCode, invocation: Invocation) -> Response {
    span.in_scope(|| {
        for line in &invocation.response.logs {
            if invocation.succeeded {
                tracing::info!(invocation_log = true, "{line}");
            } else {
                tracing::error!(invocation_log = true, "{line}");
            }
        }
        tracing::info!(
            status = status.as_u16(),
            succeeded = invocation.succeeded,
            "invocation answered"
        );
    });
    (status, axum::Json(invocation.response)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_required_and_must_be_a_port() {
        let err = listen_port(&SettingsSource::from_pairs(&[])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("FUNCTIONS_CUSTOMHANDLER_PORT is not set"),
            "{err}"
        );
        for bad in ["http", "0", "70000", "-1"] {
            let err = listen_port(&SettingsSource::from_pairs(&[(PORT_SETTING, bad)])).unwrap_err();
            assert!(err.to_string().contains("not a TCP port"), "{bad}: {err}");
        }
        assert_eq!(
            listen_port(&SettingsSource::from_pairs(&[(PORT_SETTING, " 7071 ")])).unwrap(),
            7071
        );
    }
}
