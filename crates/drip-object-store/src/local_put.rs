//! Uploads to local disk, written through a staging file that is flushed to disk while it
//! grows, so a large upload does not end with one long fsync of the whole object.
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
use object_store::local::LocalFileSystem;
use tokio::sync::mpsc;

use crate::upload::{OpenUpload, PutFailure};

/// Bytes written between two background flushes.
pub(crate) const FLUSH_STEP: u64 = 16 * 1024 * 1024;

/// Uploads past this size are logged when they pass it (a line per small file would be
/// noise).
const ANNOUNCE_BYTES: u64 = 1024 * 1024;

/// Chunks in flight between the pipeline and the writer thread (bounds memory).
const WRITE_QUEUE: usize = 4;

/// What the writer thread receives.
enum Write {
    /// Append these bytes.
    Chunk(Bytes),
    /// The content is complete: publish it.
    End,
}

/// Stores `content` at `path` of `fs`; answers the bytes stored. The object appears only
/// complete and synced; on any failure, or when the returned future is dropped, the
/// staging file is removed.
///
/// The upload counts as `open` until its writer thread has ended (after a dropped future
/// too, once it removed the staging file).
pub(crate) async fn put(
    fs: &LocalFileSystem,
    path: &object_store::path::Path,
    mut content: ByteStream,
    open: OpenUpload,
) -> Result<u64, PutFailure> {
    let dest = fs.path_to_filesystem(path)?;
    let (queue, chunks) = mpsc::channel(WRITE_QUEUE);
    let (created_tx, created) = tokio::sync::oneshot::channel();
    let writer = tokio::task::spawn_blocking(move || {
        let written = match Staging::create(&dest) {
            Ok((file, staging)) => {
                let _ = created_tx.send(Ok(()));
                write_staged(file, staging, &dest, chunks)
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
    let fed = loop {
        let message = match content.next().await {
            Some(Ok(chunk)) => Write::Chunk(chunk),
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
    written
        .map_err(store_error)?
        .ok_or_else(|| store_error(io::Error::other("the local upload ended before its content did")))
}

fn store_error(source: io::Error) -> PutFailure {
    PutFailure::Store(object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(source) })
}

/// The writer thread: appends what arrives to the staging file, flushing it every
/// [`FLUSH_STEP`] in the background; publishes it at `End`. Answers `None` when the queue
/// closed before `End` (the upload failed or was dropped).
fn write_staged(
    mut file: File,
    staging: Staging,
    dest: &Path,
    mut chunks: mpsc::Receiver<Write>,
) -> io::Result<Option<u64>> {
    let mut flusher = Flusher::default();
    let mut written = 0_u64;
    let mut flushed_at = 0_u64;
    loop {
        match chunks.blocking_recv() {
            Some(Write::Chunk(chunk)) => {
                let before = written;
                file.write_all(&chunk)?;
                written += chunk.len() as u64;
                if before <= ANNOUNCE_BYTES && written > ANNOUNCE_BYTES {
                    tracing::info!(file = %staging.path.display(), "started a large upload to a staging file");
                }
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
    staging.publish(dest)?;
    sync_parent(dest)?;
    Ok(Some(written))
}

/// A staging file, removed when dropped unless it was published.
struct Staging {
    path: PathBuf,
    published: bool,
}

impl Staging {
    /// Creates `<dest>#<n>` for the first `n` from 1 not in use, as `LocalFileSystem`
    /// does (and `dest`'s missing parent directories).
    fn create(dest: &Path) -> io::Result<(File, Self)> {
        let name =
            dest.file_name().and_then(|n| n.to_str()).ok_or_else(|| io::Error::other("no file name"))?;
        let mut created_parents = false;
        let mut suffix = 1_u32;
        loop {
            let path = dest.with_file_name(format!("{name}#{suffix}"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((file, Self { path, published: false })),
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

    /// Renames the staging file to `dest`.
    fn publish(mut self, dest: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, dest)?;
        self.published = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published
            && let Err(err) = std::fs::remove_file(&self.path)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, file = %self.path.display(), "cannot remove a failed upload's staging file");
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

/// A thread that `fdatasync`s the staging file on request, while the writer goes on.
/// Requests made while a sync runs merge into one more sync after it.
/// Dropped unfinished (a failed upload), the thread is left to end by itself after its
/// current sync.
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
