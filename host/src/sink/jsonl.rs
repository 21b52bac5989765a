//! The local default sink: one JSON object per line, to a file or stdout.

use super::EventSink;
use crate::runtime::Event;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

/// Writes each event's normalized body as one line.
pub struct JsonLinesSink {
    out: BufWriter<Box<dyn AsyncWrite + Send + Unpin>>,
    target: Option<PathBuf>,
    file: Option<tokio::fs::File>,
}

impl JsonLinesSink {
    /// Appends to `path` (created if missing).
    pub async fn append_to(path: &Path) -> anyhow::Result<Self> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open {} for writing: {e}", path.display()))?;
        let sync_handle = file.try_clone().await?;
        Ok(Self {
            out: BufWriter::new(Box::new(file)),
            target: Some(path.to_path_buf()),
            file: Some(sync_handle),
        })
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self {
            out: BufWriter::new(Box::new(tokio::io::stdout())),
            target: None,
            file: None,
        }
    }
}

/// The event as one line of JSON: its body, re-encoded only if it spans
/// lines (a component may pretty-print).
fn line_of(event: &Event) -> anyhow::Result<String> {
    if event.body.contains('\n') {
        let value: serde_json::Value = serde_json::from_str(&event.body)
            .map_err(|e| anyhow::anyhow!("event {} has a body that is not JSON: {e}", event.id))?;
        Ok(value.to_string())
    } else {
        Ok(event.body.clone())
    }
}

#[async_trait::async_trait]
impl EventSink for JsonLinesSink {
    async fn publish(&mut self, events: &[Event]) -> anyhow::Result<()> {
        for event in events {
            let line = line_of(event)?;
            self.out.write_all(line.as_bytes()).await?;
            self.out.write_all(b"\n").await?;
        }
        self.out.flush().await?;
        if let Some(file) = &self.file {
            file.sync_data().await?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match &self.target {
            Some(path) => format!("file {}", path.display()),
            None => "stdout".into(),
        }
    }
}
