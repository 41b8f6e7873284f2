//! End to end through the core with the real adapters, wired by the facade: files of
//! 0 B, 1 B, 64 KiB and 10 MiB go through `StorageService` into SQLite + local disk (and
//! SQLite + GCS through the XML-API double, and SQLite + S3 on the test run's moto), come back byte for byte with their digest,
//! are stored as ciphertext only, and a corrupted byte makes the download fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use drip::{Config, DatabaseConfig, Drip, GcsCredentials, S3Credentials, SecretString, StorageConfig};
use drip_core::accounts::model::RegisterRequest;
use drip_core::storage::StoreRequest;
use drip_core::storage::model::{FileName, FolderPath, Media};
use futures::StreamExt;

const SIZES: [usize; 4] = [0, 1, 64 * 1024, 10 * 1024 * 1024];

/// Content whose every 16-byte window is distinctive (so a plaintext search is meaningful).
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().try_into().unwrap()
}

async fn download(drip: &Drip, user: &drip_core::UserId, media: &Media) -> Result<Vec<u8>, std::io::Error> {
    let download = drip.storage.download(user, &media.id(), None).await.expect("download starts");
    let mut stream = download.content;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Stores and reads back every size; answers the stored media with their plaintext.
async fn round_trips(drip: &Drip) -> (drip_core::UserId, Vec<(Media, Vec<u8>)>) {
    let session = drip
        .accounts
        .register(RegisterRequest::parse("alice", "alice@example.com", "correct horse").unwrap())
        .await
        .unwrap();
    let user = session.owner.id;
    let mut stored = Vec::new();
    for (i, size) in SIZES.into_iter().enumerate() {
        let data = content(size, i as u64 + 7);
        let pieces: Vec<Result<Bytes, std::io::Error>> =
            data.chunks(100_003).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let media = drip
            .storage
            .store(StoreRequest {
                user,
                name: FileName::parse(&format!("file-{size}.bin")).unwrap(),
                folder: FolderPath::parse("$/e2e").unwrap(),
                content_type: None,
                length: None,
                content: futures::stream::iter(pieces).boxed(),
            })
            .await
            .unwrap();
        assert_eq!(media.size(), size as u64);
        assert_eq!(media.digest().unwrap().as_bytes(), &sha256(&data), "digest of {size} B");
        let back = download(drip, &user, &media).await.unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data, "content of {size} B differs");
        stored.push((media, data));
    }
    (user, stored)
}

fn assert_ciphertext(object: &[u8], plain: &[u8]) {
    assert!(object.len() > plain.len(), "ciphertext carries tags");
    if plain.len() >= 16 {
        for start in [0, plain.len() / 2, plain.len() - 16] {
            let window = &plain[start..start + 16];
            assert!(!object.windows(16).any(|w| w == window), "plaintext found in the stored object");
        }
    }
}

fn object_file(root: &Path, media: &Media) -> PathBuf {
    root.join(media.storage_key().as_str())
}

fn no_cache(mut config: Config) -> Config {
    config.cache_max_bytes = 0;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = no_cache(Config::embedded(dir.path()).unwrap());
    let objects = dir.path().join("objects");
    let drip = Drip::build(&config).await.unwrap();
    let (user, stored) = round_trips(&drip).await;
    for (media, plain) in &stored {
        let object = std::fs::read(object_file(&objects, media)).unwrap();
        assert_ciphertext(&object, plain);
    }
    // Corrupting one byte of the 10 MiB object makes its download fail, loudly.
    let (media, _) = stored.last().unwrap();
    let path = object_file(&objects, media);
    let mut object = std::fs::read(&path).unwrap();
    let middle = object.len() / 2;
    object[middle] ^= 0x40;
    std::fs::write(&path, &object).unwrap();
    let err = download(&drip, &user, media).await.unwrap_err();
    assert!(err.to_string().contains("integrity"), "{err}");
    // The other files are untouched.
    let (small, plain) = &stored[2];
    assert_eq!(&download(&drip, &user, small).await.unwrap(), plain);
}

/// `config` with what a cloud store needs: 5 MiB parts (the stores' smallest) and the
/// explicit secrets production settings require.
fn production(mut config: Config) -> Config {
    config.upload.part_size = 5 * 1024 * 1024;
    config.jwt_secret = Some(SecretString::from("an-explicit-jwt-secret-of-forty-characters"));
    config.master_keys =
        vec![("k1".into(), SecretString::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32])))];
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_gcs_double() {
    let double = drip_gcs_double::GcsDouble::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = no_cache(Config::embedded(dir.path()).unwrap());
    config.database = DatabaseConfig::Sqlite { path: dir.path().join("drip.db") };
    let json = double.service_account_json();
    config.storage = StorageConfig::Gcs {
        bucket: double.bucket().to_owned(),
        prefix: Some("drip".into()),
        credentials: GcsCredentials::Base64(SecretString::from(
            base64::engine::general_purpose::STANDARD.encode(json),
        )),
        base_url: None,
    };
    let config = production(config);
    let drip = Drip::build(&config).await.unwrap();
    assert!(drip.wiring.generated_secrets.is_empty());
    let (_user, stored) = round_trips(&drip).await;
    for (media, plain) in &stored {
        let name = format!("drip/{}", media.storage_key());
        let object = double.object(&name).unwrap_or_else(|| panic!("{name} is in the bucket"));
        assert_ciphertext(&object, plain);
    }
    assert_eq!(double.in_progress_uploads(), 0, "no stray multipart uploads");
}

/// Through the facade onto S3 (moto, a bucket of its own; `SKIPPED` without a server):
/// static keys, an endpoint over plain HTTP, a prefix, and the banner's label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_s3() {
    let Some(bucket) = drip_testkit::s3::TestBucket::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut config = no_cache(Config::embedded(dir.path()).unwrap());
    config.storage = StorageConfig::S3 {
        bucket: bucket.name().to_owned(),
        region: "us-east-1".into(),
        endpoint: Some(bucket.endpoint().to_owned()),
        prefix: Some("drip".into()),
        credentials: S3Credentials::Static {
            access_key_id: drip_testkit::s3::ACCESS_KEY_ID.into(),
            secret_access_key: SecretString::from(drip_testkit::s3::SECRET_ACCESS_KEY),
            session_token: None,
        },
        path_style: true,
        allow_http: true,
    };
    let config = production(config);
    let drip = Drip::build(&config).await.unwrap();
    assert_eq!(drip.wiring.storage, format!("s3 bucket {}", bucket.name()));
    assert!(drip.wiring.generated_secrets.is_empty(), "s3 is not embedded: no secrets generated");
    let (_user, stored) = round_trips(&drip).await;
    for (media, plain) in &stored {
        let name = format!("drip/{}", media.storage_key());
        let object = bucket.object(&name).await.unwrap_or_else(|| panic!("{name} is in the bucket"));
        assert_ciphertext(&object, plain);
    }
    assert_eq!(bucket.object_names().await.len(), SIZES.len(), "no upload id left written down");
    assert!(bucket.uploads_in_progress().await.is_empty(), "no stray multipart uploads");
}
