//! Prepared folder archives against the real binary (SQLite + local disk): a folder with
//! nested subfolders, an empty file and a 50 MiB file (generated chunk by chunk, streamed
//! up, never held whole) is asked for as a ZIP; the `download` event arrives on the
//! WebSocket with the link; the ZIP, streamed to disk, passes Python's `zipfile -t` (and
//! `unzip -t` where it is installed) and its entries match the originals byte for byte
//! (SHA-256); another user's file and another user's request see nothing.
//!
//! A build killed mid-way (`kill -9`) is claimed again after its job lease by the restarted
//! process and built from scratch; what the killed attempt wrote is never served.
//!
//! A file deleted between the request and the build is skipped: the job runs as soon as it
//! is enqueued, so the binary offers no way to order a delete in between without sleeping;
//! `drip-core/tests/archives.rs` drives both orders deterministically.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_lc_rs::digest;
use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::api::{Api, PASSWORD, User, expect_error, expect_json, sha256_hex};
use crate::flow::ObjectStore;
use crate::harness::{Launch, Server};

const MIB: usize = 1024 * 1024;
/// The big file: 50 MiB of pseudo-random (incompressible) bytes.
const BIG_CHUNKS: u64 = 50;

/// Chunk `i` of the big file (1 MiB, deterministic).
fn big_chunk(i: u64) -> Vec<u8> {
    drip_testkit::pseudo_random(MIB, 0xA2C4_1000 + i)
}

/// Uploads a big file (`chunks` MiB) as a streamed body; answers its SHA-256.
async fn upload_big(api: &Api, user: &User, folder: &str, name: &str, chunks: u64) -> String {
    let mut hasher = digest::Context::new(&digest::SHA256);
    for i in 0..chunks {
        hasher.update(&big_chunk(i));
    }
    let body = futures::stream::iter(0..chunks).map(|i| Ok::<_, std::io::Error>(Bytes::from(big_chunk(i))));
    let response = api
        .request(Method::POST, "/api/v1/files", Some(&user.token))
        .query(&[("folder", folder), ("name", name)])
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, (chunks as usize * MIB).to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("the big upload");
    let file = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(file["size"], chunks * MIB as u64);
    hex(hasher.finish().as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Streams `path` (a download link) as `user` into `file`; answers the response headers.
async fn download_to(api: &Api, user: &User, path: &str, file: &Path) -> header::HeaderMap {
    let response = api.get(path, user).send().await.expect("the archive download");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let mut out = tokio::fs::File::create(file).await.expect("the ZIP file");
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        out.write_all(&chunk.expect("a chunk of the ZIP")).await.expect("writing the ZIP");
    }
    out.flush().await.expect("flushing the ZIP");
    headers
}

/// Runs `python3` with `args`; panics with its output unless it succeeds; answers stdout.
fn python(args: &[&str]) -> String {
    let output = Command::new("python3").args(args).output().expect("python3 (the ZIP check needs it)");
    assert!(
        output.status.success(),
        "python3 {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every entry of the ZIP at `file` with the SHA-256 of its content, read by Python's
/// `zipfile` (a standard reader, not ours), entry by entry in 1 MiB reads.
fn entry_digests(file: &Path) -> BTreeMap<String, String> {
    const SCRIPT: &str = "import hashlib, json, sys, zipfile\n\
        out = {}\n\
        with zipfile.ZipFile(sys.argv[1]) as z:\n\
        \x20   for info in z.infolist():\n\
        \x20       h = hashlib.sha256()\n\
        \x20       with z.open(info) as f:\n\
        \x20           for block in iter(lambda: f.read(1 << 20), b''):\n\
        \x20               h.update(block)\n\
        \x20       out[info.filename] = h.hexdigest()\n\
        print(json.dumps(out))\n";
    let text = python(&["-c", SCRIPT, file.to_str().expect("a UTF-8 path")]);
    serde_json::from_str(text.trim()).expect("the digests as JSON")
}

/// `python3 -m zipfile -t`, and `unzip -t` when the machine has it (which calls an archive
/// without entries a warning, so only for one with entries).
fn test_with_standard_unzips(file: &Path, has_entries: bool) {
    let path = file.to_str().expect("a UTF-8 path");
    python(&["-m", "zipfile", "-t", path]);
    if !has_entries {
        return;
    }
    if let Ok(output) = Command::new("unzip").args(["-t", path]).output() {
        assert!(output.status.success(), "unzip -t: {}", String::from_utf8_lossy(&output.stdout));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_archive_is_announced_and_unzips_to_the_originals() {
    let server = Launch::embedded().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let mut events = api.events(&alice, false).await;

    let notes = b"Day one: we arrived.\n".repeat(200);
    api.upload(&alice, "$/trip", "notes.txt", &notes).await;
    api.upload(&alice, "$/trip/photos/day 1", "caf\u{e9}.jpg", &[0xFFu8; 30_000]).await;
    api.upload(&alice, "$/trip/photos/day 2/empty", "empty.bin", b"").await;
    let big = upload_big(&api, &alice, "$/trip/video", "big.bin", BIG_CHUNKS).await;
    api.upload(&alice, "$/elsewhere", "outside.txt", b"not in the trip").await;
    api.upload(&bob, "$/trip", "bobs.txt", b"bob's, not shared").await;
    for _ in 0..4 {
        events.expect("upload").await;
    }

    let response = api
        .request(Method::POST, "/api/v1/archives", Some(&alice.token))
        .json(&json!({ "folder": "$/trip" }))
        .send()
        .await
        .expect("request an archive");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()[header::LOCATION].to_str().expect("text").to_owned();
    let archive = expect_json(response, StatusCode::ACCEPTED).await;
    let id = archive["id"].as_str().expect("an id").to_owned();
    assert_eq!(location, format!("/api/v1/archives/{id}"));
    assert_eq!(archive["folder"], "$/trip");
    assert!(archive["status"] == "pending" || archive["status"] == "ready", "{archive}");

    let event = events.expect("download").await;
    let payload = &event["payload"];
    assert_eq!(payload["message"], "Your download is ready. Start it by clicking here.");
    assert_eq!(payload["archive_id"], id.as_str());
    let link = payload["link"].as_str().expect("a link").to_owned();
    assert_eq!(link, format!("/api/v1/archives/{id}/content"));

    let shown: Value =
        expect_json(api.get(&location, &alice).send().await.expect("show"), StatusCode::OK).await;
    assert_eq!(shown["status"], "ready");
    assert_eq!(shown["files"], 4);
    assert_eq!(shown["link"], link.as_str());

    let dir = tempfile::tempdir().expect("a temporary directory");
    let zip = dir.path().join("trip.zip");
    let headers = download_to(&api, &alice, &link, &zip).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/zip");
    assert!(headers[header::CONTENT_DISPOSITION].to_str().expect("text").contains("filename=\"trip.zip\""));
    let size = std::fs::metadata(&zip).expect("the ZIP's size").len();
    assert_eq!(size, shown["size"].as_u64().expect("a size"));
    assert!(size > BIG_CHUNKS * MIB as u64, "the big file is in it: {size}");

    test_with_standard_unzips(&zip, true);
    let expected: BTreeMap<String, String> = [
        ("notes.txt".to_owned(), sha256_hex(&notes)),
        ("photos/day 1/caf\u{e9}.jpg".to_owned(), sha256_hex(&[0xFFu8; 30_000])),
        ("photos/day 2/empty/empty.bin".to_owned(), sha256_hex(b"")),
        ("video/big.bin".to_owned(), big),
    ]
    .into_iter()
    .collect();
    assert_eq!(entry_digests(&zip), expected);

    // Bob sees nothing of it: the same answers as for an id that does not exist.
    for path in [location.clone(), link.clone()] {
        expect_error(
            api.get(&path, &bob).send().await.expect("bob's look"),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let listed =
        expect_json(api.get("/api/v1/archives", &bob).send().await.expect("list"), StatusCode::OK).await;
    assert_eq!(listed["items"], json!([]));

    // A range of it, as of a file.
    let part = api.get(&link, &alice).header(header::RANGE, "bytes=0-3").send().await.expect("a range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&part.bytes().await.expect("the range")[..], b"PK\x03\x04");

    let deleted = api.request(Method::DELETE, &location, Some(&alice.token)).send().await.expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    expect_error(api.get(&link, &alice).send().await.expect("gone"), StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_folder_gives_an_empty_zip() {
    let server = Launch::embedded().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let mut events = api.events(&alice, false).await;
    let response = api
        .request(Method::POST, "/api/v1/archives", Some(&alice.token))
        .json(&json!({ "folder": "$/nothing" }))
        .send()
        .await
        .expect("request an archive");
    expect_json(response, StatusCode::ACCEPTED).await;
    let event = events.expect("download").await;
    let link = event["payload"]["link"].as_str().expect("a link").to_owned();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let zip = dir.path().join("nothing.zip");
    download_to(&api, &alice, &link, &zip).await;
    test_with_standard_unzips(&zip, false);
    assert!(entry_digests(&zip).is_empty());
}

/// Asks for an archive of `folder` as `user`; answers its id.
async fn request_archive(api: &Api, user: &User, folder: &str) -> String {
    let response = api
        .request(Method::POST, "/api/v1/archives", Some(&user.token))
        .json(&json!({ "folder": folder }))
        .send()
        .await
        .expect("request an archive");
    let archive = expect_json(response, StatusCode::ACCEPTED).await;
    archive["id"].as_str().expect("an id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_killed_mid_way_is_built_again_after_its_lease() {
    // Large enough that the build is still running when the kill lands (the kill follows
    // the line the build logs as it starts).
    const CHUNKS: u64 = 160;
    let launch = Launch::embedded().env("DRIP_JOBS__LEASE_SECS", "2").env("DRIP_JOBS__POLL_SECS", "1");
    let mut server = launch.clone().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let big = upload_big(&api, &alice, "$/film", "film.bin", CHUNKS).await;
    let id = request_archive(&api, &alice, "$/film").await;
    server
        .wait_for_log("the start of the build", Duration::from_secs(20), |lines| {
            Server::logged_lines(lines, &["building an archive"]) >= 1
        })
        .await;
    server.kill();
    let finished_before_the_kill = server.logged(&["an archive is ready"]) > 0;

    let restarted = launch.data_dir(server.data_dir().to_owned()).start().await;
    let api = Api::new(&restarted);
    let alice = api.login("alice", PASSWORD).await;
    restarted
        .wait_for_log("the archive ready", Duration::from_secs(60), |lines| {
            Server::logged_lines(lines, &["an archive is ready"]) >= 1
        })
        .await;
    println!(
        "archive build: finished before the kill: {finished_before_the_kill}; builds after the restart: {}",
        restarted.logged(&["building an archive"])
    );
    if !finished_before_the_kill {
        assert!(restarted.logged(&["building an archive"]) >= 1, "the restarted process built it again");
    }
    let shown = expect_json(
        api.get(&format!("/api/v1/archives/{id}"), &alice).send().await.expect("show"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown["status"], "ready");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let zip = dir.path().join("film.zip");
    download_to(&api, &alice, &format!("/api/v1/archives/{id}/content"), &zip).await;
    test_with_standard_unzips(&zip, true);
    let expected: BTreeMap<String, String> = [("film.bin".to_owned(), big)].into_iter().collect();
    assert_eq!(entry_digests(&zip), expected);
    // One archive object in the store, nothing partial: the killed attempt left nothing
    // that outlived the restart's sweep.
    let store = ObjectStore::Local(restarted.objects_dir());
    let zips: Vec<String> = store.names().into_iter().filter(|n| n.ends_with(".zip")).collect();
    assert_eq!(zips.len(), 1, "{:?}", store.names());
    assert_eq!(store.partial_uploads(), 0, "{:?}", store.names());
}
