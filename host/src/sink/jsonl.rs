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
    /// Appends to `path` (created if missing). A last line cut short by a
    /// crash is removed first: it was never acknowledged, so the checkpoint
    /// still covers it and it will be written again whole.
    pub async fn append_to(path: &Path) -> anyhow::Result<Self> {
        drop_partial_last_line(path)
            .await
            .map_err(|e| anyhow::anyhow!("cannot repair {}: {e}", path.display()))?;
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open {} for writing: {e}", path.display()))?;
        // Only a regular file can be fsynced (`/dev/null`, a pipe cannot).
        let sync_handle = match file.metadata().await?.is_file() {
            true => Some(file.try_clone().await?),
            false => None,
        };
        Ok(Self {
            out: BufWriter::new(Box::new(file)),
            target: Some(path.to_path_buf()),
            file: sync_handle,
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

async fn drop_partial_last_line(path: &Path) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, SeekFrom};
    let mut file = match tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .await
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = file.metadata().await?.len();
    if !file.metadata().await?.is_file() || len == 0 {
        return Ok(());
    }
    // Read backwards from the end, a chunk at a time, to the last newline:
    // the file may be large, the damaged tail is at most one batch.
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    let keep = loop {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start)).await?;
        file.read_exact(part).await?;
        if end == len && part.last() == Some(&b'\n') {
            return Ok(());
        }
        if let Some(i) = part.iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    tracing::warn!(
        path = %path.display(),
        dropped_bytes = len - keep,
        "the last line was cut short by an interrupted run; removing it (it is written again)"
    );
    file.set_len(keep).await?;
    file.sync_all().await
}

/// The event as one line of JSON: its body as it is, re-encoded only if it
/// spans lines (a component may pretty-print).
fn line_of(event: &Event) -> anyhow::Result<std::borrow::Cow<'_, str>> {
    if event.body.contains('\n') {
        let value: serde_json::Value = serde_json::from_str(&event.body)
            .map_err(|e| anyhow::anyhow!("event {} has a body that is not JSON: {e}", event.id))?;
        Ok(value.to_string().into())
    } else {
        Ok(event.body.as_str().into())
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
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            time: 0,
            kind: "k".into(),
            partition_key: None,
            body: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    #[tokio::test]
    async fn a_line_cut_short_by_a_crash_is_replaced_not_merged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"id\":\"a\"}\n{\"id\":\"b").unwrap();
        let mut sink = JsonLinesSink::append_to(&path).await.unwrap();
        sink.publish(&[event("b"), event("c")]).await.unwrap();
        sink.flush().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
    }

    #[tokio::test]
    async fn multi_line_bodies_become_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut sink = JsonLinesSink::append_to(&path).await.unwrap();
        let mut e = event("x");
        e.body = "{\n  \"id\": \"x\"\n}".into();
        sink.publish(&[e]).await.unwrap();
        sink.flush().await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"id\":\"x\"}\n");
    }
}
