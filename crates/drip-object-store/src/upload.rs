//! Streaming `put`: one atomic put for content that fits in a part, a multipart upload with
//! bounded concurrency otherwise, and an abort whenever the upload cannot complete (input
//! error, store error, or the future being dropped).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use drip_core::storage::ports::ByteStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// Why a streaming put failed.
#[derive(Debug)]
pub(crate) enum PutFailure {
    /// The content stream yielded an error.
    Input(std::io::Error),
    /// The store refused or failed.
    Store(object_store::Error),
    /// A task of the upload panicked or was cancelled by a shutting-down runtime.
    Task(tokio::task::JoinError),
}

impl From<object_store::Error> for PutFailure {
    fn from(err: object_store::Error) -> Self {
        Self::Store(err)
    }
}

/// Chunks read from the input and not yet handed to the store (kept as the input's own
/// `Bytes`, never copied).
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Pending {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Takes the first `size` bytes (or everything when fewer are pending).
    fn take(&mut self, size: usize) -> PutPayload {
        let mut missing = size.min(self.len);
        self.len -= missing;
        let mut taken = Vec::new();
        while missing > 0 {
            let Some(mut chunk) = self.chunks.pop_front() else { break };
            if chunk.len() > missing {
                taken.push(chunk.split_to(missing));
                self.chunks.push_front(chunk);
                break;
            }
            missing -= chunk.len();
            taken.push(chunk);
        }
        taken.into_iter().collect()
    }
}

/// Stores `content` at `path`; answers the number of bytes stored.
pub(crate) async fn put_stream(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    mut content: ByteStream,
    part_size: usize,
    concurrency: usize,
) -> Result<u64, PutFailure> {
    let mut pending = Pending::default();

    // Read until the content is known to need more than one part, or ends.
    while pending.len <= part_size {
        match content.next().await {
            Some(Ok(chunk)) => pending.push(chunk),
            Some(Err(err)) => return Err(PutFailure::Input(err)),
            None => {
                let size = pending.len as u64;
                store.put(path, pending.take(usize::MAX)).await?;
                return Ok(size);
            }
        }
    }

    let mut upload = Multipart::start(store, path).await?;
    let mut size = 0_u64;
    loop {
        while pending.len >= part_size {
            size += part_size as u64;
            upload.send_part(pending.take(part_size), concurrency).await?;
        }
        match content.next().await {
            Some(Ok(chunk)) => pending.push(chunk),
            Some(Err(err)) => {
                upload.abort().await;
                return Err(PutFailure::Input(err));
            }
            None => break,
        }
        upload.check_parts().await?;
    }
    if pending.len > 0 {
        size += pending.len as u64;
        upload.send_part(pending.take(usize::MAX), concurrency).await?;
    }
    upload.complete().await?;
    Ok(size)
}

/// A multipart upload in progress and its part uploads (each a spawned task, so parts go up
/// while the next one is read).
///
/// Dropped before [`Multipart::complete`] succeeded or [`Multipart::abort`] ran (the `put`
/// future was cancelled), it stops its part uploads and spawns the abort of the upload.
struct Multipart {
    upload: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
}

impl Multipart {
    /// Starts a multipart upload. The start runs in its own task: if the caller is dropped
    /// while it runs, the task aborts the upload it created instead of leaking it.
    async fn start(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<Self, PutFailure> {
        let (sender, receiver) = oneshot::channel();
        let (store, path) = (Arc::clone(store), path.clone());
        let starting = tokio::spawn(async move {
            let started = store.put_multipart(&path).await;
            if let Err(Ok(mut orphan)) = sender.send(started) {
                abort_quietly(orphan.as_mut()).await;
            }
        });
        match receiver.await {
            Ok(started) => Ok(Self { upload: Some(started?), parts: JoinSet::new() }),
            // The task ends without sending only when it panicked or was cancelled.
            Err(_) => match starting.await {
                Err(join_error) => Err(PutFailure::Task(join_error)),
                Ok(()) => Err(PutFailure::Store(task_vanished())),
            },
        }
    }

    /// Uploads `part` once fewer than `concurrency` parts are in flight.
    async fn send_part(&mut self, part: PutPayload, concurrency: usize) -> Result<(), PutFailure> {
        while self.parts.len() >= concurrency.max(1) {
            if let Some(done) = self.parts.join_next().await {
                self.settle(done).await?;
            }
        }
        let Some(upload) = self.upload.as_mut() else {
            return Err(PutFailure::Store(task_vanished()));
        };
        self.parts.spawn(upload.put_part(part));
        Ok(())
    }

    /// Fails fast when a part upload already failed.
    async fn check_parts(&mut self) -> Result<(), PutFailure> {
        while let Some(done) = self.parts.try_join_next() {
            self.settle(done).await?;
        }
        Ok(())
    }

    /// Waits for every part, then completes the upload (aborting it when completion fails).
    async fn complete(mut self) -> Result<(), PutFailure> {
        while let Some(done) = self.parts.join_next().await {
            self.settle(done).await?;
        }
        let Some(upload) = self.upload.as_mut() else {
            return Err(PutFailure::Store(task_vanished()));
        };
        match upload.complete().await {
            Ok(_) => {
                self.upload = None;
                Ok(())
            }
            Err(err) => {
                self.abort().await;
                Err(PutFailure::Store(err))
            }
        }
    }

    /// Stops the part uploads and aborts the multipart upload.
    async fn abort(&mut self) {
        self.parts.shutdown().await;
        if let Some(mut upload) = self.upload.take() {
            abort_quietly(upload.as_mut()).await;
        }
    }

    /// Turns a finished part upload into `Ok`, or aborts the upload and answers its error.
    async fn settle(
        &mut self,
        done: Result<object_store::Result<()>, tokio::task::JoinError>,
    ) -> Result<(), PutFailure> {
        let failure = match done {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(err)) => PutFailure::Store(err),
            Err(join_error) => PutFailure::Task(join_error),
        };
        self.abort().await;
        Err(failure)
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        let Some(mut upload) = self.upload.take() else { return };
        self.parts.abort_all();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { abort_quietly(upload.as_mut()).await });
            }
            Err(_) => tracing::warn!("multipart upload dropped outside a runtime; its parts stay behind"),
        }
    }
}

/// Aborts an upload, logging (not failing on) errors: the caller already has the error that
/// made it abort, and stores expire abandoned uploads (GCS lifecycle rules).
async fn abort_quietly(upload: &mut dyn MultipartUpload) {
    if let Err(err) = upload.abort().await {
        tracing::warn!(error = %err, "aborting a multipart upload failed; its parts may stay behind");
    }
}

/// The error for a state the code above never reaches (an upload used after it finished).
fn task_vanished() -> object_store::Error {
    object_store::Error::Generic { store: "drip", source: "multipart upload already finished".into() }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, ObjectMeta, PutMultipartOptions, PutOptions,
        PutResult, UploadPart,
    };

    use super::*;

    /// Counts part uploads in flight (each takes a few milliseconds) over `InMemory`.
    #[derive(Debug, Default)]
    struct Counting {
        inner: InMemory,
        in_flight: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        parts: Arc<AtomicUsize>,
    }

    impl std::fmt::Display for Counting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Counting")
        }
    }

    #[derive(Debug)]
    struct CountingUpload {
        inner: Box<dyn MultipartUpload>,
        in_flight: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        parts: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl MultipartUpload for CountingUpload {
        fn put_part(&mut self, data: PutPayload) -> UploadPart {
            let upload = self.inner.put_part(data);
            let (in_flight, most) = (Arc::clone(&self.in_flight), Arc::clone(&self.most));
            self.parts.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                let done = upload.await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                done
            })
        }

        async fn complete(&mut self) -> object_store::Result<PutResult> {
            self.inner.complete().await
        }

        async fn abort(&mut self) -> object_store::Result<()> {
            self.inner.abort().await
        }
    }

    #[async_trait]
    impl ObjectStore for Counting {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            Ok(Box::new(CountingUpload {
                inner: self.inner.put_multipart_opts(location, opts).await?,
                in_flight: Arc::clone(&self.in_flight),
                most: Arc::clone(&self.most),
                parts: Arc::clone(&self.parts),
            }))
        }

        async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
            self.inner.get_opts(location, options).await
        }

        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }

        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_go_up_with_bounded_concurrency_in_order() {
        let counting = Arc::new(Counting::default());
        let store: Arc<dyn ObjectStore> = counting.clone();
        let data: Vec<u8> = (0..100_003_u32).map(|i| (i % 253) as u8).collect();
        let chunks: Vec<std::io::Result<Bytes>> =
            data.chunks(997).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let path = Path::from("big");
        let written =
            put_stream(&store, &path, futures::stream::iter(chunks).boxed(), 1000, 3).await.unwrap();
        assert_eq!(written, data.len() as u64);
        assert_eq!(counting.parts.load(Ordering::SeqCst), 101);
        assert_eq!(counting.most.load(Ordering::SeqCst), 3, "at most 3 parts in flight, and 3 used");
        let stored = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert!(stored[..] == data[..]);
    }

    fn pending(chunks: &[&'static [u8]]) -> Pending {
        let mut pending = Pending::default();
        for chunk in chunks {
            pending.push(Bytes::from_static(chunk));
        }
        pending
    }

    fn flat(payload: PutPayload) -> Vec<u8> {
        payload.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn take_splits_chunks_without_losing_bytes() {
        let mut p = pending(&[b"abc", b"", b"defg", b"h"]);
        assert_eq!(p.len, 8);
        assert_eq!(flat(p.take(2)), b"ab");
        assert_eq!(flat(p.take(3)), b"cde");
        assert_eq!(p.len, 3);
        assert_eq!(flat(p.take(100)), b"fgh");
        assert_eq!(p.len, 0);
        assert!(p.chunks.is_empty());
        assert_eq!(flat(p.take(1)), b"");
    }

    #[test]
    fn take_on_exact_boundaries() {
        let mut p = pending(&[b"ab", b"cd"]);
        assert_eq!(flat(p.take(2)), b"ab");
        assert_eq!(p.chunks.len(), 1);
        assert_eq!(flat(p.take(2)), b"cd");
        assert_eq!(p.len, 0);
    }
}
