//! `Drip::build` failures keep the adapter's error as their source instead of flattening
//! it into the message, so a report walking the chain prints each cause once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::error::Error;

use drip::{BuildError, Config, DatabaseConfig, Drip, GcsCredentials, SecretString, StorageConfig};

/// The messages of `error` and its sources, outermost first.
fn chain(error: &(dyn Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(error), |e| (*e).source()).map(ToString::to_string).collect()
}

/// `error` has a source, and its own message does not repeat it.
fn assert_source_kept_once(error: &BuildError) {
    let messages = chain(error);
    assert!(messages.len() >= 2, "no source kept: {messages:?}");
    assert!(!messages[0].contains(&messages[1]), "the message repeats its source: {messages:?}");
}

async fn build_error(config: &Config) -> BuildError {
    Drip::build(config).await.expect_err("the build fails")
}

#[tokio::test]
async fn an_uncreatable_data_dir_keeps_the_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let err = build_error(&Config::embedded(file.join("data")).unwrap()).await;
    assert!(matches!(err, BuildError::DataDir { .. }), "{err:?}");
    assert!(err.to_string().contains("a-file"), "{err}");
    assert_source_kept_once(&err);
}

#[tokio::test]
async fn an_unreadable_secret_keeps_the_io_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("secrets").join("jwt_secret")).unwrap();
    let err = build_error(&Config::embedded(dir.path()).unwrap()).await;
    assert!(matches!(err, BuildError::Secrets(_)), "{err:?}");
    assert_source_kept_once(&err);
}

#[tokio::test]
async fn an_unopenable_sqlite_file_keeps_the_adapter_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::embedded(dir.path()).unwrap();
    // A directory where the database file should be.
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    config.database = DatabaseConfig::Sqlite { path: dir.path().join("db") };
    let err = build_error(&config).await;
    assert!(matches!(err, BuildError::Database { backend: "sqlite", .. }), "{err:?}");
    assert_source_kept_once(&err);
}

#[tokio::test]
async fn bad_gcs_credentials_keep_the_decoding_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::embedded(dir.path()).unwrap();
    config.database = DatabaseConfig::Memory;
    config.storage = StorageConfig::Gcs {
        bucket: "drip".into(),
        prefix: None,
        credentials: GcsCredentials::Base64(SecretString::from("not base64!")),
        base_url: None,
    };
    config.jwt_secret = Some(SecretString::from("an-explicit-jwt-secret-of-forty-characters"));
    config.master_keys =
        vec![("k1".into(), SecretString::from("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))];
    let err = build_error(&config).await;
    assert!(matches!(err, BuildError::GcsCredentials(_)), "{err:?}");
    assert_source_kept_once(&err);
}

#[tokio::test]
async fn a_short_jwt_secret_keeps_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::embedded(dir.path()).unwrap();
    config.database = DatabaseConfig::Memory;
    config.storage = StorageConfig::Memory;
    config.jwt_secret = Some(SecretString::from("short"));
    let err = build_error(&config).await;
    assert!(matches!(err, BuildError::JwtSecret(_)), "{err:?}");
    assert_source_kept_once(&err);
}
