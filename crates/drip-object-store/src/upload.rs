//! Streaming `put`: one atomic put for content that fits in a part, otherwise object_store's
//! [`WriteMultipart`] with bounded concurrency over an upload that aborts itself when it is
//! dropped unfinished (input error, store error, or the `put` future being dropped).

use std::sync::Arc;

use bytes::Bytes;
use drip_core::storage::ports::ByteStream;
use futures::{StreamExt, stream};
use object_store::path::Path;
use object_store::{
    MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, PutResult, UploadPart, WriteMultipart,
};
use tokio::sync::watch;

use crate::marked::UploadIds;

/// Counts the multipart uploads begun and not yet ended (completed, failed or aborted,
/// also in the background after a dropped put), so that [`OpenUploads::settled`] can wait
/// for them. Clones share the count.
#[derive(Debug, Clone)]
pub(crate) struct OpenUploads(Arc<watch::Sender<usize>>);

impl Default for OpenUploads {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl OpenUploads {
    /// Counts one more open upload, until the returned guard is dropped.
    pub(crate) fn open(&self) -> OpenUpload {
        self.0.send_modify(|open| *open += 1);
        OpenUpload(Arc::clone(&self.0))
    }

    /// Waits until no upload is open.
    pub(crate) async fn settled(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`: the wait cannot fail.
        let _ = open.wait_for(|open| *open == 0).await;
    }
}

/// How a provider runs its multipart uploads: counted while open, and started through
/// [`UploadIds`] where the store needs their ids written down (GCS, S3).
#[derive(Debug, Clone, Default)]
pub(crate) struct Uploads {
    /// The uploads under way.
    pub(crate) open: OpenUploads,
    /// Where upload ids are written down, if the store needs it.
    pub(crate) ids: Option<UploadIds>,
}

/// One open upload of [`OpenUploads`]; dropping it ends it.
#[derive(Debug)]
pub(crate) struct OpenUpload(Arc<watch::Sender<usize>>);

impl Drop for OpenUpload {
    fn drop(&mut self) {
        self.0.send_modify(|open| *open -= 1);
    }
}

/// Why a streaming put failed.
#[derive(Debug)]
pub(crate) enum PutFailure {
    /// The content stream yielded an error.
    Input(std::io::Error),
    /// The store refused or failed (a panicked or cancelled part upload included).
    Store(object_store::Error),
}

impl From<object_store::Error> for PutFailure {
    fn from(err: object_store::Error) -> Self {
        Self::Store(err)
    }
}

/// Stores `content` at `path`; answers the number of bytes stored.
///
/// At most `concurrency` parts are in flight and one more is being filled, so a transfer holds
/// `concurrency + 1` parts at most, never the whole object. Every failure aborts the multipart
/// upload before it is answered; dropping the returned future aborts it in the background.
/// The upload counts in `uploads.open` until it has ended.
pub(crate) async fn put_stream(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    mut content: ByteStream,
    part_size: usize,
    concurrency: usize,
    uploads: &Uploads,
) -> Result<u64, PutFailure> {
    // Read until the content is known to need more than one part, or ends.
    let mut head = Vec::new();
    let mut head_len = 0;
    while head_len <= part_size {
        match content.next().await {
            Some(Ok(chunk)) => {
                head_len += chunk.len();
                head.push(chunk);
            }
            Some(Err(err)) => return Err(PutFailure::Input(err)),
            None => {
                store.put(path, head.into_iter().collect()).await?;
                return Ok(head_len as u64);
            }
        }
    }

    let upload = start_multipart(store, path, uploads.open.open(), uploads.ids.clone()).await?;
    tracing::info!(%path, "started a large upload in parts");
    let mut parts = WriteMultipart::new_with_chunk_size(Box::new(upload), part_size);
    let mut size = 0_u64;
    let mut chunks = stream::iter(head.into_iter().map(Ok)).chain(content);
    while let Some(chunk) = chunks.next().await {
        let written = match chunk {
            Ok(chunk) => {
                size += chunk.len() as u64;
                write_bounded(&mut parts, chunk, part_size, concurrency).await.map_err(PutFailure::Store)
            }
            Err(err) => Err(PutFailure::Input(err)),
        };
        if let Err(failure) = written {
            if let Err(err) = parts.abort().await {
                warn_abort_failed(&err);
            }
            return Err(failure);
        }
    }
    // `finish` aborts the upload itself when a part or the completion fails.
    parts.finish().await?;
    Ok(size)
}

/// Hands `chunk` to the upload in pieces of at most one part, each once fewer than
/// `concurrency` parts are in flight (a piece completes at most one part).
async fn write_bounded(
    parts: &mut WriteMultipart,
    mut chunk: Bytes,
    part_size: usize,
    concurrency: usize,
) -> object_store::Result<()> {
    while !chunk.is_empty() {
        let piece = chunk.split_to(chunk.len().min(part_size));
        parts.wait_for_capacity(concurrency).await?;
        parts.put(piece);
    }
    Ok(())
}

/// Starts a multipart upload, counted by `open` until it ends. The start runs in its own
/// task: if the caller is dropped while it runs, the task's unclaimed output, the started
/// upload, is dropped and so aborted.
async fn start_multipart(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    open: OpenUpload,
    ids: Option<UploadIds>,
) -> object_store::Result<AbortOnDrop> {
    let (store, path) = (Arc::clone(store), path.clone());
    let started = tokio::spawn(async move {
        let upload = match ids {
            Some(ids) => ids.start(&path).await?,
            None => store.put_multipart(&path).await?,
        };
        Ok(AbortOnDrop::new(upload, open))
    });
    started.await?
}

/// A multipart upload that aborts itself when dropped before it completed or was aborted
/// (the abort is spawned on the current runtime).
#[derive(Debug)]
struct AbortOnDrop {
    /// The upload, until it completed or was aborted.
    live: Option<Box<dyn MultipartUpload>>,
    /// Counts the upload as open until it has ended (its background abort included).
    open: Option<OpenUpload>,
}

impl AbortOnDrop {
    fn new(upload: Box<dyn MultipartUpload>, open: OpenUpload) -> Self {
        Self { live: Some(upload), open: Some(open) }
    }
}

#[async_trait::async_trait]
impl MultipartUpload for AbortOnDrop {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        match self.live.as_mut() {
            Some(upload) => upload.put_part(data),
            None => Box::pin(async { Err(already_finished()) }),
        }
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let upload = self.live.as_mut().ok_or_else(already_finished)?;
        let completed = upload.complete().await?;
        self.live = None;
        Ok(completed)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let upload = self.live.as_mut().ok_or_else(already_finished)?;
        // Forgotten only once the abort ran: dropped halfway, the upload is aborted again.
        let aborted = upload.abort().await;
        self.live = None;
        aborted
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some(mut upload) = self.live.take() else { return };
        let open = self.open.take();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = upload.abort().await {
                        warn_abort_failed(&err);
                    }
                    drop(open);
                });
            }
            Err(_) => tracing::warn!("multipart upload dropped outside a runtime; its parts stay behind"),
        }
    }
}

/// Logs a failed abort: the caller already has the error that made it abort, and stores
/// expire abandoned uploads (GCS lifecycle rules, S3's
/// `AbortIncompleteMultipartUpload`).
fn warn_abort_failed(err: &object_store::Error) {
    tracing::warn!(error = %err, "aborting a multipart upload failed; its parts may stay behind");
}

/// The error for an upload used after it completed or was aborted (`WriteMultipart` never
/// does so).
fn already_finished() -> object_store::Error {
    object_store::Error::Generic { store: "drip", source: "multipart upload already finished".into() }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, ObjectMeta, PutMultipartOptions, PutOptions,
    };

    use super::*;

    /// Records part uploads over `InMemory`: how many are in flight (each takes 5 ms of
    /// tokio's clock), the most at once, the size of each, and the aborts (5 ms each).
    #[derive(Debug, Default)]
    struct Recording {
        inner: InMemory,
        log: Arc<Log>,
    }

    #[derive(Debug, Default)]
    struct Log {
        in_flight: AtomicUsize,
        most: AtomicUsize,
        part_sizes: Mutex<Vec<usize>>,
        aborts: AtomicUsize,
    }

    impl std::fmt::Display for Recording {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Recording")
        }
    }

    #[derive(Debug)]
    struct RecordingUpload {
        inner: Box<dyn MultipartUpload>,
        log: Arc<Log>,
    }

    #[async_trait]
    impl MultipartUpload for RecordingUpload {
        fn put_part(&mut self, data: PutPayload) -> UploadPart {
            self.log.part_sizes.lock().unwrap().push(data.content_length());
            let upload = self.inner.put_part(data);
            let log = Arc::clone(&self.log);
            Box::pin(async move {
                let now = log.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                log.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                let done = upload.await;
                log.in_flight.fetch_sub(1, Ordering::SeqCst);
                done
            })
        }

        async fn complete(&mut self) -> object_store::Result<PutResult> {
            self.inner.complete().await
        }

        /// Takes 5 ms of tokio's clock, as a store's round trip would.
        async fn abort(&mut self) -> object_store::Result<()> {
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.log.aborts.fetch_add(1, Ordering::SeqCst);
            self.inner.abort().await
        }
    }

    #[async_trait]
    impl ObjectStore for Recording {
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
            Ok(Box::new(RecordingUpload {
                inner: self.inner.put_multipart_opts(location, opts).await?,
                log: Arc::clone(&self.log),
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

    fn recording() -> (Arc<Log>, Arc<dyn ObjectStore>) {
        let recording = Recording::default();
        (Arc::clone(&recording.log), Arc::new(recording))
    }

    fn chunked(data: &[u8], size: usize) -> ByteStream {
        let chunks: Vec<std::io::Result<Bytes>> =
            data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        stream::iter(chunks).boxed()
    }

    // The paused clock advances only when every task waits, so part uploads overlap exactly
    // as far as the concurrency bound lets them, whatever the machine's speed.
    #[tokio::test(start_paused = true)]
    async fn parts_go_up_with_bounded_concurrency_in_order() {
        let (log, store) = recording();
        let data: Vec<u8> = (0..100_003_u32).map(|i| (i % 253) as u8).collect();
        let path = Path::from("big");
        let written =
            put_stream(&store, &path, chunked(&data, 997), 1000, 3, &Uploads::default()).await.unwrap();
        assert_eq!(written, data.len() as u64);
        assert_eq!(log.part_sizes.lock().unwrap().len(), 101);
        assert_eq!(log.most.load(Ordering::SeqCst), 3, "at most 3 parts in flight, and 3 used");
        let stored = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert!(stored[..] == data[..]);
    }

    #[tokio::test(start_paused = true)]
    async fn chunks_larger_than_a_part_are_split_without_losing_bytes() {
        let (log, store) = recording();
        let data: Vec<u8> = (0..2_600_u32).map(|i| (i % 251) as u8).collect();
        let content = stream::iter([
            Ok(Bytes::copy_from_slice(&data[..2_500])),
            Ok(Bytes::new()),
            Ok(Bytes::copy_from_slice(&data[2_500..2_501])),
            Ok(Bytes::copy_from_slice(&data[2_501..])),
        ])
        .boxed();
        let path = Path::from("split");
        assert_eq!(put_stream(&store, &path, content, 1000, 1, &Uploads::default()).await.unwrap(), 2_600);
        assert_eq!(*log.part_sizes.lock().unwrap(), [1000, 1000, 600]);
        assert_eq!(log.most.load(Ordering::SeqCst), 1, "one part at a time");
        let stored = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert!(stored[..] == data[..]);
    }

    #[tokio::test(start_paused = true)]
    async fn content_of_one_part_is_one_put_and_a_failing_input_aborts() {
        let (log, store) = recording();
        let exact = vec![1_u8; 1000];
        assert_eq!(
            put_stream(&store, &Path::from("one"), chunked(&exact, 300), 1000, 2, &Uploads::default())
                .await
                .unwrap(),
            1000
        );
        assert!(log.part_sizes.lock().unwrap().is_empty(), "no multipart upload");

        let failing = chunked(&[2_u8; 2500], 700)
            .chain(stream::iter([Err(std::io::Error::other("client went away"))]))
            .boxed();
        let result = put_stream(&store, &Path::from("two"), failing, 1000, 2, &Uploads::default()).await;
        assert!(matches!(result, Err(PutFailure::Input(_))), "{result:?}");
        assert_eq!(log.aborts.load(Ordering::SeqCst), 1, "aborted before answering");
        assert!(store.head(&Path::from("two")).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_upload_aborts_itself_and_a_finished_one_does_not() {
        let (log, store) = recording();
        let open = OpenUploads::default();
        let started = start_multipart(&store, &Path::from("dropped"), open.open(), None).await.unwrap();
        drop(started);
        open.settled().await;
        assert_eq!(log.aborts.load(Ordering::SeqCst), 1, "settled once the background abort ran");

        let mut finished = start_multipart(&store, &Path::from("done"), open.open(), None).await.unwrap();
        finished.put_part(PutPayload::from_static(b"x")).await.unwrap();
        finished.complete().await.unwrap();
        assert!(finished.live.is_none(), "a completed upload has nothing left to abort");
        assert_eq!(*open.0.borrow(), 1, "open until dropped");
        drop(finished);
        open.settled().await;
        assert_eq!(log.aborts.load(Ordering::SeqCst), 1);
        assert!(store.head(&Path::from("done")).await.is_ok());
    }
}
