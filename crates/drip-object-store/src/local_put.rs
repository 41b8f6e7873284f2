//! Large uploads to local disk, written through a staging file that is flushed to disk
//! while it grows, so the upload does not end with one long fsync of the whole object.
//!
//! object_store's `LocalFileSystem` syncs a multipart upload only once it completes: a
//! 1 GiB upload then waits for the disk to take the whole GiB (issue 11 measured 35–46 % of
//! the upload there). Here a writer thread appends the content to a staging file named as
//! `LocalFileSystem` names its own (`<dest>#<n>`, so crash sweeps and
//! `remove_unfinished` find it) and, every [`FLUSH_STEP`] bytes, asks a flusher thread to
//! `fdatasync` what is written so far while it goes on writing. The disk works in parallel
//! with the pipeline; at the end only the last step is left to sync before the rename and
//! the directory sync that publish the object, durably, as `LocalFileSystem` does.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;

use bytes::Bytes;
use drip_core::storage::ports::ByteStream;
use futures::StreamExt as _;
use tokio::sync::mpsc;

use crate::upload::{OpenUpload, PutFailure};

/// Bytes written between two background flushes.
pub(crate) const FLUSH_STEP: u64 = 16 * 1024 * 1024;

/// Chunks in flight between the pipeline and the writer thread (bounds memory).
const WRITE_QUEUE: usize = 4;

/// What the writer thread receives.
enum Write {
    /// Append these bytes.
    Chunk(Bytes),
    /// The content is complete: publish it.
    End,
}

/// Stores `head` then the rest of `content` at `dest` (a file path inside the store's
/// root); answers the bytes stored. The object appears at `dest` only complete and synced;
/// on any failure, or when the returned future is dropped, the staging file is removed.
///
/// The upload counts as `open` until its writer thread has ended (after a dropped future
/// too, once it removed the staging file).
pub(crate) async fn put(
    dest: PathBuf,
    head: Vec<Bytes>,
    mut content: ByteStream,
    open: OpenUpload,
) -> Result<u64, PutFailure> {
    let (queue, chunks) = mpsc::channel(WRITE_QUEUE);
    let (created_tx, created) = tokio::sync::oneshot::channel();
    let writer = tokio::task::spawn_blocking(move || {
        let written = match create_staging(&dest) {
            Ok((file, staging)) => {
                tracing::info!(file = %staging.display(), "started a streamed upload");
                let _ = created_tx.send(Ok(()));
                write_staged(file, RemoveOnDrop(Some(staging)), &dest, chunks)
            }
            Err(err) => {
                let _ = created_tx.send(Err(err));
                Ok(None)
            }
        };
        drop(open);
        written
    });
    // The staging file exists before any content is taken: it is what a crash leaves.
    if let Ok(Err(err)) = created.await {
        return Err(store_error(err));
    }
    let mut size = 0_u64;
    let mut pending = head.into_iter();
    let fed = loop {
        let next = match pending.next() {
            Some(chunk) => Some(Ok(chunk)),
            None => content.next().await,
        };
        let message = match next {
            Some(Ok(chunk)) => {
                size += chunk.len() as u64;
                Write::Chunk(chunk)
            }
            Some(Err(err)) => break Err(PutFailure::Input(err)),
            None => Write::End,
        };
        let end = matches!(message, Write::End);
        // A closed queue means the writer failed: its own error is the answer.
        if queue.send(message).await.is_err() || end {
            break Ok(());
        }
    };
    // Without an `End`, the writer removes the staging file and stops.
    drop(queue);
    let written = writer.await.map_err(|e| store_error(io::Error::other(e)))?;
    fed?;
    match written.map_err(store_error)? {
        Some(_) => Ok(size),
        None => Err(store_error(io::Error::other("the local upload ended before its content did"))),
    }
}

fn store_error(source: io::Error) -> PutFailure {
    PutFailure::Store(object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(source) })
}

/// The writer thread: appends what arrives to the staging file, flushing it every
/// [`FLUSH_STEP`] in the background; publishes it at `End`. Answers `None` when the queue
/// closed before `End` (the upload failed or was dropped).
fn write_staged(
    mut file: File,
    staging: RemoveOnDrop,
    dest: &Path,
    mut chunks: mpsc::Receiver<Write>,
) -> io::Result<Option<u64>> {
    let mut flusher = Flusher::default();
    let mut written = 0_u64;
    let mut flushed_at = 0_u64;
    loop {
        match chunks.blocking_recv() {
            Some(Write::Chunk(chunk)) => {
                file.write_all(&chunk)?;
                written += chunk.len() as u64;
                if written - flushed_at >= FLUSH_STEP {
                    flusher.flush(&file)?;
                    flushed_at = written;
                }
            }
            Some(Write::End) => break,
            None => return Ok(None),
        }
    }
    flusher.finish()?;
    file.sync_all()?;
    drop(file);
    let path = staging.path()?;
    std::fs::rename(path, dest)?;
    staging.disarm();
    sync_parent(dest)?;
    Ok(Some(written))
}

/// Creates `<dest>#<n>` for the first `n` from 1 not in use, as `LocalFileSystem` does
/// (and `dest`'s missing parent directories).
fn create_staging(dest: &Path) -> io::Result<(File, PathBuf)> {
    let name = dest.file_name().and_then(|n| n.to_str()).ok_or_else(|| io::Error::other("no file name"))?;
    let mut created_parents = false;
    let mut suffix = 1_u32;
    loop {
        let staging = dest.with_file_name(format!("{name}#{suffix}"));
        match OpenOptions::new().write(true).create_new(true).open(&staging) {
            Ok(file) => return Ok((file, staging)),
            Err(err) if err.kind() == io::ErrorKind::NotFound && !created_parents => {
                let parent = dest.parent().ok_or(err)?;
                std::fs::create_dir_all(parent)?;
                created_parents = true;
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && suffix < 1_000 => suffix += 1,
            Err(err) => return Err(err),
        }
    }
}

/// Syncs the directory holding `path`, so that a rename into it is durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Removes the staging file unless the upload published it.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn path(&self) -> io::Result<&Path> {
        self.0.as_deref().ok_or_else(|| io::Error::other("staging file already gone"))
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(err) = std::fs::remove_file(&path)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, file = %path.display(), "cannot remove a failed upload's staging file");
        }
    }
}

/// A thread that `fdatasync`s the staging file on request, while the writer goes on.
/// Requests made while a sync runs merge into one more sync after it.
#[derive(Default)]
struct Flusher {
    running: Option<(std_mpsc::SyncSender<()>, std::thread::JoinHandle<io::Result<()>>)>,
}

impl Flusher {
    /// Asks for a sync of everything written to `file` so far (starting the thread at the
    /// first request).
    fn flush(&mut self, file: &File) -> io::Result<()> {
        if self.running.is_none() {
            let handle = file.try_clone()?;
            let (requests, received) = std_mpsc::sync_channel::<()>(1);
            let thread = std::thread::Builder::new().name("drip-flush".into()).spawn(move || {
                while received.recv().is_ok() {
                    handle.sync_data()?;
                }
                Ok(())
            })?;
            self.running = Some((requests, thread));
        }
        if let Some((requests, _)) = &self.running {
            // A full queue already holds a request that will see these bytes too.
            let _ = requests.try_send(());
        }
        Ok(())
    }

    /// Waits for the syncs asked for; the first error, if one failed.
    fn finish(&mut self) -> io::Result<()> {
        let Some((requests, thread)) = self.running.take() else { return Ok(()) };
        drop(requests);
        thread.join().map_err(|_| io::Error::other("the flusher thread panicked"))?
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Failed uploads do not wait for their syncs to finish; the thread ends by itself.
        self.running.take();
    }
}
