//! Quotas against the real binary: the configured default to the byte, the `507
//! quota_exceeded` answer before the body is read or where a streamed body passes it,
//! nothing left behind, `drip user quota`, and twenty uploads racing for the last bytes
//! (SQLite + local disk, and PostgreSQL + GCS).

use bytes::Bytes;
use reqwest::header;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::api::{Api, User, expect_error, expect_json};
use crate::harness::{Launch, Server};
use crate::ops::{run_drip, text};

const MIB: u64 = 1024 * 1024;

async fn usage(api: &Api, user: &User) -> serde_json::Value {
    expect_json(api.get("/api/v1/me/usage", user).send().await.unwrap(), StatusCode::OK).await
}

/// Uploads `size` bytes as a chunked body (no `Content-Length`).
async fn upload_streamed(api: &Api, user: &User, name: &str, size: usize) -> Response {
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        vec![0u8; size].chunks(4096).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    api.request(Method::POST, "/api/v1/files", Some(&user.token))
        .query(&[("folder", "$"), ("name", name)])
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .unwrap()
}

fn objects(server: &Server) -> usize {
    std::fs::read_dir(server.objects_dir()).map(|d| d.count()).unwrap_or(0)
}

/// `drip user quota USERNAME SIZE` on the server's data directory and configuration.
fn quota_cli(server: &Server, env: &[(String, String)], username: &str, size: &str) -> std::process::Output {
    let data = server.data_dir().to_str().unwrap().to_owned();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = ["--data-dir", &data, "user", "quota", username, size];
    run_drip(server.data_dir().parent().unwrap(), &args, &env, "")
}

fn owned_vars(launch: &Launch) -> Vec<(String, String)> {
    launch.vars().into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_quota_holds_to_the_byte_and_refusals_leave_nothing() {
    let launch = Launch::embedded().env("DRIP_LIMITS__DEFAULT_QUOTA_MIB", "1");
    let env = owned_vars(&launch);
    let server = launch.start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    assert_eq!(
        usage(&api, &alice).await,
        json!({"media_count": 0, "disk_usage": 0, "quota": MIB, "used": 0, "available": MIB})
    );

    api.upload(&alice, "$", "almost.bin", &vec![1u8; (MIB - 1) as usize]).await;
    assert_eq!(usage(&api, &alice).await["available"], 1);
    // Two bytes with a Content-Length: refused before the body is read.
    let refused = api.try_upload(&alice, "$", "two.bin", vec![2u8; 2]).await;
    let body = expect_error(refused, StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded").await;
    assert_eq!(body["details"], json!({"quota": MIB, "used": MIB - 1}), "{body}");
    // The same streamed: cut where it passes the quota, same answer.
    let cut = upload_streamed(&api, &alice, "streamed.bin", 10_000).await;
    let body = expect_error(cut, StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded").await;
    assert_eq!(body["details"], json!({"quota": MIB, "used": MIB - 1}), "{body}");
    // The last byte fits, streamed too.
    assert_eq!(upload_streamed(&api, &alice, "last.bin", 1).await.status(), StatusCode::CREATED);
    assert_eq!(
        usage(&api, &alice).await,
        json!({"media_count": 2, "disk_usage": MIB, "quota": MIB, "used": MIB, "available": 0})
    );
    let names: Vec<_> =
        api.files(&alice).await.iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["almost.bin", "last.bin"], "refused uploads are not listed");
    assert_eq!(objects(&server), 2, "refused uploads left no object");

    // The trash counts until it is purged.
    let last = api.files(&alice).await.into_iter().find(|f| f["name"] == "last.bin").unwrap();
    let last = last["id"].as_str().unwrap().to_owned();
    let deleted = api
        .request(Method::DELETE, &format!("/api/v1/files/{last}"), Some(&alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(usage(&api, &alice).await["available"], 0, "a trashed file still counts");
    let purged = api
        .request(Method::DELETE, &format!("/api/v1/trash/{last}"), Some(&alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status(), StatusCode::NO_CONTENT);
    assert_eq!(usage(&api, &alice).await["available"], 1, "a purge gives its byte back");

    // An administrator raises alice's quota; an unknown user is an error, not a panic.
    let output = quota_cli(&server, &env, "alice", "3MiB");
    assert!(output.status.success(), "user quota: {}", text(&output.stderr));
    assert!(text(&output.stdout).contains("quota of alice: 3145728 bytes"), "{}", text(&output.stdout));
    assert_eq!(usage(&api, &alice).await["available"], 2 * MIB + 1);
    api.upload(&alice, "$", "more.bin", &vec![3u8; MIB as usize + 1]).await;
    let output = quota_cli(&server, &env, "alice", "unlimited");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(usage(&api, &alice).await["quota"], json!(null));
    for (user, size) in [("nobody", "1GiB"), ("alice", "1.5GiB")] {
        let output = quota_cli(&server, &env, user, size);
        assert!(!output.status.success(), "{user} {size}");
        assert!(!text(&output.stderr).contains("panicked"), "{}", text(&output.stderr));
    }
}

/// Twenty uploads (half with a length, half streamed) race for 650 free bytes.
async fn race(launch: Launch) {
    let launch =
        launch.env("DRIP_LIMITS__MAX_TRANSFERS_PER_USER", "0").env("DRIP_LIMITS__MAX_TRANSFERS_PER_IP", "0");
    let env = owned_vars(&launch);
    let server = launch.start().await;
    let api = Api::new(&server);
    let bob = api.register("bob").await;
    api.upload(&bob, "$", "resident.bin", &[0u8; 350]).await;
    let output = quota_cli(&server, &env, "bob", "1000");
    assert!(output.status.success(), "user quota: {}", text(&output.stderr));
    let uploads = (0..20).map(|n| {
        let (api, bob) = (&api, &bob);
        async move {
            let name = format!("{n}.bin");
            let response = if n % 2 == 0 {
                api.try_upload(bob, "$", &name, vec![1u8; 100]).await
            } else {
                upload_streamed(api, bob, &name, 100).await
            };
            response.status()
        }
    });
    let statuses = futures::future::join_all(uploads).await;
    let stored = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::INSUFFICIENT_STORAGE),
        "{statuses:?}"
    );
    assert_eq!(stored, 6, "{statuses:?}");
    let usage = usage(&api, &bob).await;
    assert_eq!((usage["disk_usage"].as_u64(), usage["used"].as_u64()), (Some(950), Some(950)), "{usage}");
    assert_eq!(api.files(&bob).await.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_uploads_racing_for_the_last_bytes_never_pass_the_quota() {
    race(Launch::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_uploads_racing_for_the_last_bytes_never_pass_the_quota_on_postgres() {
    let Some((database, gcs)) = crate::production_services().await else { return };
    race(crate::production(&database, &gcs)).await;
}
