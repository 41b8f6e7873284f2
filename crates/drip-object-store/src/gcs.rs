//! Google Cloud Storage configuration: bucket, prefix, service-account credentials (file,
//! base64 environment variable or raw JSON), base URL override and retry settings.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use object_store::ClientOptions;
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};

use crate::provider::ConfigError;
use crate::retry::RetrySettings;

/// Where GCS's public endpoint is (object_store's default).
const PUBLIC_ENDPOINT: &str = "https://storage.googleapis.com";

/// Smallest part GCS accepts for every part but the last of an XML multipart upload.
pub(crate) const GCS_MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Where the service-account key comes from.
///
/// Each form holds a service-account JSON key as Google issues it. Two extra keys that
/// object_store reads from it are useful for emulators and test doubles: `gcs_base_url`
/// (where to send requests) and `disable_oauth` (send no OAuth token).
#[derive(Clone, PartialEq, Eq)]
pub enum GcsCredentials {
    /// A service-account JSON file.
    File(PathBuf),
    /// The name of an environment variable holding the service-account JSON encoded in
    /// base64 (how the original deployment passed it); read when the store is built.
    Base64Env(String),
    /// The service-account JSON itself (never printed by `Debug`).
    Json(String),
}

impl fmt::Debug for GcsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Base64Env(var) => f.debug_tuple("Base64Env").field(var).finish(),
            Self::Json(_) => f.write_str("Json(<redacted>)"),
        }
    }
}

/// Everything needed to reach a GCS bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct GcsConfig {
    /// The bucket's name.
    pub bucket: String,
    /// Objects live under `<prefix>/<storage key>` (no prefix: at the bucket's root).
    pub prefix: Option<String>,
    /// The service-account key.
    pub credentials: GcsCredentials,
    /// Where to send requests instead of the credentials' `gcs_base_url` or GCS's public
    /// endpoint (an emulator or test double, e.g. `http://127.0.0.1:4443`).
    pub base_url: Option<String>,
    /// Retries of transient failures.
    pub retry: RetrySettings,
    /// Time limit of one HTTP request (object_store's default, 30 s, when absent).
    pub request_timeout: Option<Duration>,
}

impl GcsConfig {
    /// A configuration with no prefix, no base URL override and default retries.
    #[must_use]
    pub fn new(bucket: impl Into<String>, credentials: GcsCredentials) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: None,
            credentials,
            base_url: None,
            retry: RetrySettings::default(),
            request_timeout: None,
        }
    }
}

/// The two keys of a service-account JSON that decide where requests go.
#[derive(serde::Deserialize)]
struct KeyEndpoint {
    #[serde(default)]
    gcs_base_url: Option<String>,
}

/// Builds object_store's GCS client; `env` reads environment variables.
pub(crate) fn build(
    config: &GcsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<GoogleCloudStorage>, ConfigError> {
    let key_json = credentials_json(&config.credentials, env)?;
    let endpoint: KeyEndpoint = serde_json::from_str(&key_json).map_err(ConfigError::InvalidCredentials)?;
    let base_url = config.base_url.clone().or(endpoint.gcs_base_url);
    let plain_http = base_url.as_deref().unwrap_or(PUBLIC_ENDPOINT).starts_with("http://");

    let mut options = ClientOptions::new().with_allow_http(plain_http);
    if let Some(timeout) = config.request_timeout {
        options = options.with_timeout(timeout);
    }
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_bucket_name(&config.bucket)
        .with_service_account_key(key_json)
        .with_retry(config.retry.to_retry_config())
        .with_client_options(options);
    if let Some(url) = &base_url {
        builder = builder.with_base_url(url.trim_end_matches('/'));
    }
    let store = builder.build().map_err(|err| ConfigError::Build(Box::new(err)))?;
    Ok(Arc::new(store))
}

/// The service-account JSON, from wherever the configuration says it is.
fn credentials_json(
    credentials: &GcsCredentials,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    match credentials {
        GcsCredentials::File(path) => std::fs::read_to_string(path)
            .map_err(|source| ConfigError::CredentialsFile { path: path.clone(), source }),
        GcsCredentials::Json(json) => Ok(json.clone()),
        GcsCredentials::Base64Env(var) => {
            let encoded = env(var).ok_or_else(|| ConfigError::MissingEnv(var.clone()))?;
            let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(&compact).ok())
                .ok_or_else(|| ConfigError::InvalidBase64(var.clone()))?;
            String::from_utf8(decoded).map_err(|_| ConfigError::InvalidBase64(var.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = r#"{"type":"service_account","client_email":"a@b","private_key":"k","private_key_id":"i","disable_oauth":true,"gcs_base_url":"http://127.0.0.1:1"}"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn base64_env_is_decoded() {
        let encoded = STANDARD.encode(KEY);
        let wrapped = format!("{}\n{}\n", &encoded[..10], &encoded[10..]);
        let env = move |name: &str| (name == "CREDS").then(|| wrapped.clone());
        let json = credentials_json(&GcsCredentials::Base64Env("CREDS".into()), &env).unwrap();
        assert_eq!(json, KEY);
        let unpadded = STANDARD_NO_PAD.encode(KEY);
        let env = move |_: &str| Some(unpadded.clone());
        assert_eq!(credentials_json(&GcsCredentials::Base64Env("X".into()), &env).unwrap(), KEY);
    }

    #[test]
    fn credential_errors_name_their_source() {
        let missing = credentials_json(&GcsCredentials::Base64Env("NOPE".into()), &no_env).unwrap_err();
        assert_eq!(missing.to_string(), "environment variable NOPE with the gcs credentials is not set");
        let env = |_: &str| Some("%%%".to_owned());
        let bad = credentials_json(&GcsCredentials::Base64Env("B".into()), &env).unwrap_err();
        assert_eq!(bad.to_string(), "environment variable B does not hold base64");
        let file = GcsCredentials::File("/nonexistent/key.json".into());
        assert!(matches!(credentials_json(&file, &no_env), Err(ConfigError::CredentialsFile { .. })));
        let config = GcsConfig::new("b", GcsCredentials::Json("not json".into()));
        assert!(matches!(build(&config, &no_env), Err(ConfigError::InvalidCredentials(_))));
    }

    #[test]
    fn debug_hides_raw_json() {
        let creds = GcsCredentials::Json(KEY.into());
        assert_eq!(format!("{creds:?}"), "Json(<redacted>)");
        assert!(!format!("{:?}", GcsConfig::new("b", creds)).contains("private_key"));
    }

    #[test]
    fn builds_with_emulator_key() {
        let config = GcsConfig::new("bucket", GcsCredentials::Json(KEY.into()));
        assert!(build(&config, &no_env).is_ok());
    }
}
