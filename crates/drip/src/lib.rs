//! Drip's facade: a [`Config`] in, wired services out. Other services embed Drip through
//! this crate; it is the only place that maps configuration to adapters (one exhaustive
//! `match` per port in [`Drip::build`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use drip::{Config, DatabaseConfig, Drip, StorageConfig};
//! use drip_core::accounts::model::RegisterRequest;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut config = Config::embedded(dir.path()).unwrap();
//! config.database = DatabaseConfig::Memory;
//! config.storage = StorageConfig::Memory;
//! let drip = Drip::build(&config).await.unwrap();
//! let session = drip
//!     .accounts
//!     .register(RegisterRequest::parse("alice", "alice@example.com", "correct horse").unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(session.owner.username.as_str(), "alice");
//! # });
//! ```

pub mod config;
pub mod secrets;

use std::sync::Arc;

use drip_core::accounts::ports::{AccountRepository, PasswordHasher};
use drip_core::accounts::{AccountPorts, AccountService, SessionSettings, ThrottleSettings};
use drip_core::archives::ports::ArchiveRepository;
use drip_core::archives::{ArchivePorts, ArchiveService, ArchiveSettings};
use drip_core::clock::SystemClock;
use drip_core::events::cluster::{
    ClusterNode, ClusterPorts, ClusterSettings, EventBus, NodeInfo, NodeName, NodeRegistry,
};
use drip_core::events::{Hub, Notifier};
use drip_core::jobs::ports::JobQueue;
use drip_core::jobs::runner::{JobPorts, JobRunner, JobWaker};
use drip_core::links::ports::LinkRepository;
use drip_core::links::{LinkPorts, LinkService, LinkSettings};
use drip_core::storage::model::StorageKey;
use drip_core::storage::ports::{MediaRepository, StorageProvider};
use drip_core::storage::{StoragePorts, StorageService, StorageSettings};
use drip_core::supervisor::{Backoff, Restarts, supervise};
use drip_core::uploads::ports::UploadRepository;
use drip_core::uploads::{UploadService, UploadSettings};
use drip_core::{BackendError, Ksuid, MediaId, UserId};
use tokio_util::sync::CancellationToken;

pub use config::{
    Config, ConfigError, CookieConfig, DatabaseConfig, EventsConfig, EventsKind, GcsCredentials, HttpConfig,
    S3Credentials, StorageConfig, UploadTuning,
};
pub use drip_core::jobs::runner::JobSettings;
pub use secrecy::{ExposeSecret, SecretString};
pub use secrets::{Secrets, SecretsError};

/// An adapter's own error, kept as the source of a [`BuildError`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why Drip could not be wired. Each variant says what Drip was doing and keeps the
/// adapter's error as its [`source`](std::error::Error::source), so a report that walks the
/// chain (`{e:#}` with anyhow) prints every cause once.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Secrets are missing or unreadable.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The database could not be opened or migrated.
    #[error("cannot open the {backend} metadata store")]
    Database {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The adapter's error.
        #[source]
        source: Cause,
    },
    /// The object store could not be configured.
    #[error("cannot set up the {backend} object store")]
    Storage {
        /// `local`, `gcs`, `s3` or `object` (settings every kind shares).
        backend: &'static str,
        /// The adapter's error.
        #[source]
        source: Cause,
    },
    /// The base64 GCS credentials do not decode to UTF-8 text.
    #[error("the GCS credentials are not base64 of UTF-8 JSON")]
    GcsCredentials(#[source] Cause),
    /// The JWT secret is refused.
    #[error("invalid JWT secret")]
    JwtSecret(#[source] drip_auth::InvalidJwtSecret),
    /// A master key is refused, or the current one is not among them.
    #[error("invalid master keys")]
    MasterKeys(#[source] Cause),
    /// No master key is configured or stored.
    #[error("no master key")]
    NoMasterKey,
    /// The password hasher could not be set up.
    #[error("cannot set up the password hasher")]
    Hasher(#[source] Cause),
    /// The configuration asks for an adapter compiled out of this build.
    #[error("this build has no {0} support (cargo feature {1} is off)")]
    NotCompiled(&'static str, &'static str),
    /// `events.kind = "postgres"` with a database that has no cluster ports.
    #[error("events.kind = \"postgres\" needs a PostgreSQL database")]
    EventsNeedPostgres,
    /// The data directory could not be created.
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    fn database(backend: &'static str, source: impl Into<Cause>) -> Self {
        Self::Database { backend, source: source.into() }
    }

    fn storage(backend: &'static str, source: impl Into<Cause>) -> Self {
        Self::Storage { backend, source: source.into() }
    }

    fn data_dir(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::DataDir { path: path.to_owned(), source }
    }
}

/// A part of Drip whose readiness can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The metadata store.
    Database,
    /// The object store.
    Storage,
    /// The listener of the other nodes' events (`events.kind = "postgres"` only).
    Events,
}

impl Component {
    /// Its name in readiness reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Storage => "storage",
            Self::Events => "events",
        }
    }
}

/// Which adapters were chosen, for the startup banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    /// e.g. `sqlite .drip/drip.db`.
    pub database: String,
    /// e.g. `local disk .drip/objects`.
    pub storage: String,
    /// Secrets files generated on this start.
    pub generated_secrets: Vec<std::path::PathBuf>,
}

/// The wired services.
#[derive(Clone)]
pub struct Drip {
    /// Accounts use cases.
    pub accounts: AccountService,
    /// Storage use cases.
    pub storage: StorageService,
    /// Public links and drop links.
    pub links: LinkService,
    /// Prepared folder archives.
    pub archives: ArchiveService,
    /// Resumable (tus) uploads.
    pub uploads: UploadService,
    /// The node's event hub: its connections subscribe to it.
    pub hub: Hub,
    /// This node: its name and host.
    pub node: NodeInfo,
    /// The node's part in the cluster (`events.kind = "postgres"`): it carries the
    /// services' events to every node and brings the others' presence into [`Drip::hub`].
    /// `None`: events stay in this process.
    pub cluster: Option<ClusterNode>,
    /// Runs the background jobs (object removals, archive builds and purges); the
    /// services wake it.
    pub jobs: Arc<JobRunner>,
    /// The durable job queue the runner works through (to list and retry jobs, and for
    /// metrics).
    pub queue: Arc<dyn JobQueue>,
    /// How often each background worker was restarted (see [`Drip::spawn_workers`]).
    pub restarts: Restarts,
    staging: Staging,
    /// What was chosen.
    pub wiring: Wiring,
    probe: Probe,
}

impl std::fmt::Debug for Drip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drip").field("wiring", &self.wiring).finish_non_exhaustive()
    }
}

/// Handles used by readiness checks.
#[derive(Clone)]
struct Probe {
    accounts: Arc<dyn AccountRepository>,
    storage: Arc<dyn StorageProvider>,
    /// The object this node writes and deletes to see that the store takes writes (its
    /// own: nodes sharing a bucket do not race on one key).
    key: StorageKey,
    /// How long a write probe's outcome is trusted.
    trusted_for: std::time::Duration,
    /// The last write probe: when, and how it went.
    last_write: Arc<tokio::sync::Mutex<Option<ProbeOutcome>>>,
}

/// When a write probe ran, and how it went (the reason when it failed).
type ProbeOutcome = (std::time::Instant, Result<(), String>);

impl Probe {
    /// Whether the store takes a write and a delete now (or did within `trusted_for`).
    async fn storage_writable(&self) -> Result<(), String> {
        let mut last = self.last_write.lock().await;
        if let Some((at, outcome)) = last.as_ref()
            && at.elapsed() < self.trusted_for
        {
            return outcome.clone();
        }
        let content: drip_core::storage::ports::ByteStream =
            Box::pin(futures::stream::once(async { Ok(bytes::Bytes::from_static(b"drip readiness probe")) }));
        let outcome = match self.storage.put(&self.key, content).await {
            Ok(_) => self.storage.delete(&self.key).await,
            Err(e) => Err(e),
        }
        .map_err(|e| format!("cannot write: {}", drip_core::error::report(&e)));
        *last = Some((std::time::Instant::now(), outcome.clone()));
        outcome
    }
}

/// Reclaims abandoned uploads (their nodes died mid-upload) at once and then every lease
/// period, until `stop` is cancelled.
async fn reclaim_abandoned_uploads(
    storage: StorageService,
    stop: CancellationToken,
) -> Result<(), BackendError> {
    let every = storage.settings().upload_lease;
    while !stop.is_cancelled() {
        storage.reclaim_abandoned().await?;
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(every) => {}
        }
    }
    Ok(())
}

/// Removes what uploads of a dead process left in the store (`None`: nothing can be left).
type Staging = Option<Arc<dyn Fn() -> usize + Send + Sync>>;

/// Repositories chosen by the configuration, and how to migrate them.
struct Repositories {
    accounts: Arc<dyn AccountRepository>,
    media: Arc<dyn MediaRepository>,
    links: Arc<dyn LinkRepository>,
    jobs: Arc<dyn JobQueue>,
    archives: Arc<dyn ArchiveRepository>,
    uploads: Arc<dyn UploadRepository>,
    /// The cluster ports on this database, where it has them (PostgreSQL).
    cluster: Option<(Arc<dyn EventBus>, Arc<dyn NodeRegistry>)>,
    label: String,
}

impl Drip {
    /// Opens (and migrates) the configured database and object store and wires the
    /// services. With embedded settings, creates the data directory and first-run secrets.
    ///
    /// # Errors
    /// [`BuildError`] naming the part that failed.
    pub async fn build(config: &Config) -> Result<Self, BuildError> {
        if config.is_embedded() {
            private_dir(&config.data_dir)?;
        }
        let secrets = secrets::provide(config)?;
        let repositories = open_database(&config.database).await?;
        let (storage, storage_label, staging) = open_storage(config)?;
        let tokens = drip_auth::JwtTokenIssuer::new(
            drip_auth::JwtSecret::new(secrets.jwt_secret.expose_secret().as_bytes().to_vec())
                .map_err(BuildError::JwtSecret)?,
        );
        let hasher = hasher().await?;
        let keys = key_wrapper(&secrets, config.current_master_key.as_deref())?;
        let hub = Hub::new();
        let clock = Arc::new(SystemClock);
        let hostname = hostname();
        let node = NodeInfo {
            name: config
                .events
                .node
                .clone()
                .unwrap_or_else(|| NodeName::derived(&hostname, std::process::id())),
            hostname,
        };
        let cluster = match (config.events.kind, repositories.cluster.clone()) {
            (EventsKind::Local, _) => None,
            (EventsKind::Postgres, Some((bus, registry))) => Some(ClusterNode::new(
                node.clone(),
                hub.clone(),
                ClusterPorts { bus, registry, clock: clock.clone() },
                ClusterSettings {
                    heartbeat: config.events.heartbeat,
                    missed_beats: config.events.missed_heartbeats,
                },
            )),
            (EventsKind::Postgres, None) => return Err(BuildError::EventsNeedPostgres),
        };
        let notifier: Arc<dyn Notifier> = match &cluster {
            Some(cluster) => Arc::new(cluster.clone()),
            None => Arc::new(hub.clone()),
        };
        let hasher: Arc<dyn PasswordHasher> = Arc::new(hasher);
        let throttle = ThrottleSettings {
            free_per_account: config.login_free_failures,
            free_per_client: config.login_free_failures_per_client,
            base_delay: chrono::Duration::seconds(1),
            max_delay: chrono_duration(config.login_max_delay),
            window: chrono_duration(config.login_failure_window),
        };
        let accounts = AccountService::new(
            AccountPorts {
                accounts: Arc::clone(&repositories.accounts),
                hasher: Arc::clone(&hasher),
                tokens: Arc::new(tokens),
                clock: clock.clone(),
            },
            SessionSettings {
                access_ttl: chrono_duration(config.access_ttl),
                refresh_ttl: chrono_duration(config.refresh_ttl),
                session_check: chrono_duration(config.session_check),
                throttle,
                ticket_ttl: chrono_duration(config.download_ticket_ttl),
            },
        );
        if let Some(cluster) = &cluster {
            cluster.carry_session_ends(accounts.clone());
        }
        let waker = JobWaker::default();
        let keys: Arc<dyn drip_core::storage::ports::KeyWrapper> = Arc::new(keys);
        let storage_service = StorageService::new(
            StoragePorts {
                media: Arc::clone(&repositories.media),
                accounts: Arc::clone(&repositories.accounts),
                storage: Arc::clone(&storage),
                keys: Arc::clone(&keys),
                notifier: Arc::clone(&notifier),
                clock: clock.clone(),
            },
            StorageSettings {
                max_upload_bytes: config.max_upload_bytes,
                default_quota: config.default_quota_bytes,
                max_concurrent_transfers: config.max_concurrent_transfers,
                transfer_wait: config.transfer_wait,
                upload_lease: config.upload_lease,
                lease_renewal: config.upload_lease / 3,
                trash_retention: config.trash_retention,
                cache_max_bytes: config.cache_max_bytes,
                cache_max_entry_bytes: config.cache_max_entry_bytes,
                ..StorageSettings::default()
            },
        )
        .with_job_waker(waker.clone());
        let archives = ArchiveService::new(
            ArchivePorts {
                archives: repositories.archives,
                objects: Arc::clone(&storage),
                keys,
                notifier: Arc::clone(&notifier),
                clock: clock.clone(),
            },
            storage_service.clone(),
            ArchiveSettings {
                ttl: config.archive_ttl,
                attempt_lease: config.jobs.lease,
                ..ArchiveSettings::default()
            },
        )
        .with_job_waker(waker.clone());
        let uploads = UploadService::new(
            repositories.uploads,
            storage_service.clone(),
            UploadSettings { expiry: config.resumable_expiry, part_bytes: config.resumable_part_bytes },
        );
        let jobs = JobRunner::new(
            JobPorts {
                queue: Arc::clone(&repositories.jobs),
                storage: Arc::clone(&storage),
                clock: clock.clone(),
            },
            config.jobs,
            waker,
        )
        .with_archives(archives.clone())
        .with_uploads(uploads.clone())
        .with_trash(storage_service.clone());
        let links = LinkService::new(
            LinkPorts {
                links: repositories.links,
                media: repositories.media,
                accounts: Arc::clone(&repositories.accounts),
                hasher,
                notifier,
                clock,
            },
            storage_service.clone(),
            LinkSettings { throttle, ..LinkSettings::default() },
        );
        Ok(Self {
            accounts,
            links,
            storage: storage_service,
            archives,
            uploads,
            hub,
            node,
            cluster,
            jobs: Arc::new(jobs),
            queue: repositories.jobs,
            restarts: Restarts::default(),
            staging,
            wiring: Wiring {
                database: repositories.label,
                storage: storage_label,
                generated_secrets: secrets.generated,
            },
            probe: Probe {
                accounts: repositories.accounts,
                storage,
                key: StorageKey::new(
                    MediaId::from_ksuid(Ksuid::generate(chrono::Utc::now())),
                    chrono::Utc::now(),
                    &probe_name(),
                ),
                trusted_for: config.ready_probe,
                last_write: Arc::default(),
            },
        })
    }

    /// The components `/ready` checks: the database, the object store, and the listener of
    /// the other nodes' events when there is one.
    #[must_use]
    pub fn components(&self) -> Vec<Component> {
        let mut components = vec![Component::Database, Component::Storage];
        if self.cluster.is_some() {
            components.push(Component::Events);
        }
        components
    }

    /// Starts the background workers — the job runner, the reclaimer of abandoned
    /// uploads and, in a cluster, the node's part in it — each under a supervisor that
    /// restarts it after a failure or a panic (counted in [`Drip::restarts`]). They run
    /// until `stop` is cancelled; the returned handle ends once they all have (a job under
    /// way is finished first).
    #[must_use]
    pub fn spawn_workers(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let jobs = {
            let (runner, stop) = (Arc::clone(&self.jobs), stop.clone());
            move || {
                let (runner, stop) = (Arc::clone(&runner), stop.clone());
                async move { runner.run(stop).await }
            }
        };
        let reclaimer = {
            let (storage, stop) = (self.storage.clone(), stop.clone());
            move || reclaim_abandoned_uploads(storage.clone(), stop.clone())
        };
        let cluster = self.cluster.clone().map(|cluster| {
            let stop = stop.clone();
            move || {
                let (cluster, stop) = (cluster.clone(), stop.clone());
                async move { cluster.run(stop).await }
            }
        });
        let restarts = self.restarts.clone();
        tokio::spawn(async move {
            let events = async {
                if let Some(cluster) = cluster {
                    supervise("events", stop.clone(), Backoff::default(), restarts.clone(), cluster).await;
                }
            };
            tokio::join!(
                supervise("jobs", stop.clone(), Backoff::default(), restarts.clone(), jobs),
                supervise("reclaimer", stop.clone(), Backoff::default(), restarts.clone(), reclaimer),
                events,
            );
        })
    }

    /// Removes the staging files of uploads that a previous process of this local store left
    /// when it died, answering how many; nothing for other stores. Call it once before
    /// serving: an upload under way would lose its staging file. (Abandoned uploads whose
    /// record is left are also reclaimed by the reclaimer, file by file.)
    #[must_use]
    pub fn remove_partial_uploads(&self) -> usize {
        self.staging.as_ref().map_or(0, |sweep| sweep())
    }

    /// Checks that a component answers with one cheap round trip through its port.
    ///
    /// # Errors
    /// The component's failure, as text for the readiness report.
    pub async fn check_ready(&self, component: Component) -> Result<(), String> {
        let zero = Ksuid::from_parts(chrono_epoch(), [0; 16]);
        match component {
            Component::Database => self
                .probe
                .accounts
                .find_owner(&UserId::from_ksuid(zero))
                .await
                .map(|_| ())
                .map_err(|e| drip_core::error::report(&e)),
            Component::Storage => self.probe.storage_writable().await,
            Component::Events => match &self.cluster {
                Some(cluster) if !cluster.is_listening() => {
                    Err("not listening to the other nodes' events (reconnecting)".to_owned())
                }
                _ => Ok(()),
            },
        }
    }
}

/// The host's name: the kernel's (Linux), else `HOSTNAME`, else `localhost`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn chrono_epoch() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::UNIX_EPOCH
}

fn probe_name() -> drip_core::storage::model::FileName {
    // A constant, valid name: parsing cannot fail.
    #[allow(clippy::expect_used)]
    drip_core::storage::model::FileName::parse("readiness-probe").expect("valid constant name")
}

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

async fn hasher() -> Result<drip_auth::Argon2PasswordHasher, BuildError> {
    // Computing the reference hash for dummy verification takes about one login's time.
    tokio::task::spawn_blocking(|| drip_auth::Argon2PasswordHasher::new(drip_auth::Argon2Cost::default()))
        .await
        .map_err(|e| BuildError::Hasher(e.into()))?
        .map_err(|e| BuildError::Hasher(e.into()))
}

fn key_wrapper(secrets: &Secrets, current: Option<&str>) -> Result<drip_auth::LocalKeyWrapper, BuildError> {
    let keys = secrets
        .master_keys
        .iter()
        .map(|(id, key)| drip_auth::MasterKey::from_base64(id, key.expose_secret()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BuildError::MasterKeys(e.into()))?;
    let current = match current {
        Some(id) => id.to_owned(),
        None => keys.last().map(|k| k.id().to_owned()).ok_or(BuildError::NoMasterKey)?,
    };
    drip_auth::LocalKeyWrapper::from_keys(keys, &current).map_err(|e| BuildError::MasterKeys(e.into()))
}

async fn open_database(config: &DatabaseConfig) -> Result<Repositories, BuildError> {
    match config {
        DatabaseConfig::Sqlite { path } => open_sqlite(path).await,
        DatabaseConfig::Postgres { url, pool_size } => open_postgres(url, *pool_size).await,
        DatabaseConfig::Memory => {
            let store = drip_memory::MemoryRepositories::new();
            Ok(Repositories {
                accounts: Arc::new(store.accounts()),
                media: Arc::new(store.media()),
                links: Arc::new(store.links()),
                jobs: Arc::new(store.jobs()),
                archives: Arc::new(store.archives()),
                uploads: Arc::new(store.uploads()),
                cluster: None,
                label: "memory (lost on exit)".into(),
            })
        }
    }
}

/// Creates the data directory if needed and makes it its owner's only (0700 on Unix), also
/// when an earlier version created it open to everyone: what it holds (the database,
/// objects, secrets) is nobody else's to read.
fn private_dir(dir: &std::path::Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir).map_err(BuildError::data_dir(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(BuildError::data_dir(dir))?;
    }
    Ok(())
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &std::path::Path) -> Result<Repositories, BuildError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(BuildError::data_dir(parent))?;
    }
    let location = path
        .to_str()
        .ok_or_else(|| BuildError::database("sqlite", format!("the path {} is not UTF-8", path.display())))?;
    let repos = drip_sqlite::open(location).await.map_err(|e| BuildError::database("sqlite", e))?;
    Ok(Repositories {
        accounts: Arc::new(repos.clone()),
        media: Arc::new(repos.clone()),
        links: Arc::new(repos.clone()),
        jobs: Arc::new(repos.clone()),
        archives: Arc::new(repos.clone()),
        uploads: Arc::new(repos),
        cluster: None,
        label: format!("sqlite {}", path.display()),
    })
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_path: &std::path::Path) -> Result<Repositories, BuildError> {
    Err(BuildError::NotCompiled("SQLite", "sqlite"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &SecretString, pool_size: u32) -> Result<Repositories, BuildError> {
    let repos = drip_postgres::connect(url.expose_secret(), pool_size)
        .await
        .map_err(|e| BuildError::database("postgres", e))?;
    repos.migrate().await.map_err(|e| BuildError::database("postgres", e))?;
    let bus: Arc<dyn EventBus> = Arc::new(drip_postgres::PgEventBus::new(repos.pool().clone()));
    let registry: Arc<dyn NodeRegistry> = Arc::new(drip_postgres::PgNodeRegistry::new(repos.pool().clone()));
    Ok(Repositories {
        accounts: Arc::new(repos.clone()),
        media: Arc::new(repos.clone()),
        links: Arc::new(repos.clone()),
        jobs: Arc::new(repos.clone()),
        archives: Arc::new(repos.clone()),
        uploads: Arc::new(repos),
        cluster: Some((bus, registry)),
        label: "postgres".into(),
    })
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &SecretString, _pool_size: u32) -> Result<Repositories, BuildError> {
    Err(BuildError::NotCompiled("PostgreSQL", "postgres"))
}

#[cfg(feature = "object-store")]
fn open_storage(config: &Config) -> Result<(Arc<dyn StorageProvider>, String, Staging), BuildError> {
    use base64::Engine as _;
    use drip_object_store::{GcsConfig, ObjectStoreProvider, S3Config, UploadSettings};
    let uploads =
        UploadSettings { part_size: config.upload.part_size, concurrency: config.upload.concurrency };
    let (provider, label) = match &config.storage {
        StorageConfig::Local { path } => (
            ObjectStoreProvider::local(path).map_err(|e| BuildError::storage("local", e))?,
            format!("local disk {}", path.display()),
        ),
        StorageConfig::Gcs { bucket, prefix, credentials, base_url } => {
            let credentials = match credentials {
                GcsCredentials::File(path) => drip_object_store::GcsCredentials::File(path.clone()),
                GcsCredentials::Base64(text) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(text.expose_secret().trim())
                        .map_err(|e| BuildError::GcsCredentials(e.into()))?;
                    let json = String::from_utf8(bytes).map_err(|e| BuildError::GcsCredentials(e.into()))?;
                    drip_object_store::GcsCredentials::Json(json)
                }
            };
            let mut gcs = GcsConfig::new(bucket.clone(), credentials);
            gcs.prefix = prefix.clone();
            gcs.base_url = base_url.clone();
            (
                ObjectStoreProvider::gcs(&gcs).map_err(|e| BuildError::storage("gcs", e))?,
                format!("gcs bucket {bucket}"),
            )
        }
        StorageConfig::S3 { bucket, region, endpoint, prefix, credentials, path_style, allow_http } => {
            let credentials = match credentials {
                S3Credentials::Environment => drip_object_store::S3Credentials::Environment,
                S3Credentials::Static { access_key_id, secret_access_key, session_token } => {
                    drip_object_store::S3Credentials::Static {
                        access_key_id: access_key_id.clone(),
                        secret_access_key: secret_access_key.expose_secret().to_owned(),
                        session_token: session_token.as_ref().map(|t| t.expose_secret().to_owned()),
                    }
                }
            };
            let mut s3 = S3Config::new(bucket.clone(), credentials);
            s3.region = region.clone();
            s3.endpoint = endpoint.clone();
            s3.prefix = prefix.clone();
            s3.path_style = *path_style;
            s3.allow_http = *allow_http;
            (
                ObjectStoreProvider::s3(&s3).map_err(|e| BuildError::storage("s3", e))?,
                format!("s3 bucket {bucket}"),
            )
        }
        StorageConfig::Memory => (ObjectStoreProvider::memory(), "memory (lost on exit)".to_owned()),
    };
    let provider = provider.with_uploads(uploads).map_err(|e| BuildError::storage("object", e))?;
    let sweeper = provider.clone();
    let staging: Staging = Some(Arc::new(move || sweeper.remove_staging_files()));
    Ok((Arc::new(provider), label, staging))
}

#[cfg(not(feature = "object-store"))]
fn open_storage(config: &Config) -> Result<(Arc<dyn StorageProvider>, String, Staging), BuildError> {
    match &config.storage {
        StorageConfig::Memory => {
            Ok((Arc::new(drip_memory::MemoryStorage::new()), "memory (lost on exit)".into(), None))
        }
        StorageConfig::Local { .. } | StorageConfig::Gcs { .. } | StorageConfig::S3 { .. } => {
            Err(BuildError::NotCompiled("local disk, GCS and S3", "object-store"))
        }
    }
}
