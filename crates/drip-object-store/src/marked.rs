//! Multipart uploads whose id is written down: GCS and S3 keep the parts of an unfinished
//! multipart upload until it is aborted by its id, which object_store's `put_multipart`
//! keeps to itself. A process that dies mid-upload would leave its parts behind for good,
//! so on GCS and S3 each upload is started through the lower-level [`MultipartStore`] API and its
//! id stored in a small marker object next to the object (`<object>.uploading`) until the
//! upload completes or is aborted. [`UploadIds::abort_left`] aborts the upload a marker
//! names: what `remove_unfinished` does for an upload whose process died.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    MultipartId, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, PutResult, UploadPart,
};

/// The multipart API of a store and where it writes the upload ids down.
#[derive(Clone)]
pub(crate) struct UploadIds {
    multipart: Arc<dyn MultipartStore>,
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for UploadIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadIds").finish_non_exhaustive()
    }
}

impl UploadIds {
    /// Upload ids of `store`, kept in `store` itself.
    pub(crate) fn new(multipart: Arc<dyn MultipartStore>, store: Arc<dyn ObjectStore>) -> Self {
        Self { multipart, store }
    }

    /// Where the id of an upload of `path` is written down.
    fn marker(path: &Path) -> Path {
        Path::from(format!("{path}.uploading"))
    }

    /// Starts a multipart upload of `path` and writes its id down.
    pub(crate) async fn start(&self, path: &Path) -> object_store::Result<Box<dyn MultipartUpload>> {
        let id = self.multipart.create_multipart(path).await?;
        if let Err(err) = self.store.put(&Self::marker(path), Bytes::from(id.clone()).into()).await {
            let _ = self.multipart.abort_multipart(path, &id).await;
            return Err(err);
        }
        Ok(Box::new(MarkedUpload {
            ids: self.clone(),
            path: path.clone(),
            id,
            parts: Arc::default(),
            next: 0,
        }))
    }

    /// Aborts the upload of `path` whose id is written down, if there is one (its process
    /// died), and forgets it; whether there was one.
    pub(crate) async fn abort_left(&self, path: &Path) -> object_store::Result<bool> {
        let marker = Self::marker(path);
        let id = match self.store.get(&marker).await {
            Ok(found) => found.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(err) => return Err(err),
        };
        let id: MultipartId = String::from_utf8_lossy(&id).into_owned();
        self.abort(path, &id).await?;
        Ok(true)
    }

    /// Aborts the upload `id` of `path` and forgets it. An upload already gone (aborted by
    /// someone else, expired by the bucket's lifecycle rules) counts as aborted.
    async fn abort(&self, path: &Path, id: &MultipartId) -> object_store::Result<()> {
        match self.multipart.abort_multipart(path, id).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
        self.forget(path).await
    }

    async fn forget(&self, path: &Path) -> object_store::Result<()> {
        match self.store.delete(&Self::marker(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// An upload started by [`UploadIds::start`]: parts go through the [`MultipartStore`] API in
/// the order they are handed over; completing or aborting it forgets its id.
#[derive(Debug)]
struct MarkedUpload {
    ids: UploadIds,
    path: Path,
    id: MultipartId,
    parts: Arc<Mutex<Vec<Option<PartId>>>>,
    next: usize,
}

#[async_trait::async_trait]
impl MultipartUpload for MarkedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let index = self.next;
        self.next += 1;
        let (multipart, path, id, parts) =
            (Arc::clone(&self.ids.multipart), self.path.clone(), self.id.clone(), Arc::clone(&self.parts));
        Box::pin(async move {
            let part = multipart.put_part(&path, &id, index, data).await?;
            let mut parts = parts.lock().unwrap_or_else(PoisonError::into_inner);
            if parts.len() <= index {
                parts.resize(index + 1, None);
            }
            parts[index] = Some(part);
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let parts: Option<Vec<PartId>> =
            self.parts.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect();
        let parts = parts.ok_or_else(|| object_store::Error::Generic {
            store: "drip",
            source: "a part of the upload did not finish".into(),
        })?;
        let done = self.ids.multipart.complete_multipart(&self.path, &self.id, parts).await?;
        if let Err(err) = self.ids.forget(&self.path).await {
            tracing::warn!(error = %err, path = %self.path, "could not forget a completed upload's id");
        }
        Ok(done)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.ids.abort(&self.path, &self.id).await
    }
}
