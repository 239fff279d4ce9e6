//! The message spool: one message's decoded content while it arrives and
//! until it is relayed. Content stays in memory up to a threshold, then goes
//! to an anonymous temporary file (created unlinked, so it disappears with the
//! spool on every path: relay, refusal, disconnect, panic). Memory per session
//! is bounded by the threshold plus one read chunk, never by the message size.
//!
//! All sessions' spools share a [`SpoolBudget`]: a total across sessions and
//! a free-space reserve on the spool's file system. A spool that would go
//! past either fails with [`std::io::ErrorKind::StorageFull`], as a full
//! disk does.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Size of the chunks read back from a spilled spool: large, because each
/// read is a trip to tokio's blocking pool (a 20 MB message in 1 MiB reads is
/// 20 trips, in 64 KiB reads 300).
const READ_CHUNK: usize = 1024 * 1024;

/// The free space is looked at again each time a spool file grew this much.
const FREE_CHECK_EVERY: u64 = 1024 * 1024;

/// What all spools share (`data.spool_max_total`, `data.spool_min_free`).
#[derive(Debug, Clone)]
pub struct SpoolBudget {
    /// Bytes spooled by every session now, memory and disk.
    pub in_use: Arc<AtomicU64>,
    /// The most `in_use` may reach.
    pub max_total: u64,
    /// Free space to leave on the spool directory's file system.
    pub min_free: u64,
}

/// One message's content; see the module docs.
#[derive(Debug)]
pub struct Spool {
    /// Content not yet written to the file (all of it while it fits in memory).
    pending: Vec<u8>,
    /// The temporary file, once the content outgrew `memory_limit`.
    file: Option<File>,
    /// Total content length.
    len: u64,
    memory_limit: usize,
    dir: Option<PathBuf>,
    budget: Option<SpoolBudget>,
    /// Bytes of this spool counted in the budget's `in_use`.
    reserved: u64,
    /// The file's length when the free space was last looked at.
    free_checked_at: Option<u64>,
}

impl Spool {
    /// An empty spool keeping up to `memory_limit` bytes in memory, with no
    /// limit shared with other spools.
    pub fn new(memory_limit: usize, dir: Option<PathBuf>) -> Self {
        Self {
            pending: Vec::new(),
            file: None,
            len: 0,
            memory_limit,
            dir,
            budget: None,
            reserved: 0,
            free_checked_at: None,
        }
    }

    /// The same spool, counted in `budget` with every other spool.
    #[must_use]
    pub fn with_budget(mut self, budget: SpoolBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Counts new content in the budget; fails past the total.
    fn reserve(&mut self) -> std::io::Result<()> {
        let Some(b) = &self.budget else {
            return Ok(());
        };
        let more = self.len().saturating_sub(self.reserved);
        if more == 0 {
            return Ok(());
        }
        let before = b.in_use.fetch_add(more, Ordering::Relaxed);
        self.reserved += more;
        if before.saturating_add(more) > b.max_total {
            return Err(storage_full(format!(
                "the spools' total would pass data.spool_max_total ({} bytes)",
                b.max_total
            )));
        }
        Ok(())
    }

    /// Before the file grows: the free-space reserve, looked at once per
    /// [`FREE_CHECK_EVERY`] bytes written.
    fn check_free_space(&mut self) -> std::io::Result<()> {
        let Some(b) = &self.budget else {
            return Ok(());
        };
        if self.free_checked_at.is_some_and(|at| self.len < at + FREE_CHECK_EVERY) {
            return Ok(());
        }
        self.free_checked_at = Some(self.len);
        let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
        let free = free_space(&dir)?;
        let wanted = b.min_free.saturating_add(FREE_CHECK_EVERY.max(self.pending.len() as u64));
        if free < wanted {
            return Err(storage_full(format!(
                "{free} bytes free in {}, less than data.spool_min_free ({} bytes) and the next write",
                dir.display(),
                b.min_free
            )));
        }
        Ok(())
    }

    /// Adds content: kept in memory up to the threshold, then written to
    /// the temporary file. After an error the spool must not be used for
    /// this message any more (its content is incomplete).
    ///
    /// # Errors
    /// The temporary file could not be created or written (disk full), or
    /// the [`SpoolBudget`] would be passed (`StorageFull`).
    pub async fn append(&mut self, content: &[u8]) -> std::io::Result<()> {
        self.pending.extend_from_slice(content);
        let result = self.commit().await;
        if result.is_err() {
            self.pending.clear();
        }
        result
    }

    /// Moves buffered content to the file when memory is over the threshold.
    async fn commit(&mut self) -> std::io::Result<()> {
        self.reserve()?;
        if self.file.is_none() && self.pending.len() <= self.memory_limit {
            return Ok(());
        }
        self.check_free_space()?;
        if self.file.is_none() {
            let dir = self.dir.clone();
            let std_file = tokio::task::spawn_blocking(move || match dir {
                Some(d) => tempfile::tempfile_in(d),
                None => tempfile::tempfile(),
            })
            .await
            .map_err(std::io::Error::other)??;
            self.file = Some(File::from_std(std_file));
        }
        if let Some(file) = &mut self.file {
            file.write_all(&self.pending).await?;
            self.len += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(())
    }

    /// Total content length in bytes.
    pub fn len(&self) -> u64 {
        self.len + self.pending.len() as u64
    }

    /// Nothing was spooled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The content spilled to a file.
    pub fn is_on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// The whole content as one buffer, if it is at most `limit` bytes; for
    /// scanners that need the complete message up front (spamd, rspamd).
    ///
    /// # Errors
    /// Reading the temporary file failed.
    pub async fn to_bytes(&mut self, limit: u64) -> std::io::Result<Option<bytes::Bytes>> {
        if self.len() > limit {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        let mut reader = self.reader().await?;
        while let Some(chunk) = reader.next_chunk().await? {
            out.extend_from_slice(chunk);
        }
        Ok(Some(out.into()))
    }

    /// An independent reader of the content so far ([`SpoolSnapshot`]).
    ///
    /// # Errors
    /// The temporary file could not be flushed or its handle duplicated.
    pub async fn snapshot(&mut self) -> std::io::Result<SpoolSnapshot> {
        let file = match &mut self.file {
            Some(file) => {
                file.flush().await?;
                Some(std::sync::Arc::new(file.try_clone().await?.into_std().await))
            }
            None => None,
        };
        let tail = Some(bytes::Bytes::copy_from_slice(&self.pending));
        Ok(SpoolSnapshot { file, remaining: self.len, at: 0, tail })
    }

    /// Starts reading the content back from the beginning.
    ///
    /// # Errors
    /// The temporary file could not be flushed or rewound.
    pub async fn reader(&mut self) -> std::io::Result<SpoolReader<'_>> {
        if let Some(file) = &mut self.file {
            file.flush().await?;
            file.seek(SeekFrom::Start(0)).await?;
        }
        let remaining = self.len;
        Ok(SpoolReader { spool: self, remaining, pending_done: false, chunk: Vec::new() })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.in_use.fetch_sub(self.reserved, Ordering::Relaxed);
        }
    }
}

fn storage_full(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::StorageFull, why)
}

/// Bytes an unprivileged writer may still use on `dir`'s file system.
fn free_space(dir: &Path) -> std::io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(st.blocks_available().saturating_mul(st.fragment_size()))
}

/// A reader of a spool's content that is independent of the spool: its own
/// file handle, positioned reads, and a copy of the in-memory tail. A
/// scanner can read the message again (a clamd replay) while the session
/// keeps the spool, and memory stays at one chunk whatever the message size.
#[derive(Debug)]
pub struct SpoolSnapshot {
    file: Option<std::sync::Arc<std::fs::File>>,
    /// Bytes of the file not read yet, from `at`.
    remaining: u64,
    at: u64,
    /// The in-memory part, after the file's content.
    tail: Option<bytes::Bytes>,
}

/// The chunk size of a [`SpoolSnapshot`].
const SNAPSHOT_CHUNK: usize = 64 * 1024;

impl SpoolSnapshot {
    /// The next chunk, or `None` at the end.
    ///
    /// # Errors
    /// Reading the temporary file failed.
    pub async fn next_chunk(&mut self) -> std::io::Result<Option<bytes::Bytes>> {
        if let (Some(file), true) = (&self.file, self.remaining > 0) {
            let n = SNAPSHOT_CHUNK.min(usize::try_from(self.remaining).unwrap_or(SNAPSHOT_CHUNK));
            let (file, at) = (file.clone(), self.at);
            let chunk = tokio::task::spawn_blocking(move || {
                use std::os::unix::fs::FileExt;
                let mut chunk = vec![0; n];
                file.read_exact_at(&mut chunk, at).map(|()| chunk)
            })
            .await
            .map_err(std::io::Error::other)??;
            self.at += n as u64;
            self.remaining -= n as u64;
            return Ok(Some(chunk.into()));
        }
        Ok(self.tail.take().filter(|t| !t.is_empty()))
    }
}

/// Reads a spool's content in order, one chunk at a time.
#[derive(Debug)]
pub struct SpoolReader<'a> {
    spool: &'a mut Spool,
    /// Bytes still to read from the file.
    remaining: u64,
    pending_done: bool,
    chunk: Vec<u8>,
}

impl SpoolReader<'_> {
    /// The next chunk, or `None` at the end.
    ///
    /// # Errors
    /// Reading the temporary file failed.
    pub async fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        if let (Some(file), true) = (&mut self.spool.file, self.remaining > 0) {
            let n = READ_CHUNK.min(usize::try_from(self.remaining).unwrap_or(READ_CHUNK));
            self.chunk.resize(n, 0);
            file.read_exact(&mut self.chunk).await?;
            self.remaining -= n as u64;
            return Ok(Some(&self.chunk));
        }
        if !self.pending_done && !self.spool.pending.is_empty() {
            self.pending_done = true;
            return Ok(Some(&self.spool.pending));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(spool: &mut Spool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut reader = spool.reader().await.unwrap();
        while let Some(chunk) = reader.next_chunk().await.unwrap() {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// The total is shared by every spool and given back when one is dropped.
    #[tokio::test]
    async fn spools_share_one_budget() {
        let budget = SpoolBudget { in_use: Arc::default(), max_total: 1000, min_free: 0 };
        let spool = || Spool::new(100, None).with_budget(budget.clone());
        let (mut a, mut b) = (spool(), spool());
        a.append(&[b'a'; 600]).await.unwrap();
        assert_eq!(b.append(&[b'b'; 600]).await.unwrap_err().kind(), std::io::ErrorKind::StorageFull);
        drop((a, b));
        assert_eq!(budget.in_use.load(Ordering::Relaxed), 0);
        let mut c = spool();
        c.append(&[b'c'; 600]).await.unwrap();
        assert_eq!(budget.in_use.load(Ordering::Relaxed), 600);
    }

    #[tokio::test]
    async fn small_message_stays_in_memory() {
        let mut s = Spool::new(1024, None);
        s.append(b"hello\r\n").await.unwrap();
        assert!(!s.is_on_disk());
        assert_eq!(read_all(&mut s).await, b"hello\r\n");
    }

    #[tokio::test]
    async fn large_message_spills_and_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(100, Some(dir.path().to_owned()));
        let mut expected = Vec::new();
        for i in 0..5000u32 {
            let line = format!("line {i}\r\n");
            expected.extend_from_slice(line.as_bytes());
            s.append(line.as_bytes()).await.unwrap();
        }
        assert!(s.is_on_disk());
        assert!(s.pending.len() <= 100);
        assert_eq!(s.len(), expected.len() as u64);
        // The file is unlinked: nothing is visible in the spool directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(read_all(&mut s).await, expected);
        assert_eq!(s.to_bytes(u64::MAX).await.unwrap().unwrap(), expected);
        // A snapshot reads the same bytes, whatever the spool's own reader did.
        let mut snapshot = s.snapshot().await.unwrap();
        let _ = s.reader().await.unwrap().next_chunk().await.unwrap();
        let mut again = Vec::new();
        while let Some(chunk) = snapshot.next_chunk().await.unwrap() {
            assert!(chunk.len() <= SNAPSHOT_CHUNK);
            again.extend_from_slice(&chunk);
        }
        assert_eq!(again, expected);
        assert_eq!(s.to_bytes(100).await.unwrap(), None);
    }
}
