//! Amazon S3 (and S3-compatible stores: MinIO, Ceph, R2, Garage, SeaweedFS) configuration:
//! bucket, region, endpoint, prefix, credentials (static keys or the AWS environment's
//! chain), request style and plain-HTTP permission, retry settings.

use std::fmt;
use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};

use crate::provider::ConfigError;
use crate::retry::RetrySettings;

/// Smallest part S3 accepts for every part but the last of a multipart upload.
pub(crate) const S3_MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Where the requests' credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum S3Credentials {
    /// The AWS environment, as the AWS SDKs read it (object_store's
    /// `AmazonS3Builder::from_env`): `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN`, else a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` +
    /// `AWS_ROLE_ARN`: IAM roles for Kubernetes service accounts), else the ECS or EKS
    /// container credentials, else the EC2 instance metadata service. Other `AWS_*` settings
    /// of object_store (server-side encryption, proxy, ...) are read too; the settings of
    /// [`S3Config`] win over them.
    Environment,
    /// An access key (nothing is read from the environment).
    Static {
        /// The access key id.
        access_key_id: String,
        /// The secret access key (never printed by `Debug`).
        secret_access_key: String,
        /// A session token of temporary credentials (never printed by `Debug`).
        session_token: Option<String>,
    },
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => f.write_str("Environment"),
            Self::Static { access_key_id, session_token, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .field("session_token", &session_token.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

/// Everything needed to reach an S3 bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Config {
    /// The bucket's name.
    pub bucket: String,
    /// The bucket's region (`us-east-1` unless set; S3-compatible stores mostly ignore it,
    /// but it is part of every signature).
    pub region: String,
    /// Where to send requests instead of AWS (`https://s3.<region>.amazonaws.com`): the URL
    /// of an S3-compatible store, e.g. `http://127.0.0.1:9000`. With virtual-hosted requests
    /// (`path_style` off) it must already name the bucket (`https://<bucket>.<host>`).
    pub endpoint: Option<String>,
    /// Objects live under `<prefix>/<storage key>` (no prefix: at the bucket's root).
    pub prefix: Option<String>,
    /// Where credentials come from.
    pub credentials: S3Credentials,
    /// Path-style requests (`<endpoint>/<bucket>/<key>`, what most S3-compatible stores
    /// expect) instead of virtual-hosted ones (`<bucket>.<endpoint>/<key>`, what AWS
    /// recommends).
    pub path_style: bool,
    /// Whether plain `http://` endpoints are allowed (a local MinIO, a test server).
    pub allow_http: bool,
    /// Retries of transient failures.
    pub retry: RetrySettings,
}

impl S3Config {
    /// A configuration of `bucket` in `us-east-1` on AWS, path-style, HTTPS only, no
    /// prefix, default retries.
    #[must_use]
    pub fn new(bucket: impl Into<String>, credentials: S3Credentials) -> Self {
        Self {
            bucket: bucket.into(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            prefix: None,
            credentials,
            path_style: true,
            allow_http: false,
            retry: RetrySettings::default(),
        }
    }
}

/// Builds object_store's S3 client.
pub(crate) fn build(config: &S3Config) -> Result<Arc<AmazonS3>, ConfigError> {
    let mut builder = match &config.credentials {
        S3Credentials::Environment => AmazonS3Builder::from_env(),
        S3Credentials::Static { access_key_id, secret_access_key, session_token } => {
            let builder = AmazonS3Builder::new()
                .with_access_key_id(access_key_id)
                .with_secret_access_key(secret_access_key);
            match session_token {
                Some(token) => builder.with_token(token),
                None => builder,
            }
        }
    };
    builder = builder
        .with_bucket_name(&config.bucket)
        .with_region(&config.region)
        .with_virtual_hosted_style_request(!config.path_style)
        .with_allow_http(config.allow_http)
        .with_retry(config.retry.to_retry_config());
    if let Some(endpoint) = &config.endpoint {
        let endpoint = endpoint.trim_end_matches('/');
        // `AWS_ENDPOINT_URL_S3` would win over a plain endpoint: the configured one wins.
        builder = builder.with_endpoint(endpoint).with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
    }
    let store = builder.build().map_err(|err| ConfigError::Build(Box::new(err)))?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> S3Credentials {
        S3Credentials::Static {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
            session_token: Some("FwoGZXIvYXdzE".into()),
        }
    }

    #[test]
    fn debug_hides_the_secret_key_and_the_token() {
        let printed = format!("{:?}", S3Config::new("b", keys()));
        assert!(printed.contains("AKIDEXAMPLE"), "{printed}");
        assert!(!printed.contains("wJalrXUtnFEMI") && !printed.contains("FwoGZXIvYXdzE"), "{printed}");
    }

    #[test]
    fn builds_with_static_keys_and_an_endpoint() {
        let mut config = S3Config::new("bucket", keys());
        config.endpoint = Some("http://127.0.0.1:9000/".into());
        config.allow_http = true;
        assert!(build(&config).is_ok());
    }
}
