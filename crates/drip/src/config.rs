//! Drip's configuration: built-in defaults, then `drip.toml`, then `DRIP_...` environment
//! variables, then whatever the caller merges on top (the binary's flags), layered by
//! [`figment`] and resolved into closed enums with one switch per port.
//!
//! Environment variables name a key by its path with `__` between levels, upper-cased:
//! `DRIP_DATABASE__KIND=postgres`, `DRIP_DATABASE__URL=...`, `DRIP_AUTH__JWT_SECRET=...`,
//! `DRIP_HTTP__COOKIES__SECURE=false`. A few names of the original deployment are honoured
//! too, below every layer that sets the key: `DATABASE_URL` (database URL), `PORT` (listen
//! port), `GOOGLE_STORAGE_CREDENTIALS` (base64 service-account JSON); so are the AWS SDKs'
//! `AWS_REGION` and `AWS_DEFAULT_REGION` (S3 region). Every key is listed
//! in `docs/configuration.md`; a test checks the list against [`Raw`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use drip_core::events::cluster::NodeName;
use drip_core::jobs::runner::JobSettings;
use figment::providers::{Env, Format as _, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file, an environment variable or a flag does not fit the schema (unknown key,
    /// wrong type, unreadable file), or the settings contradict each other; the source
    /// names the key and where it was set.
    #[error("invalid configuration")]
    Invalid(#[source] Box<figment::Error>),
}

/// Which metadata store to use.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    /// An SQLite file (the embedded default: `<data_dir>/drip.db`).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// Connection URL.
        url: SecretString,
        /// Connections in the pool.
        pool_size: u32,
    },
    /// In memory, lost on exit (tests and demos).
    Memory,
}

/// Google Cloud Storage credentials.
#[derive(Debug, Clone)]
pub enum GcsCredentials {
    /// A service-account JSON file.
    File(PathBuf),
    /// Base64-encoded service-account JSON (as the original's `GOOGLE_STORAGE_CREDENTIALS`).
    Base64(SecretString),
}

/// Where the S3 client's credentials come from.
#[derive(Debug, Clone)]
pub enum S3Credentials {
    /// The AWS environment's chain, as the AWS SDKs read it: `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`, a web identity (IAM roles for Kubernetes service accounts),
    /// the ECS/EKS container credentials, the EC2 instance metadata service.
    Environment,
    /// An access key from the configuration.
    Static {
        /// The access key id.
        access_key_id: String,
        /// The secret access key.
        secret_access_key: SecretString,
        /// The session token of temporary credentials.
        session_token: Option<SecretString>,
    },
}

/// Which object store to use.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// A directory on local disk (the embedded default: `<data_dir>/objects`).
    Local {
        /// The root directory.
        path: PathBuf,
    },
    /// A Google Cloud Storage bucket.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket.
        prefix: Option<String>,
        /// Service-account credentials.
        credentials: GcsCredentials,
        /// Endpoint override (an emulator or test double).
        base_url: Option<String>,
    },
    /// An Amazon S3 bucket, or one of an S3-compatible store (MinIO, Ceph, R2, Garage,
    /// SeaweedFS); the startup banner shows it as `s3 bucket <bucket>`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// The bucket's region.
        region: String,
        /// The URL of an S3-compatible store (AWS when absent).
        endpoint: Option<String>,
        /// Key prefix inside the bucket.
        prefix: Option<String>,
        /// Where the credentials come from.
        credentials: S3Credentials,
        /// Path-style requests (`<endpoint>/<bucket>/<key>`) rather than virtual-hosted ones.
        path_style: bool,
        /// Whether a plain `http://` endpoint is allowed.
        allow_http: bool,
    },
    /// In memory, lost on exit.
    Memory,
}

/// Multipart tuning of object uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadTuning {
    /// Bytes per multipart part.
    pub part_size: usize,
    /// Parts uploaded at once.
    pub concurrency: usize,
}

/// Where events and presence travel: within this process, or to every node on the
/// database (`[events]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventsKind {
    /// This process only (one node).
    Local,
    /// Every node on the PostgreSQL database (`LISTEN/NOTIFY` and the node registry).
    Postgres,
}

/// The events section, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Where events travel.
    pub kind: EventsKind,
    /// This node's name; `None`: `<hostname>-<pid>`.
    pub node: Option<NodeName>,
    /// How often the node beats and reads the registry.
    pub heartbeat: Duration,
    /// Beats a node may miss before the others drop it.
    pub missed_heartbeats: u32,
}

/// The HTTP layer's settings. The facade wires no HTTP itself (it does not depend on
/// drip-http); the binary maps these into drip-http's `HttpSettings`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest JSON (or form) request body, in bytes.
    pub max_json_bytes: usize,
    /// Timeout of non-transfer requests.
    pub request_timeout: Duration,
    /// Origins allowed by CORS (empty: CORS off).
    pub cors_origins: Vec<String>,
    /// Uploads and downloads one user may run at once (0: no per-user limit).
    pub max_transfers_per_user: usize,
    /// Uploads and downloads one client address may run at once (0: no per-address limit).
    pub max_transfers_per_ip: usize,
    /// How long a transfer may move no byte before it is cut (an upload receiving none, a
    /// response the client accepts none of); at most the upload lease.
    pub transfer_idle: Duration,
    /// How long a client may take to send a request's headers (also the longest idle
    /// time of a kept-alive connection between requests).
    pub header_read_timeout: Duration,
    /// The header naming the client's address, set by a trusted reverse proxy (its last
    /// hop is used); `None`: the connection's peer address.
    pub client_ip_header: Option<String>,
    /// Time allowed to each readiness check.
    pub ready_timeout: Duration,
    /// How often a WebSocket connection is pinged and its token checked again.
    pub ws_heartbeat: Duration,
    /// The `Retry-After` seconds sent with 429 and 503 answers.
    pub retry_after_secs: u64,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// The session cookies of the original's endpoints.
    pub cookies: CookieConfig,
}

/// The session cookies of the original's endpoints (`POST /api/sessions`), as written in
/// `[http.cookies]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CookieConfig {
    /// Name of the cookie carrying the access token.
    pub access_name: String,
    /// Name of the cookie carrying the refresh token.
    pub refresh_name: String,
    /// Whether the cookies are marked `Secure`; `None`: unless the server listens on a
    /// loopback address.
    pub secure: Option<bool>,
    /// The `Domain` attribute, if any (host-only cookies otherwise).
    pub domain: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where embedded data, generated secrets and the SQLite file live.
    pub data_dir: PathBuf,
    /// Address the server listens on.
    pub listen: SocketAddr,
    /// How long in-flight requests get to finish on shutdown.
    pub shutdown_grace: Duration,
    /// How long `/ready`'s write probe of the object store is trusted before it writes
    /// again (zero: every check writes).
    pub ready_probe: Duration,
    /// The metadata store.
    pub database: DatabaseConfig,
    /// The object store.
    pub storage: StorageConfig,
    /// Multipart tuning.
    pub upload: UploadTuning,
    /// JWT signing secret; generated into the data dir on first run when embedded.
    pub jwt_secret: Option<SecretString>,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// How long a session found open is trusted before it is checked again (a logout
    /// on another node ends its access tokens within this time).
    pub session_check: Duration,
    /// How long a download URL (ticket) opens its download.
    pub download_ticket_ttl: Duration,
    /// Failed logins an account may have before each further attempt waits.
    pub login_free_failures: u32,
    /// Failed logins and refresh-token guesses a client address may have before each
    /// further attempt waits.
    pub login_free_failures_per_client: u32,
    /// The longest wait imposed after failed logins.
    pub login_max_delay: Duration,
    /// How long after the last failure the count is forgotten.
    pub login_failure_window: Duration,
    /// Master keys as `(id, base64 key)`; generated on first run when embedded.
    pub master_keys: Vec<(String, SecretString)>,
    /// Id of the master key new data keys are wrapped with (default: the last one).
    pub current_master_key: Option<String>,
    /// Largest upload in bytes.
    pub max_upload_bytes: u64,
    /// Quota of users without one of their own, in bytes; `None`: no limit.
    pub default_quota_bytes: Option<u64>,
    /// Transfers running at once.
    pub max_concurrent_transfers: usize,
    /// How long a transfer waits for a slot before answering busy.
    pub transfer_wait: Duration,
    /// How long a pending upload holds its name without a renewal (its node renews it
    /// every third of this while the upload runs).
    pub upload_lease: Duration,
    /// How long a deleted file stays in its owner's trash before it is purged
    /// (`storage.trash_days`); `None` (0 days): there is no trash, deletes are permanent.
    pub trash_retention: Option<Duration>,
    /// Bytes of decrypted content cached.
    pub cache_max_bytes: u64,
    /// Largest file cached.
    pub cache_max_entry_bytes: u64,
    /// How background jobs are claimed and retried (`[jobs]`).
    pub jobs: JobSettings,
    /// How long a prepared folder archive lives after it was requested (`archives.ttl_secs`).
    pub archive_ttl: Duration,
    /// How long a resumable upload may take from its creation (`uploads.expiry_hours`).
    pub resumable_expiry: Duration,
    /// Bytes per stored part of a resumable upload (`uploads.part_mib`).
    pub resumable_part_bytes: u64,
    /// Where events and presence travel (`[events]`).
    pub events: EventsConfig,
    /// The HTTP layer's settings.
    pub http: HttpConfig,
}

/// `DRIP_` variables read by the binary itself (logging), not configuration keys.
const NOT_CONFIGURATION: [&str; 2] = ["LOG", "LOG_FORMAT"];

impl Config {
    /// Whether the configuration uses only embedded adapters (so first-run secrets may
    /// be generated).
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        !matches!(self.database, DatabaseConfig::Postgres { .. })
            && !matches!(self.storage, StorageConfig::Gcs { .. } | StorageConfig::S3 { .. })
    }

    /// The embedded defaults (SQLite + local disk) under `data_dir`, reading neither a
    /// file nor the environment.
    ///
    /// # Errors
    /// None in practice: every embedded setting has a default.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        Self::resolve(Raw { data_dir: data_dir.into(), ..Raw::default() }, OriginalNames::default())
    }

    /// The layers, lowest first: the defaults, `file` (when given; it must exist) and the
    /// `DRIP_` environment. Merge more on top (e.g. command-line flags, as
    /// `("server.listen", addr)`) and resolve with [`Config::from_figment`].
    #[must_use]
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Raw::default()));
        if let Some(path) = file {
            figment = figment.merge(Named {
                provider: Toml::file_exact(path),
                metadata: Metadata::from("TOML file", path)
                    .interpolater(|_: &Profile, keys: &[&str]| keys.join(".")),
            });
        }
        figment.merge(Named {
            // `DRIP_TEST_*` name what the test suites use (a test S3 server, the tus
            // clients), never configuration.
            provider: Env::prefixed("DRIP_")
                .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
                .split("__")
                .ignore(&NOT_CONFIGURATION),
            metadata: Metadata::named("environment").interpolater(|_: &Profile, keys: &[&str]| {
                format!("DRIP_{}", keys.join("__").to_ascii_uppercase())
            }),
        })
    }

    /// Resolves merged layers (see [`Config::figment`]), with the original deployment's
    /// variables as fallbacks.
    ///
    /// # Errors
    /// [`ConfigError`] naming the offending key.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        refuse_malformed_variables()?;
        let raw = figment.extract::<Raw>().map_err(|e| invalid(name_the_field(e)))?;
        let original = Figment::from(Named {
            provider: Env::raw().only(&OriginalNames::VARIABLES),
            metadata: Metadata::named("environment")
                .interpolater(|_: &Profile, keys: &[&str]| keys.join(".").to_ascii_uppercase()),
        })
        .extract::<OriginalNames>()
        .map_err(invalid)?;
        Self::resolve(raw, original)
    }

    /// Loads `file` (if given; it must exist) and the environment.
    ///
    /// # Errors
    /// [`ConfigError`] for unreadable files and invalid values.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(&Self::figment(file))
    }

    fn resolve(raw: Raw, original: OriginalNames) -> Result<Self, ConfigError> {
        let Raw {
            data_dir,
            server,
            database,
            storage,
            auth,
            keys,
            limits,
            jobs,
            archives,
            uploads,
            events,
            http,
        } = raw;
        let events = resolve_events(events, matches!(database, RawDatabase::Postgres { .. }))?;
        let listen = match (server.listen, original.port) {
            (Some(listen), _) => listen,
            (None, Some(port)) => SocketAddr::from(([0, 0, 0, 0], port)),
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 4000)),
        };
        let database = match database {
            RawDatabase::Sqlite { path } => {
                DatabaseConfig::Sqlite { path: path.unwrap_or_else(|| data_dir.join("drip.db")) }
            }
            RawDatabase::Postgres { url, pool_size } => DatabaseConfig::Postgres {
                url: url.or(original.database_url).ok_or_else(|| {
                    invalid_at(
                        "database.url",
                        "database.kind = \"postgres\" needs database.url (or DATABASE_URL)",
                    )
                })?,
                pool_size,
            },
            RawDatabase::Memory {} => DatabaseConfig::Memory,
        };
        let storage_config = match storage.backend {
            RawBackend::Local { path } => {
                StorageConfig::Local { path: path.unwrap_or_else(|| data_dir.join("objects")) }
            }
            RawBackend::Gcs { bucket, prefix, credentials_file, credentials_base64, base_url } => {
                let credentials = match (
                    credentials_file,
                    credentials_base64.or(original.google_storage_credentials),
                ) {
                    (Some(file), _) => GcsCredentials::File(file),
                    (None, Some(base64)) => GcsCredentials::Base64(base64),
                    (None, None) => {
                        return Err(invalid_at(
                            "storage.credentials_file",
                            "storage.kind = \"gcs\" needs storage.credentials_file or storage.credentials_base64 (or GOOGLE_STORAGE_CREDENTIALS)",
                        ));
                    }
                };
                StorageConfig::Gcs { bucket, prefix, credentials, base_url }
            }
            RawBackend::S3 {
                bucket,
                region,
                endpoint,
                prefix,
                access_key_id,
                secret_access_key,
                session_token,
                path_style,
                allow_http,
            } => StorageConfig::S3 {
                bucket: required("storage.bucket", bucket)?,
                region: required(
                    "storage.region",
                    region
                        .or(original.aws_region)
                        .or(original.aws_default_region)
                        .unwrap_or_else(|| DEFAULT_S3_REGION.to_owned()),
                )?,
                endpoint: endpoint.map(|url| s3_endpoint(url, allow_http)).transpose()?,
                prefix,
                credentials: s3_credentials(access_key_id, secret_access_key, session_token)?,
                path_style,
                allow_http,
            },
            RawBackend::Memory {} => StorageConfig::Memory,
        };
        let master_keys = match keys.master_keys {
            Some(list) => parse_master_keys(list.expose_secret())?,
            None => Vec::new(),
        };
        let upload_lease_secs = limits.upload_lease_secs.max(1);
        let transfer_idle_secs = transfer_idle_secs(http.transfer_idle_secs, upload_lease_secs)?;
        Ok(Self {
            data_dir,
            listen,
            shutdown_grace: Duration::from_secs(server.shutdown_grace_secs),
            ready_probe: Duration::from_secs(server.ready_probe_secs),
            database,
            storage: storage_config,
            upload: UploadTuning {
                part_size: storage.part_size_mib.clamp(5, 5 * 1024) * 1024 * 1024,
                concurrency: storage.upload_concurrency.clamp(1, 64),
            },
            jwt_secret: auth.jwt_secret,
            access_ttl: Duration::from_secs(auth.access_ttl_secs),
            refresh_ttl: Duration::from_secs(auth.refresh_ttl_secs),
            session_check: Duration::from_secs(auth.session_check_secs),
            download_ticket_ttl: Duration::from_secs(auth.download_ticket_secs.max(1)),
            login_free_failures: auth.login_free_failures,
            login_free_failures_per_client: auth.login_free_failures_per_client,
            login_max_delay: Duration::from_secs(auth.login_max_delay_secs.max(1)),
            login_failure_window: Duration::from_secs(auth.login_failure_window_secs.max(1)),
            master_keys,
            current_master_key: keys.current,
            max_upload_bytes: limits.max_upload_mib.saturating_mul(1024 * 1024),
            default_quota_bytes: (limits.default_quota_mib > 0)
                .then(|| limits.default_quota_mib.saturating_mul(1024 * 1024)),
            max_concurrent_transfers: limits.max_concurrent_transfers.max(1),
            transfer_wait: Duration::from_secs(limits.transfer_wait_secs),
            upload_lease: Duration::from_secs(upload_lease_secs),
            trash_retention: (storage.trash_days > 0)
                .then(|| Duration::from_secs(u64::from(storage.trash_days) * 24 * 3600)),
            cache_max_bytes: limits.cache_max_mib.saturating_mul(1024 * 1024),
            cache_max_entry_bytes: limits.cache_max_entry_kib.saturating_mul(1024),
            jobs: JobSettings {
                lease: Duration::from_secs(jobs.lease_secs.max(1)),
                poll_interval: Duration::from_secs(jobs.poll_secs.max(1)),
                max_attempts: jobs.max_attempts.max(1),
                backoff_base: Duration::from_millis(jobs.backoff_base_ms),
                backoff_cap: Duration::from_secs(jobs.backoff_cap_secs),
            },
            archive_ttl: Duration::from_secs(archives.ttl_secs.max(1)),
            resumable_expiry: Duration::from_secs(uploads.expiry_hours.max(1).saturating_mul(3600)),
            resumable_part_bytes: uploads.part_mib.max(1).saturating_mul(1024 * 1024),
            events,
            http: HttpConfig {
                max_json_bytes: limits.max_json_kib.saturating_mul(1024),
                request_timeout: Duration::from_secs(http.request_timeout_secs),
                cors_origins: http.cors_origins,
                max_transfers_per_user: limits.max_transfers_per_user,
                max_transfers_per_ip: limits.max_transfers_per_ip,
                transfer_idle: Duration::from_secs(transfer_idle_secs),
                header_read_timeout: Duration::from_secs(http.header_read_timeout_secs.max(1)),
                client_ip_header: http.client_ip_header.map(header_name).transpose()?,
                ready_timeout: Duration::from_secs(http.ready_timeout_secs),
                ws_heartbeat: Duration::from_secs(http.ws_heartbeat_secs),
                retry_after_secs: http.retry_after_secs,
                metrics_token: http.metrics_token,
                cookies: http.cookies,
            },
        })
    }
}

/// The events section: the kind follows the database unless set (PostgreSQL: every node;
/// otherwise this process), and `postgres` needs a PostgreSQL database.
fn resolve_events(events: RawEvents, on_postgres: bool) -> Result<EventsConfig, ConfigError> {
    let kind = match events.kind {
        Some(EventsKind::Postgres) if !on_postgres => {
            return Err(invalid_at(
                "events.kind",
                "events.kind = \"postgres\" needs database.kind = \"postgres\" (the nodes meet in that database)",
            ));
        }
        Some(kind) => kind,
        None if on_postgres => EventsKind::Postgres,
        None => EventsKind::Local,
    };
    let node = events
        .node
        .map(|name| {
            NodeName::parse(&name).map_err(|e| invalid_at("events.node", &format!("events.node: {e}")))
        })
        .transpose()?;
    Ok(EventsConfig {
        kind,
        node,
        heartbeat: Duration::from_millis(events.heartbeat_ms.max(10)),
        missed_heartbeats: events.missed_heartbeats.max(1),
    })
}

fn invalid(error: figment::Error) -> ConfigError {
    ConfigError::Invalid(Box::new(error))
}

fn invalid_at(key: &str, message: &str) -> ConfigError {
    invalid(figment::Error::from(message.to_owned()).with_path(key))
}

/// Serde reports an unknown or missing field of a tagged section (`database`, `storage`)
/// at the section; the key the operator wrote is the section plus the field.
fn name_the_field(error: figment::Error) -> figment::Error {
    let errors: Vec<figment::Error> = error
        .into_iter()
        .map(|mut e| {
            let field = match &e.kind {
                figment::error::Kind::UnknownField(field, _) => Some(field.clone()),
                figment::error::Kind::MissingField(field) => Some(field.to_string()),
                _ => None,
            };
            if let Some(field) = field
                && e.path.last() != Some(&field)
            {
                e.path.push(field);
            }
            e
        })
        .collect();
    // Rebuilt oldest first, so that the chain keeps its order.
    #[allow(clippy::expect_used)]
    errors
        .into_iter()
        .rev()
        .reduce(|older, newer| older.chain(newer))
        .expect("an error iterates over at least itself")
}

/// Figment skips a variable whose name has an empty level (`DRIP_A____B`, `DRIP_`); it is
/// a typo, so it is refused like an unknown key.
fn refuse_malformed_variables() -> Result<(), ConfigError> {
    for (name, _) in std::env::vars_os() {
        let Some(path) = name.to_str().and_then(|n| n.strip_prefix("DRIP_")) else { continue };
        if path.split("__").any(str::is_empty) {
            return Err(invalid_at(path, &format!("malformed variable name DRIP_{path}")));
        }
    }
    Ok(())
}

/// `value` unless it is empty (or only spaces), which is refused naming `key`.
fn required(key: &str, value: String) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        return Err(invalid_at(key, &format!("{key} must not be empty")));
    }
    Ok(value)
}

/// An S3 endpoint: an `http://` or `https://` URL, plain HTTP only when allowed.
fn s3_endpoint(url: String, allow_http: bool) -> Result<String, ConfigError> {
    if url.starts_with("https://") {
        return Ok(url);
    }
    if !url.starts_with("http://") {
        return Err(invalid_at("storage.endpoint", "storage.endpoint must be an http:// or https:// URL"));
    }
    if !allow_http {
        return Err(invalid_at(
            "storage.allow_http",
            "storage.endpoint is a plain http:// URL: set storage.allow_http = true to allow it",
        ));
    }
    Ok(url)
}

/// The S3 credentials: both keys (and maybe a session token), or none of them for the
/// AWS environment's chain.
fn s3_credentials(
    access_key_id: Option<String>,
    secret_access_key: Option<SecretString>,
    session_token: Option<SecretString>,
) -> Result<S3Credentials, ConfigError> {
    match (access_key_id, secret_access_key, session_token) {
        (Some(access_key_id), Some(secret_access_key), session_token) => {
            Ok(S3Credentials::Static { access_key_id, secret_access_key, session_token })
        }
        (None, None, None) => Ok(S3Credentials::Environment),
        (Some(_), None, _) => Err(invalid_at(
            "storage.secret_access_key",
            "storage.access_key_id needs storage.secret_access_key (or set neither to use the AWS environment's credentials)",
        )),
        (None, Some(_), _) => Err(invalid_at(
            "storage.access_key_id",
            "storage.secret_access_key needs storage.access_key_id (or set neither to use the AWS environment's credentials)",
        )),
        (None, None, Some(_)) => Err(invalid_at(
            "storage.session_token",
            "storage.session_token needs storage.access_key_id and storage.secret_access_key (the AWS environment's token is AWS_SESSION_TOKEN)",
        )),
    }
}

/// The idle timeout of transfers: as configured, but never longer than the upload lease
/// (a stalled upload is cut about when its lease stops being renewed); unset, 30 s or the
/// lease when that is shorter.
fn transfer_idle_secs(configured: Option<u64>, upload_lease_secs: u64) -> Result<u64, ConfigError> {
    match configured {
        None => Ok(DEFAULT_TRANSFER_IDLE_SECS.min(upload_lease_secs)),
        Some(idle) if idle > upload_lease_secs => Err(invalid_at(
            "http.transfer_idle_secs",
            &format!(
                "http.transfer_idle_secs ({idle}) must not exceed limits.upload_lease_secs \
                 ({upload_lease_secs}): a stalled upload would hold its slot after its lease ran out"
            ),
        )),
        Some(idle) => Ok(idle.max(1)),
    }
}

/// The idle timeout of transfers when `http.transfer_idle_secs` is not set.
const DEFAULT_TRANSFER_IDLE_SECS: u64 = 30;

/// A header name as HTTP allows it (a token: letters, digits and ``!#$%&'*+-.^_`|~``).
fn header_name(name: String) -> Result<String, ConfigError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(invalid_at("http.client_ip_header", "http.client_ip_header is not a header name"));
    }
    Ok(name)
}

/// Parses `id:base64key,id2:base64key`.
fn parse_master_keys(list: &str) -> Result<Vec<(String, SecretString)>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| invalid_at("keys.master_keys", "keys.master_keys entries are id:base64key"))?;
            if id.is_empty()
                || id.len() > 64
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid_at(
                    "keys.master_keys",
                    "a master key id has 1-64 letters, digits, '-' or '_'",
                ));
            }
            Ok((id.to_owned(), SecretString::from(key)))
        })
        .collect()
}

/// A provider under metadata of ours, so that errors name keys as the operator wrote
/// them: `http.metrics_tokn` in a file, `DRIP_HTTP__METRICS_TOKN` in the environment.
struct Named<P> {
    provider: P,
    metadata: Metadata,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.provider.data()
    }
}

/// The original deployment's variables, honoured below every layer that sets the key.
#[derive(Debug, Default, Deserialize)]
struct OriginalNames {
    port: Option<u16>,
    database_url: Option<SecretString>,
    google_storage_credentials: Option<SecretString>,
    /// The AWS SDKs' region variables (set for pods with an IAM role, e.g. IRSA).
    aws_region: Option<String>,
    aws_default_region: Option<String>,
}

impl OriginalNames {
    const VARIABLES: [&str; 5] =
        ["PORT", "DATABASE_URL", "GOOGLE_STORAGE_CREDENTIALS", "AWS_REGION", "AWS_DEFAULT_REGION"];
}

/// Secrets serialize as a placeholder: only the defaults layer (where they are absent) and
/// the key list of the documentation test serialize the raw configuration.
fn redacted<S: Serializer>(secret: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str("[REDACTED]"),
        None => serializer.serialize_none(),
    }
}

/// The configuration as written, every key with its default (`docs/configuration.md`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data_dir: PathBuf,
    server: RawServer,
    database: RawDatabase,
    storage: RawStorage,
    auth: RawAuth,
    keys: RawKeys,
    limits: RawLimits,
    jobs: RawJobs,
    archives: RawArchives,
    uploads: RawUploads,
    events: RawEvents,
    http: RawHttp,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".drip"),
            server: RawServer { listen: None, shutdown_grace_secs: 30, ready_probe_secs: 10 },
            database: RawDatabase::Sqlite { path: None },
            storage: RawStorage {
                backend: RawBackend::Local { path: None },
                part_size_mib: 8,
                upload_concurrency: 4,
                trash_days: 30,
            },
            auth: RawAuth {
                jwt_secret: None,
                access_ttl_secs: 15 * 60,
                refresh_ttl_secs: 30 * 24 * 3600,
                session_check_secs: 2,
                download_ticket_secs: 300,
                login_free_failures: 5,
                login_free_failures_per_client: 20,
                login_max_delay_secs: 900,
                login_failure_window_secs: 3600,
            },
            keys: RawKeys { master_keys: None, current: None },
            limits: RawLimits {
                max_upload_mib: 10 * 1024,
                default_quota_mib: 0,
                max_concurrent_transfers: 64,
                max_transfers_per_user: 4,
                max_transfers_per_ip: 16,
                transfer_wait_secs: 5,
                upload_lease_secs: 30,
                cache_max_mib: 64,
                cache_max_entry_kib: 1024,
                max_json_kib: 64,
            },
            jobs: RawJobs {
                lease_secs: 60,
                poll_secs: 5,
                max_attempts: 10,
                backoff_base_ms: 1000,
                backoff_cap_secs: 300,
            },
            archives: RawArchives { ttl_secs: 3600 },
            uploads: RawUploads { expiry_hours: 24, part_mib: 16 },
            events: RawEvents { kind: None, node: None, heartbeat_ms: 5000, missed_heartbeats: 3 },
            http: RawHttp {
                request_timeout_secs: 30,
                transfer_idle_secs: None,
                header_read_timeout_secs: 10,
                client_ip_header: None,
                cors_origins: Vec::new(),
                ready_timeout_secs: 5,
                ws_heartbeat_secs: 30,
                retry_after_secs: 1,
                metrics_token: None,
                cookies: CookieConfig {
                    access_name: "drip_session".to_owned(),
                    refresh_name: "drip_refresh".to_owned(),
                    secure: None,
                    domain: None,
                },
            },
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<SocketAddr>,
    shutdown_grace_secs: u64,
    ready_probe_secs: u64,
}

/// Fields of a variant are skipped when absent, so that the defaults layer (`kind =
/// "sqlite"`) leaves nothing behind that another kind would refuse.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum RawDatabase {
    Sqlite {
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
    Postgres {
        #[serde(serialize_with = "redacted", skip_serializing_if = "Option::is_none")]
        url: Option<SecretString>,
        #[serde(default = "default_pool_size")]
        pool_size: u32,
    },
    Memory {},
}

fn default_pool_size() -> u32 {
    10
}

/// `[storage]`: the backend's keys and the upload tuning every backend shares.
#[derive(Debug, Deserialize, Serialize)]
struct RawStorage {
    /// Refuses unknown keys (a struct with a flattened field cannot).
    #[serde(flatten)]
    backend: RawBackend,
    part_size_mib: usize,
    upload_concurrency: usize,
    trash_days: u32,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum RawBackend {
    Local {
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
    Gcs {
        bucket: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        credentials_file: Option<PathBuf>,
        #[serde(serialize_with = "redacted", skip_serializing_if = "Option::is_none")]
        credentials_base64: Option<SecretString>,
        #[serde(skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
    },
    S3 {
        bucket: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        access_key_id: Option<String>,
        #[serde(serialize_with = "redacted", skip_serializing_if = "Option::is_none")]
        secret_access_key: Option<SecretString>,
        #[serde(serialize_with = "redacted", skip_serializing_if = "Option::is_none")]
        session_token: Option<SecretString>,
        #[serde(default = "default_path_style")]
        path_style: bool,
        #[serde(default)]
        allow_http: bool,
    },
    Memory {},
}

/// The S3 region when neither `storage.region` nor the AWS environment names one.
const DEFAULT_S3_REGION: &str = "us-east-1";

/// Path-style requests: what S3-compatible stores expect (AWS takes them too).
fn default_path_style() -> bool {
    true
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(serialize_with = "redacted")]
    jwt_secret: Option<SecretString>,
    access_ttl_secs: u64,
    refresh_ttl_secs: u64,
    session_check_secs: u64,
    download_ticket_secs: u64,
    login_free_failures: u32,
    login_free_failures_per_client: u32,
    login_max_delay_secs: u64,
    login_failure_window_secs: u64,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    #[serde(serialize_with = "redacted")]
    master_keys: Option<SecretString>,
    current: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_upload_mib: u64,
    default_quota_mib: u64,
    max_concurrent_transfers: usize,
    max_transfers_per_user: usize,
    max_transfers_per_ip: usize,
    transfer_wait_secs: u64,
    upload_lease_secs: u64,
    cache_max_mib: u64,
    cache_max_entry_kib: u64,
    max_json_kib: usize,
}

/// `[jobs]`: the job runner's lease, poll and retry policy (see [`JobSettings`]).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawJobs {
    lease_secs: u64,
    poll_secs: u64,
    max_attempts: u32,
    backoff_base_ms: u64,
    backoff_cap_secs: u64,
}

/// `[archives]`: prepared folder archives.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawArchives {
    ttl_secs: u64,
}

/// `[uploads]`: resumable (tus) uploads.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawUploads {
    expiry_hours: u64,
    part_mib: u64,
}

/// `[events]`: where events and presence travel, this node's name, its beat.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    kind: Option<EventsKind>,
    node: Option<String>,
    heartbeat_ms: u64,
    missed_heartbeats: u32,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    request_timeout_secs: u64,
    transfer_idle_secs: Option<u64>,
    header_read_timeout_secs: u64,
    client_ip_header: Option<String>,
    cors_origins: Vec<String>,
    ready_timeout_secs: u64,
    ws_heartbeat_secs: u64,
    retry_after_secs: u64,
    #[serde(serialize_with = "redacted")]
    metrics_token: Option<SecretString>,
    cookies: CookieConfig,
}

#[cfg(test)]
mod tests;
