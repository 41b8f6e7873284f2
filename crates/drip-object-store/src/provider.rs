//! [`ObjectStoreProvider`]: the `StorageProvider` adapter over any of the supported
//! object_store backends, with its constructors and settings.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use drip_core::BackendError;
use drip_core::storage::model::StorageKey;
use drip_core::storage::ports::{ByteStream, StorageError, StorageProvider};
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult, GetResultPayload, ObjectStore, ObjectStoreExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::errors::{Op, StoreFailure, is_transient, map_store_error};
use crate::gcs::{self, GCS_MIN_PART_SIZE, GcsConfig};
use crate::keys::{self, KeyError, KeyStyle};
use crate::local;
use crate::local_put;
use crate::marked::UploadIds;
use crate::s3::{self, S3_MIN_PART_SIZE, S3Config};
use crate::upload::{self, PutFailure, Uploads};

/// Size of the chunks a local file is streamed in.
const FILE_CHUNK: usize = 64 * 1024;

/// Why a store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The local root directory cannot be created or resolved.
    #[error("cannot use {} as the storage directory", path.display())]
    Root {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// The object prefix is not a relative path of plain segments.
    #[error("invalid object prefix {0:?}")]
    InvalidPrefix(String),
    /// The multipart part size is below what the store accepts.
    #[error("part size {got} is below the minimum of {min} bytes for this store")]
    PartSize {
        /// The size asked for.
        got: usize,
        /// The smallest size the store accepts.
        min: usize,
    },
    /// Zero concurrent part uploads were asked for.
    #[error("upload concurrency must be at least 1")]
    Concurrency,
    /// The service-account file cannot be read.
    #[error("cannot read the gcs credentials file {}", path.display())]
    CredentialsFile {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// The environment variable that should hold the credentials is not set.
    #[error("environment variable {0} with the gcs credentials is not set")]
    MissingEnv(String),
    /// The environment variable does not hold base64 text of UTF-8.
    #[error("environment variable {0} does not hold base64")]
    InvalidBase64(String),
    /// The credentials are not a JSON object.
    #[error("gcs credentials are not a service-account json key")]
    InvalidCredentials(#[source] serde_json::Error),
    /// object_store refused the configuration.
    #[error("cannot build the object store client")]
    Build(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// How `put` uploads large content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadSettings {
    /// Size of one multipart part in bytes; content up to this size is written with a single
    /// put (GCS needs at least 5 MiB).
    pub part_size: usize,
    /// How many parts of one upload are in flight at once.
    pub concurrency: usize,
}

impl Default for UploadSettings {
    /// 8 MiB parts, 4 at a time.
    fn default() -> Self {
        Self { part_size: 8 * 1024 * 1024, concurrency: 4 }
    }
}

/// Which backend a provider talks to.
#[derive(Debug, Clone)]
enum Backend {
    Memory,
    Local { root: PathBuf, fs: Arc<LocalFileSystem> },
    Gcs { bucket: String },
    S3 { bucket: String },
}

impl Backend {
    /// Keys are names as is everywhere but on disk, where staging names must stay distinct.
    fn key_style(&self) -> KeyStyle {
        match self {
            Self::Local { .. } => KeyStyle::Escaped,
            Self::Memory | Self::Gcs { .. } | Self::S3 { .. } => KeyStyle::Verbatim,
        }
    }

    fn min_part_size(&self) -> usize {
        match self {
            Self::Gcs { .. } => GCS_MIN_PART_SIZE,
            Self::S3 { .. } => S3_MIN_PART_SIZE,
            Self::Memory | Self::Local { .. } => 1,
        }
    }

    /// object_store's `InMemory` deletes a missing object without complaint, and S3 answers
    /// a delete of a missing object with success.
    fn delete_reports_missing(&self) -> bool {
        !matches!(self, Self::Memory | Self::S3 { .. })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Local { root, .. } => write!(f, "local disk {}", root.display()),
            Self::Gcs { bucket } => write!(f, "gcs bucket {bucket}"),
            Self::S3 { bucket } => write!(f, "s3 bucket {bucket}"),
        }
    }
}

/// A [`StorageProvider`] over an object_store backend (GCS, S3, local disk or memory): objects are
/// named `<prefix>/<storage key>`, large ones uploaded in parts.
#[derive(Clone)]
pub struct ObjectStoreProvider {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
    label: String,
    prefix: Option<Path>,
    uploads: UploadSettings,
    multipart: Uploads,
}

impl fmt::Debug for ObjectStoreProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreProvider")
            .field("backend", &self.label)
            .field("prefix", &self.prefix())
            .field("uploads", &self.uploads)
            .finish()
    }
}

impl ObjectStoreProvider {
    fn new(store: Arc<dyn ObjectStore>, backend: Backend) -> Self {
        let label = backend.to_string();
        Self {
            store,
            backend,
            label,
            prefix: None,
            uploads: UploadSettings::default(),
            multipart: Uploads::default(),
        }
    }

    /// An empty store in memory.
    #[must_use]
    pub fn memory() -> Self {
        Self::new(Arc::new(InMemory::new()), Backend::Memory)
    }

    /// Files under `root` (created if missing). Writes stream into a staging file, flushed
    /// as it grows and renamed into place once complete and synced (the upload settings of
    /// [`with_uploads`](Self::with_uploads) do not apply); staging files left by a crash
    /// (older than a day) are deleted now.
    ///
    /// # Errors
    /// [`ConfigError::Root`] when the directory cannot be created or resolved.
    pub fn local(root: impl AsRef<std::path::Path>) -> Result<Self, ConfigError> {
        let (fs, root) = local::open(root.as_ref())?;
        Ok(Self::new(Arc::clone(&fs) as Arc<dyn ObjectStore>, Backend::Local { root, fs }))
    }

    /// A GCS bucket; a [`GcsCredentials::Base64Env`](crate::GcsCredentials::Base64Env)
    /// variable is read from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong with the configuration or credentials.
    pub fn gcs(config: &GcsConfig) -> Result<Self, ConfigError> {
        Self::gcs_with_env(config, |name| std::env::var(name).ok())
    }

    /// A GCS bucket, reading environment variables through `env` (for configuration loaders
    /// with their own environment, and tests).
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong with the configuration or credentials.
    pub fn gcs_with_env(
        config: &GcsConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let gcs = gcs::build(config, &env)?;
        Self::cloud(gcs, Backend::Gcs { bucket: config.bucket.clone() }, config.prefix.as_deref())
    }

    /// An S3 bucket, on AWS or an S3-compatible store. Like GCS, S3 keeps the parts of an
    /// unfinished multipart upload until it is aborted: each upload's id is written down
    /// while it runs, so that [`remove_unfinished`](StorageProvider::remove_unfinished) can
    /// abort what a process that died left.
    ///
    /// # Errors
    /// [`ConfigError::InvalidPrefix`] for a bad prefix; [`ConfigError::Build`] when
    /// object_store refuses the settings (e.g. an endpoint that is not a URL).
    pub fn s3(config: &S3Config) -> Result<Self, ConfigError> {
        let s3 = s3::build(config)?;
        Self::cloud(s3, Backend::S3 { bucket: config.bucket.clone() }, config.prefix.as_deref())
    }

    /// A bucket of a cloud store whose multipart uploads stay until aborted: their ids are
    /// written down in the bucket itself ([`UploadIds`]).
    fn cloud<S: ObjectStore + MultipartStore>(
        cloud: Arc<S>,
        backend: Backend,
        prefix: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let store: Arc<dyn ObjectStore> = cloud.clone();
        let mut provider = Self::new(Arc::clone(&store), backend);
        provider.multipart.ids = Some(UploadIds::new(cloud, store));
        match prefix {
            Some(prefix) => provider.with_prefix(prefix),
            None => Ok(provider),
        }
    }

    /// The same store with objects under `prefix` (e.g. `media` or `drip/prod`).
    ///
    /// # Errors
    /// [`ConfigError::InvalidPrefix`] for empty, `.` or `..` segments, or control characters.
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        self.prefix =
            keys::parse_prefix(prefix).map_err(|_| ConfigError::InvalidPrefix(prefix.to_owned()))?;
        Ok(self)
    }

    /// The same store with other upload settings.
    ///
    /// # Errors
    /// [`ConfigError::PartSize`] below the backend's minimum (5 MiB for GCS and S3, 1 byte
    /// otherwise); [`ConfigError::Concurrency`] for 0.
    pub fn with_uploads(mut self, uploads: UploadSettings) -> Result<Self, ConfigError> {
        let min = self.backend.min_part_size();
        if uploads.part_size < min {
            return Err(ConfigError::PartSize { got: uploads.part_size, min });
        }
        if uploads.concurrency == 0 {
            return Err(ConfigError::Concurrency);
        }
        self.uploads = uploads;
        Ok(self)
    }

    /// The object prefix, if any.
    #[must_use]
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_ref().map(AsRef::as_ref)
    }

    /// Removes every staging file a local store holds — what uploads of a process that
    /// died left — and answers how many. Only for a process about to serve the store, before
    /// any upload of its own started (two processes never serve one local store). Other
    /// backends have none: 0.
    #[must_use]
    pub fn remove_staging_files(&self) -> usize {
        match &self.backend {
            Backend::Local { root, .. } => local::sweep_staging_files(root, std::time::Duration::ZERO),
            Backend::Memory | Backend::Gcs { .. } | Backend::S3 { .. } => 0,
        }
    }

    /// The upload settings.
    #[must_use]
    pub fn uploads(&self) -> UploadSettings {
        self.uploads
    }

    /// The object_store client underneath (for administration and tests, e.g. listing).
    #[must_use]
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object_store path of a key (prefix included).
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for a key that is not one plain object name.
    pub fn object_path(&self, key: &StorageKey) -> Result<Path, StorageError> {
        keys::object_path(self.prefix.as_ref(), key.as_str(), self.backend.key_style())
            .map_err(|err: KeyError| StorageError::Invalid(err.to_string()))
    }

    fn map(&self, op: Op, key: &StorageKey, err: object_store::Error) -> StorageError {
        map_store_error(op, key.as_str(), &self.label, err)
    }

    /// Why a get failed, for a failure that may come from the range: a missing object is
    /// `NotFound`, a range starting at or past the end is `Invalid`, anything else keeps its
    /// own mapping. (Backends report bad ranges differently: a 416 answer, or an error of
    /// their own; asking for the size settles it.)
    async fn explain_get_failure(
        &self,
        key: &StorageKey,
        path: &Path,
        range: &Range<u64>,
        err: object_store::Error,
    ) -> StorageError {
        if matches!(err, object_store::Error::NotFound { .. }) {
            return StorageError::NotFound(key.to_string());
        }
        if is_transient(&err) {
            return self.map(Op::Get, key, err);
        }
        match self.store.head(path).await {
            Err(object_store::Error::NotFound { .. }) => StorageError::NotFound(key.to_string()),
            Ok(meta) if range.start >= meta.size => StorageError::Invalid(format!(
                "range {}..{} of {key} starts at or past its end ({} bytes)",
                range.start, range.end, meta.size
            )),
            _ => self.map(Op::Get, key, err),
        }
    }
}

/// The bytes of a get result as a stream of `io` results.
async fn into_byte_stream(result: GetResult) -> io::Result<ByteStream> {
    match result.payload {
        GetResultPayload::File(file, _) => {
            let mut file = tokio::fs::File::from_std(file);
            file.seek(io::SeekFrom::Start(result.range.start)).await?;
            let limited = file.take(result.range.end - result.range.start);
            Ok(tokio_util::io::ReaderStream::with_capacity(limited, FILE_CHUNK).boxed())
        }
        GetResultPayload::Stream(stream) => Ok(stream.map_err(StoreFailure::into_io).boxed()),
    }
}

#[async_trait]
impl StorageProvider for ObjectStoreProvider {
    async fn put(&self, key: &StorageKey, content: ByteStream) -> Result<u64, StorageError> {
        let path = self.object_path(key)?;
        let UploadSettings { part_size, concurrency } = self.uploads;
        let put = match &self.backend {
            // Streamed into a staging file that is flushed while it grows (no multipart).
            Backend::Local { fs, .. } => local_put::put(fs, &path, content, self.multipart.open.open()).await,
            Backend::Memory | Backend::Gcs { .. } | Backend::S3 { .. } => {
                upload::put_stream(&self.store, &path, content, part_size, concurrency, &self.multipart).await
            }
        };
        put.map_err(|failure| match failure {
            PutFailure::Input(err) => StorageError::Input(err),
            PutFailure::Store(err) => self.map(Op::Put, key, err),
        })
    }

    async fn get(&self, key: &StorageKey, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        let path = self.object_path(key)?;
        if let Some(range) = &range
            && range.start >= range.end
        {
            return Err(match self.size(key).await? {
                None => StorageError::NotFound(key.to_string()),
                Some(_) => {
                    StorageError::Invalid(format!("empty range {}..{} of {key}", range.start, range.end))
                }
            });
        }
        let options = GetOptions { range: range.clone().map(GetRange::Bounded), ..GetOptions::default() };
        let result = match (self.store.get_opts(&path, options).await, &range) {
            (Ok(result), _) => result,
            (Err(err), Some(range)) => return Err(self.explain_get_failure(key, &path, range, err).await),
            (Err(err), None) => return Err(self.map(Op::Get, key, err)),
        };
        into_byte_stream(result).await.map_err(|err| {
            StorageError::Other(drip_core::BackendError::new(
                format!("get {key} on {} failed", self.label),
                err,
            ))
        })
    }

    async fn size(&self, key: &StorageKey) -> Result<Option<u64>, StorageError> {
        let path = self.object_path(key)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(self.map(Op::Size, key, err)),
        }
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        let path = self.object_path(key)?;
        if !self.backend.delete_reports_missing() && self.size(key).await?.is_none() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        self.store.delete(&path).await.map_err(|err| self.map(Op::Delete, key, err))
    }

    /// On local disk, the upload's staging files; on GCS and S3, the multipart upload whose id
    /// the upload wrote down (its parts stay until it is aborted). Memory keeps nothing of a
    /// dropped put.
    async fn remove_unfinished(&self, key: &StorageKey) -> Result<(), StorageError> {
        if let Some(ids) = &self.multipart.ids {
            let path = self.object_path(key)?;
            if ids.abort_left(&path).await.map_err(|err| self.map(Op::Delete, key, err))? {
                tracing::info!(%key, "aborted the multipart upload of an abandoned upload");
            }
            return Ok(());
        }
        let Backend::Local { root, .. } = &self.backend else { return Ok(()) };
        let file = root.join(self.object_path(key)?.as_ref());
        let removed = tokio::task::spawn_blocking(move || local::remove_staging_files_of(&file))
            .await
            .map_err(|e| StorageError::Other(BackendError::new("removing staging files", e)))?
            .map_err(|e| {
                StorageError::Other(BackendError::new(format!("removing the staging files of {key}"), e))
            })?;
        if removed > 0 {
            tracing::info!(%key, removed, "removed the staging files of an abandoned upload");
        }
        Ok(())
    }

    async fn settled(&self) {
        self.multipart.open.settled().await;
    }
}
