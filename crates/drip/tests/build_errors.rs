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

/// Building `config` fails as `expected` says, keeping the cause as the source; answers
/// the error.
async fn failed_build(config: &Config, expected: fn(&BuildError) -> bool) -> BuildError {
    let err = Drip::build(config).await.expect_err("the build fails");
    assert!(expected(&err), "{err:?}");
    assert_source_kept_once(&err);
    err
}

/// The embedded configuration in a fresh directory (removed when the guard drops).
fn embedded() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::embedded(dir.path()).unwrap();
    (dir, config)
}

#[tokio::test]
async fn an_uncreatable_data_dir_keeps_the_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let config = Config::embedded(file.join("data")).unwrap();
    let err = failed_build(&config, |e| matches!(e, BuildError::DataDir { .. })).await;
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[tokio::test]
async fn an_unreadable_secret_keeps_the_io_error() {
    let (dir, config) = embedded();
    std::fs::create_dir_all(dir.path().join("secrets").join("jwt_secret")).unwrap();
    failed_build(&config, |e| matches!(e, BuildError::Secrets(_))).await;
}

#[tokio::test]
async fn an_unopenable_sqlite_file_keeps_the_adapter_error() {
    let (dir, mut config) = embedded();
    // A directory where the database file should be.
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    config.database = DatabaseConfig::Sqlite { path: dir.path().join("db") };
    failed_build(&config, |e| matches!(e, BuildError::Database { backend: "sqlite", .. })).await;
}

#[tokio::test]
async fn bad_gcs_credentials_keep_the_decoding_error() {
    let (_dir, mut config) = embedded();
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
    failed_build(&config, |e| matches!(e, BuildError::GcsCredentials(_))).await;
}

#[tokio::test]
async fn a_short_jwt_secret_keeps_the_reason() {
    let (_dir, mut config) = embedded();
    config.database = DatabaseConfig::Memory;
    config.storage = StorageConfig::Memory;
    config.jwt_secret = Some(SecretString::from("short"));
    failed_build(&config, |e| matches!(e, BuildError::JwtSecret(_))).await;
}
