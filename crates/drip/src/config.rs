//! Drip's configuration: defaults, then `drip.toml`, then `DRIP_...` environment variables
//! (later wins), resolved into closed enums with one switch per port.
//!
//! Environment variables name a key by its path with `__` between levels, upper-cased:
//! `DRIP_DATABASE__KIND=postgres`, `DRIP_DATABASE__URL=...`, `DRIP_AUTH__JWT_SECRET=...`,
//! `DRIP_SERVER__LISTEN=0.0.0.0:4000`. A few names of the original deployment are honoured
//! too, below the `DRIP_` ones: `DATABASE_URL` (database URL), `PORT` (listen port),
//! `GOOGLE_STORAGE_CREDENTIALS` (base64 service-account JSON).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or an environment variable is not valid TOML for the schema.
    #[error("invalid configuration: {0}")]
    Invalid(String),
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

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where embedded data, generated secrets and the SQLite file live.
    pub data_dir: PathBuf,
    /// Address the server listens on.
    pub listen: SocketAddr,
    /// How long in-flight requests get to finish on shutdown.
    pub shutdown_grace: Duration,
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
    /// Master keys as `(id, base64 key)`; generated on first run when embedded.
    pub master_keys: Vec<(String, SecretString)>,
    /// Id of the master key new data keys are wrapped with (default: the last one).
    pub current_master_key: Option<String>,
    /// Largest upload in bytes.
    pub max_upload_bytes: u64,
    /// Transfers running at once.
    pub max_concurrent_transfers: usize,
    /// How long a transfer waits for a slot before answering busy.
    pub transfer_wait: Duration,
    /// Bytes of decrypted content cached.
    pub cache_max_bytes: u64,
    /// Largest file cached.
    pub cache_max_entry_bytes: u64,
    /// Largest JSON request body.
    pub max_json_bytes: usize,
    /// Timeout of non-transfer requests.
    pub request_timeout: Duration,
    /// Origins allowed by CORS (empty: CORS off).
    pub cors_origins: Vec<String>,
}

impl Config {
    /// Whether the configuration uses only embedded adapters (so first-run secrets may
    /// be generated).
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        !matches!(self.database, DatabaseConfig::Postgres { .. })
            && !matches!(self.storage, StorageConfig::Gcs { .. })
    }

    /// The embedded defaults (SQLite + local disk) under `data_dir`.
    ///
    /// # Errors
    /// None in practice: every embedded setting has a default.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        Self::resolve(Raw { data_dir: Some(data_dir.into()), ..Raw::default() }, &BTreeMap::new())
    }

    /// Loads `file` (if given and present) and the environment.
    ///
    /// # Errors
    /// [`ConfigError`] for unreadable files and invalid values.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut doc = match file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?
            }
            _ => toml::Table::new(),
        };
        apply_env(&mut doc, env)?;
        let raw: Raw = toml::Value::Table(doc)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        Self::resolve(raw, env)
    }

    fn resolve(raw: Raw, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let data_dir = raw.data_dir.unwrap_or_else(|| PathBuf::from(".drip"));
        let server = raw.server.unwrap_or_default();
        let port = env
            .get("PORT")
            .map(|p| p.parse::<u16>())
            .transpose()
            .map_err(|_| invalid("PORT must be a port number"))?;
        let listen = match (server.listen, port) {
            (Some(listen), _) => listen,
            (None, Some(port)) => SocketAddr::from(([0, 0, 0, 0], port)),
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 4000)),
        };
        let db = raw.database.unwrap_or_default();
        let database = match db.kind.as_deref().unwrap_or("sqlite") {
            "sqlite" => DatabaseConfig::Sqlite { path: db.path.unwrap_or_else(|| data_dir.join("drip.db")) },
            "postgres" => DatabaseConfig::Postgres {
                url: db
                    .url
                    .or_else(|| env.get("DATABASE_URL").map(|url| SecretString::from(url.as_str())))
                    .ok_or_else(|| {
                    invalid("database.kind = \"postgres\" needs database.url (or DATABASE_URL)")
                })?,
                pool_size: db.pool_size.unwrap_or(10),
            },
            "memory" => DatabaseConfig::Memory,
            other => {
                return Err(invalid(&format!("unknown database.kind {other:?} (sqlite, postgres, memory)")));
            }
        };
        let st = raw.storage.unwrap_or_default();
        let storage = match st.kind.as_deref().unwrap_or("local") {
            "local" => StorageConfig::Local { path: st.path.unwrap_or_else(|| data_dir.join("objects")) },
            "gcs" => {
                let credentials = match (st.credentials_file, st.credentials_base64) {
                    (Some(file), _) => GcsCredentials::File(file),
                    (None, Some(b64)) => GcsCredentials::Base64(b64),
                    (None, None) => env
                        .get("GOOGLE_STORAGE_CREDENTIALS")
                        .map(|v| GcsCredentials::Base64(SecretString::from(v.clone())))
                        .ok_or_else(|| {
                            invalid("storage.kind = \"gcs\" needs storage.credentials_file or storage.credentials_base64 (or GOOGLE_STORAGE_CREDENTIALS)")
                        })?,
                };
                StorageConfig::Gcs {
                    bucket: st
                        .bucket
                        .ok_or_else(|| invalid("storage.kind = \"gcs\" needs storage.bucket"))?,
                    prefix: st.prefix,
                    credentials,
                    base_url: st.base_url,
                }
            }
            "memory" => StorageConfig::Memory,
            other => return Err(invalid(&format!("unknown storage.kind {other:?} (local, gcs, memory)"))),
        };
        let upload = UploadTuning {
            part_size: st.part_size_mib.unwrap_or(8).clamp(5, 5 * 1024) as usize * 1024 * 1024,
            concurrency: st.upload_concurrency.unwrap_or(4).clamp(1, 64) as usize,
        };
        let auth = raw.auth.unwrap_or_default();
        let keys = raw.keys.unwrap_or_default();
        let master_keys = match keys.master_keys {
            Some(list) => parse_master_keys(list.expose_secret())?,
            None => Vec::new(),
        };
        let limits = raw.limits.unwrap_or_default();
        let http = raw.http.unwrap_or_default();
        Ok(Self {
            data_dir,
            listen,
            shutdown_grace: Duration::from_secs(server.shutdown_grace_secs.unwrap_or(30)),
            database,
            storage,
            upload,
            jwt_secret: auth.jwt_secret,
            access_ttl: Duration::from_secs(auth.access_ttl_secs.unwrap_or(15 * 60)),
            refresh_ttl: Duration::from_secs(auth.refresh_ttl_secs.unwrap_or(30 * 24 * 3600)),
            master_keys,
            current_master_key: keys.current,
            max_upload_bytes: limits.max_upload_mib.unwrap_or(10 * 1024) * 1024 * 1024,
            max_concurrent_transfers: limits.max_concurrent_transfers.unwrap_or(64).max(1) as usize,
            transfer_wait: Duration::from_secs(limits.transfer_wait_secs.unwrap_or(5)),
            cache_max_bytes: limits.cache_max_mib.unwrap_or(64) * 1024 * 1024,
            cache_max_entry_bytes: limits.cache_max_entry_kib.unwrap_or(1024) * 1024,
            max_json_bytes: limits.max_json_kib.unwrap_or(64) as usize * 1024,
            request_timeout: Duration::from_secs(http.request_timeout_secs.unwrap_or(30)),
            cors_origins: http.cors_origins.unwrap_or_default(),
        })
    }
}

fn invalid(msg: &str) -> ConfigError {
    ConfigError::Invalid(msg.to_owned())
}

/// Parses `id:base64key,id2:base64key`.
fn parse_master_keys(list: &str) -> Result<Vec<(String, SecretString)>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (id, key) =
                entry.split_once(':').ok_or_else(|| invalid("keys.master_keys entries are id:base64key"))?;
            if id.is_empty()
                || id.len() > 64
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid("a master key id has 1-64 letters, digits, '-' or '_'"));
            }
            Ok((id.to_owned(), SecretString::from(key)))
        })
        .collect()
}

/// `DRIP_` variables read by the binary itself (logging), not configuration keys.
const NOT_CONFIGURATION: [&str; 2] = ["DRIP_LOG", "DRIP_LOG_FORMAT"];

/// Sets `DRIP_A__B=value` into `doc[a][b]`, the value read as a TOML scalar when it is one
/// (numbers, booleans, arrays) and as a string otherwise.
fn apply_env(doc: &mut toml::Table, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for (name, value) in env {
        let Some(path) = name.strip_prefix("DRIP_") else { continue };
        if NOT_CONFIGURATION.contains(&name.as_str()) {
            continue;
        }
        let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        if keys.iter().any(String::is_empty) {
            return Err(invalid(&format!("malformed variable name {name}")));
        }
        let parsed = format!("v = {value}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v"));
        let value = match parsed {
            Some(
                v @ (toml::Value::Integer(_)
                | toml::Value::Boolean(_)
                | toml::Value::Array(_)
                | toml::Value::Float(_)),
            ) => v,
            _ => toml::Value::String(value.clone()),
        };
        let (last, parents) = keys.split_last().ok_or_else(|| invalid("empty variable name"))?;
        let mut table = &mut *doc;
        for key in parents {
            let entry = table.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table =
                entry.as_table_mut().ok_or_else(|| invalid(&format!("{name}: {key} is not a section")))?;
        }
        table.insert(last.clone(), value);
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data_dir: Option<PathBuf>,
    server: Option<RawServer>,
    database: Option<RawDatabase>,
    storage: Option<RawStorage>,
    auth: Option<RawAuth>,
    keys: Option<RawKeys>,
    limits: Option<RawLimits>,
    http: Option<RawHttp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<SocketAddr>,
    shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    kind: Option<String>,
    path: Option<PathBuf>,
    url: Option<SecretString>,
    pool_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    kind: Option<String>,
    path: Option<PathBuf>,
    bucket: Option<String>,
    prefix: Option<String>,
    credentials_file: Option<PathBuf>,
    credentials_base64: Option<SecretString>,
    base_url: Option<String>,
    part_size_mib: Option<u64>,
    upload_concurrency: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    jwt_secret: Option<SecretString>,
    access_ttl_secs: Option<u64>,
    refresh_ttl_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    master_keys: Option<SecretString>,
    current: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_upload_mib: Option<u64>,
    max_concurrent_transfers: Option<u64>,
    transfer_wait_secs: Option<u64>,
    cache_max_mib: Option<u64>,
    cache_max_entry_kib: Option<u64>,
    max_json_kib: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    request_timeout_secs: Option<u64>,
    cors_origins: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_are_embedded() {
        let c = Config::load(None, &env(&[])).unwrap();
        assert!(matches!(&c.database, DatabaseConfig::Sqlite { path } if path == Path::new(".drip/drip.db")));
        assert!(matches!(&c.storage, StorageConfig::Local { path } if path == Path::new(".drip/objects")));
        assert_eq!(c.listen, "127.0.0.1:4000".parse().unwrap());
        assert!(c.is_embedded());
        assert!(c.jwt_secret.is_none());
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("drip-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("drip.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/drip\"\n[database]\nkind = \"postgres\"\nurl = \"postgres://file\"\npool_size = 3\n[storage]\nkind = \"memory\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            &env(&[
                ("DRIP_DATABASE__URL", "postgres://env"),
                ("DRIP_LIMITS__MAX_UPLOAD_MIB", "5"),
                ("PORT", "8080"),
            ]),
        )
        .unwrap();
        assert!(matches!(
            &c.database,
            DatabaseConfig::Postgres { url, pool_size: 3 } if url.expose_secret() == "postgres://env"
        ));
        assert!(matches!(c.storage, StorageConfig::Memory));
        assert_eq!(c.max_upload_bytes, 5 * 1024 * 1024);
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert!(!c.is_embedded());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gcs_takes_the_original_credentials_variable() {
        let c = Config::load(
            None,
            &env(&[
                ("DRIP_STORAGE__KIND", "gcs"),
                ("DRIP_STORAGE__BUCKET", "drip"),
                ("GOOGLE_STORAGE_CREDENTIALS", "e30="),
            ]),
        )
        .unwrap();
        assert!(matches!(c.storage, StorageConfig::Gcs { credentials: GcsCredentials::Base64(_), .. }));
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for pairs in [
            vec![("DRIP_DATABASE__KIND", "mysql")],
            vec![("DRIP_DATABASE__KIND", "postgres")],
            vec![("DRIP_STORAGE__KIND", "gcs")],
            vec![("DRIP_NOPE", "1")],
            vec![("DRIP_SERVER__LISTEN", "not an address")],
            vec![("DRIP_KEYS__MASTER_KEYS", "no-colon")],
            vec![("PORT", "http")],
        ] {
            let err = Config::load(None, &env(&pairs)).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid(_)), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn logging_variables_are_not_configuration() {
        let c = Config::load(None, &env(&[("DRIP_LOG", "warn"), ("DRIP_LOG_FORMAT", "json")]));
        assert!(c.is_ok());
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::load(
            None,
            &env(&[("DRIP_AUTH__JWT_SECRET", "hunter2hunter2"), ("DRIP_KEYS__MASTER_KEYS", "k1:c2VjcmV0")]),
        )
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("c2VjcmV0"));
        assert_eq!(c.master_keys[0].0, "k1");
    }
}
