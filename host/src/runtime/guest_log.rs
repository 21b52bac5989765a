//! Captures a guest's stdout and stderr into the host's `tracing` logs.
//!
//! A component has no terminal: whatever it prints becomes log lines tagged
//! with the component and tenant. Output per invocation is capped so that a
//! chatty or hostile guest cannot flood the logs.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Which guest stream a line came from.
#[derive(Clone, Copy, Debug)]
pub enum GuestStream {
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

/// The last few lines a guest wrote, to explain a trap: a Rust guest prints
/// its panic message to stderr just before it traps.
#[derive(Clone, Debug, Default)]
pub struct RecentLines(Arc<Mutex<VecDeque<String>>>);

impl RecentLines {
    const KEEP: usize = 4;

    fn push(&self, line: &str) {
        if let Ok(mut lines) = self.0.lock() {
            if lines.len() == Self::KEEP {
                lines.pop_front();
            }
            lines.push_back(line.chars().take(500).collect());
        }
    }

    /// Forgets the kept lines (a reused instance starts a new call).
    fn clear(&self) {
        if let Ok(mut lines) = self.0.lock() {
            lines.clear();
        }
    }

    /// The kept lines, oldest first, joined with ` | `; none if empty.
    pub fn summary(&self) -> Option<String> {
        let lines = self.0.lock().ok()?;
        (!lines.is_empty()).then(|| lines.iter().cloned().collect::<Vec<_>>().join(" | "))
    }
}

/// One guest stream of one invocation, turned into log lines.
#[derive(Clone)]
pub struct GuestOutput {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    component: Arc<str>,
    tenant: Arc<str>,
    stream: GuestStream,
    pending: Vec<u8>,
    remaining: usize,
    truncated: bool,
    /// The newest lines, kept to explain a trap (a Rust panic message).
    recent: RecentLines,
}

impl GuestOutput {
    /// Output of `stream` for `component` working for `tenant`, logging at
    /// most `limit` bytes. `recent` keeps the newest lines.
    pub fn new(
        component: Arc<str>,
        tenant: Arc<str>,
        stream: GuestStream,
        limit: usize,
        recent: RecentLines,
    ) -> Self {
        Self {
            inner: Arc::new(Mutex::new(LineBuffer {
                component,
                tenant,
                stream,
                pending: Vec::new(),
                remaining: limit,
                truncated: false,
                recent,
            })),
        }
    }
}

impl GuestOutput {
    /// Starts a new call on a reused instance: what is left of the last
    /// call's line is written out, the kept lines are forgotten (a trap
    /// is explained by its own call's lines), and the log limit applies
    /// afresh.
    pub fn start_call(&self, limit: usize) {
        if let Ok(mut inner) = self.inner.lock() {
            let rest = std::mem::take(&mut inner.pending);
            inner.emit(&rest);
            inner.recent.clear();
            inner.remaining = limit;
            inner.truncated = false;
        }
    }
}

impl LineBuffer {
    fn write(&mut self, bytes: &[u8]) {
        let take = bytes.len().min(self.remaining);
        self.remaining -= take;
        self.pending.extend_from_slice(&bytes[..take]);
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if take < bytes.len() && !self.truncated {
            self.truncated = true;
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
            tracing::warn!(
                target: "component",
                component = %self.component,
                tenant = %self.tenant,
                "component output exceeded its log limit; further output of this invocation is dropped"
            );
        }
    }

    fn emit(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            return;
        }
        match self.stream {
            GuestStream::Stdout => tracing::info!(
                target: "component", component = %self.component, tenant = %self.tenant,
                stream = "stdout", "{line}"
            ),
            GuestStream::Stderr => tracing::warn!(
                target: "component", component = %self.component, tenant = %self.tenant,
                stream = "stderr", "{line}"
            ),
        }
        self.recent.push(line);
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        let rest = std::mem::take(&mut self.pending);
        self.emit(&rest);
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Ok(mut inner) = self.inner.lock() {
            inner.write(buf);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
