//! Helpers the cloud-store tests (`gcs.rs`, `s3.rs`) share: fresh keys, generated content
//! (that may fail), quick retries, tests run in a child process with an environment of
//! their own, and the report of an error's chain.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)] // each test binary uses its own share of them

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use drip_core::ids::{Ksuid, MediaId};
use drip_core::storage::model::{FileName, StorageKey};
use drip_core::storage::ports::ByteStream;
use drip_object_store::RetrySettings;
use futures::{StreamExt, stream};

/// A fresh key of a file named `name`.
pub(crate) fn key(name: &str) -> StorageKey {
    let now = chrono::Utc::now();
    StorageKey::new(MediaId::from_ksuid(Ksuid::generate(now)), now, &FileName::parse(name).unwrap())
}

/// Retries that give up quickly: at most `max_retries`, backoff 10-50 ms.
pub(crate) fn retries(max_retries: usize) -> RetrySettings {
    RetrySettings {
        max_retries,
        retry_timeout: Duration::from_secs(20),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetrySettings::default()
    }
}

/// `len` bytes of 7, in chunks of 256 KiB.
pub(crate) fn zeros(len: usize) -> ByteStream {
    let chunk = Bytes::from(vec![7_u8; 256 * 1024]);
    let mut left = len;
    stream::iter(std::iter::from_fn(move || {
        (left > 0).then(|| {
            let n = left.min(chunk.len());
            left -= n;
            Ok(chunk.slice(..n))
        })
    }))
    .boxed()
}

/// `len` bytes, then an input error.
pub(crate) fn failing_after(len: usize) -> ByteStream {
    let failure = Err(std::io::Error::other("upload interrupted"));
    zeros(len).chain(stream::iter([failure])).boxed()
}

/// Runs the ignored test `name` of this test binary in a child process with `env` added to
/// its environment (a test cannot change its own: `set_var` is `unsafe` in edition 2024 and
/// the workspace forbids `unsafe`), and checks that it ran and passed.
pub(crate) async fn run_child_test(name: &'static str, env: Vec<(&'static str, String)>) {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--ignored"])
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("1 passed"), "the child ran its test:\n{stdout}");
}

/// Each error of the chain of `error`, as anyhow's `{:#}` joins them.
pub(crate) fn chain(error: &(dyn Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(error), |&e| e.source()).map(ToString::to_string).collect()
}
