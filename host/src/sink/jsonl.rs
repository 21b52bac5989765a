//! The local default sink: one JSON object per line, to a file or stdout.
//!
//! Lines collect in memory and reach the file in large blocking writes on
//! tokio's blocking pool: one hand-off per megabyte or per acknowledgement
//! rather than one per small write (a profile showed the per-write hand-offs
//! of `tokio::fs` costing more CPU than the writing itself). `flush` writes
//! what is pending and syncs the file's data: only then are the events
//! acknowledged.

use super::EventSink;
use crate::runtime::Event;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Pending bytes that are written out (without a sync) before a flush.
const WRITE_AT: usize = 1 << 20;

/// Writes each event's normalized body as one line.
pub struct JsonLinesSink {
    pending: Vec<u8>,
    /// Bytes were written since the last sync.
    unsynced: bool,
    out: Output,
}

/// Where the lines go.
enum Output {
    /// A file (or a device such as `/dev/null`, which is never synced).
    File {
        file: Arc<std::fs::File>,
        path: PathBuf,
        syncable: bool,
    },
    /// Standard output.
    Stdout,
}

impl JsonLinesSink {
    /// Appends to `path` (created if missing). A last line cut short by a
    /// crash is removed first: it was never acknowledged, so the checkpoint
    /// still covers it and it will be written again whole.
    pub async fn append_to(path: &Path) -> anyhow::Result<Self> {
        drop_partial_last_line(path)
            .await
            .map_err(|e| anyhow::anyhow!("cannot repair {}: {e}", path.display()))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open {} for writing: {e}", path.display()))?;
        // Only a regular file can be fsynced (`/dev/null`, a pipe cannot).
        let syncable = file.metadata()?.is_file();
        Ok(Self {
            pending: Vec::with_capacity(WRITE_AT),
            unsynced: false,
            out: Output::File {
                file: Arc::new(file),
                path: path.to_path_buf(),
                syncable,
            },
        })
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self {
            pending: Vec::with_capacity(WRITE_AT),
            unsynced: false,
            out: Output::Stdout,
        }
    }

    /// Writes what is pending on the blocking pool, syncing if `sync`.
    async fn write_pending(&mut self, sync: bool) -> anyhow::Result<()> {
        let buffer = std::mem::take(&mut self.pending);
        let (file, sync) = match &self.out {
            Output::File { file, syncable, .. } => (Some(file.clone()), sync && *syncable),
            Output::Stdout => (None, false),
        };
        let sync = sync && (self.unsynced || !buffer.is_empty());
        if buffer.is_empty() && !sync {
            self.pending = buffer;
            return Ok(());
        }
        let mut buffer = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            match file {
                Some(file) => {
                    (&*file).write_all(&buffer)?;
                    if sync {
                        file.sync_data()?;
                    }
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&buffer)?;
                    out.flush()?;
                }
            }
            Ok(buffer)
        })
        .await
        .map_err(|e| anyhow::anyhow!("the writer task failed: {e}"))?
        .map_err(|e| anyhow::anyhow!("writing events to {}: {e}", self.describe()))?;
        buffer.clear();
        self.pending = buffer;
        self.unsynced = !sync;
        Ok(())
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
/// spans lines (a component may pretty-print). The search is `memchr`'s:
/// `str::contains` scans a word (8 bytes) at a time, which was 1.7 % of the
/// host's CPU in `bench pipeline` under `perf`; this one uses SIMD.
fn line_of(event: &Event) -> anyhow::Result<std::borrow::Cow<'_, str>> {
    if memchr::memchr(b'\n', event.body.as_bytes()).is_some() {
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
            self.pending.extend_from_slice(line.as_bytes());
            self.pending.push(b'\n');
        }
        if self.pending.len() >= WRITE_AT {
            self.write_pending(false).await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.write_pending(true).await
    }

    fn describe(&self) -> String {
        match &self.out {
            Output::File { path, .. } => format!("file {}", path.display()),
            Output::Stdout => "stdout".into(),
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
