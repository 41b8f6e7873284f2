//! The user story, one function run against every backend pair: register → login →
//! upload 0 B / 1 B / 5 MiB → list → download and compare → range → share (with live
//! events) → the sharee downloads → the sharee may not move/rename/delete → rename/move →
//! delete → the object is gone from the store; plus the original's `/api/files` and
//! `/api/sessions` and the metrics after the flow.

use std::path::{Path, PathBuf};
use std::time::Duration;

use drip_gcs_double::GcsDouble;
use drip_testkit::s3::{TestBucket, block_on};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{self, Api, PASSWORD, User, all_refused, expect_error, expect_json, headers, refused};
use crate::harness::Server;

/// 5 MiB: more than one encryption chunk, and a multipart upload on GCS and S3.
const BIG: usize = 5 * 1024 * 1024;

/// Where the server keeps its objects, looked at from outside.
pub(crate) enum ObjectStore<'a> {
    /// The embedded local store under this directory.
    Local(PathBuf),
    /// The GCS test double.
    Gcs(&'a GcsDouble),
    /// A bucket of the test run's S3 server.
    S3(&'a TestBucket),
}

impl ObjectStore<'_> {
    /// Every stored object: (name, content).
    fn objects(&self) -> Vec<(String, Vec<u8>)> {
        match self {
            Self::Local(root) => {
                let mut out = Vec::new();
                walk(root, root, &mut out);
                out.sort();
                out
            }
            Self::Gcs(double) => double
                .object_names()
                .into_iter()
                .map(|name| {
                    let content = double.object(&name).map(|b| b.to_vec()).unwrap_or_default();
                    (name, content)
                })
                .collect(),
            Self::S3(bucket) => block_on(bucket.objects()),
        }
    }

    /// The one object whose name holds `id` (storage keys start with the media id).
    fn object_of(&self, id: &str) -> Vec<u8> {
        let mut found: Vec<_> = self.objects().into_iter().filter(|(name, _)| name.contains(id)).collect();
        assert_eq!(found.len(), 1, "one stored object for {id}: {:?}", self.names());
        found.remove(0).1
    }

    /// Uploads begun and not finished: staging files on disk (`<name>#<n>`), multipart
    /// uploads in progress on GCS and S3.
    pub(crate) fn partial_uploads(&self) -> usize {
        match self {
            Self::Local(_) => self.names().iter().filter(|n| n.contains('#')).count(),
            Self::Gcs(double) => double.in_progress_uploads(),
            Self::S3(bucket) => block_on(bucket.uploads_in_progress()).len(),
        }
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.objects().into_iter().map(|(name, _)| name).collect()
    }
}

/// Regular files under `dir`, named relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if path.is_file() {
            let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            out.push((name, std::fs::read(&path).expect("reading a stored object")));
        }
    }
}

/// Checks that `metrics` holds samples `name{labels...}` (or `name` alone) whose sum passes
/// `check`; answers why not.
fn metric(metrics: &str, name: &str, labels: &[&str], check: impl Fn(f64) -> bool) -> Result<f64, String> {
    let samples: Vec<f64> = metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let bare = series.split('{').next()?;
            (bare == name && labels.iter().all(|l| series.contains(l))).then(|| value.parse().ok())?
        })
        .collect();
    if samples.is_empty() {
        return Err(format!("no sample {name} with {labels:?}"));
    }
    let total = samples.iter().sum();
    if check(total) { Ok(total) } else { Err(format!("{name} {labels:?} = {total}")) }
}

/// The whole story against `server`, whose objects are in `store`.
pub(crate) async fn run(server: &Server, store: &ObjectStore<'_>) {
    let api = Api::new(server);
    assert!(store.names().is_empty(), "a fresh store is empty: {:?}", store.names());

    // Accounts: register three users, log the owner in again.
    let registered = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let alice = api.login("alice", PASSWORD).await;
    assert_eq!(alice.id, registered.id);
    let me = expect_json(api.get("/api/v1/me", &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(me, json!({ "id": alice.id, "username": "alice", "email": "alice@example.com" }));

    // Everyone listens before anything happens; the tokens travel both ways.
    let mut alice_events = api.events(&alice, false).await;
    let mut bob_events = api.events(&bob, true).await;
    let mut carol_events = api.events(&carol, false).await;

    // Upload 0 B, 1 B and 5 MiB.
    let empty: Vec<u8> = Vec::new();
    let one = b"x".to_vec();
    let big = api::pseudo_random(BIG, 42);
    let empty_file = api.upload(&alice, "$/docs", "empty.txt", &empty).await;
    let one_file = api.upload(&alice, "$/docs", "one.bin", &one).await;
    let big_file = api.upload(&alice, "$/docs/big", "five.bin", &big).await;
    let id = |file: &Value| file["id"].as_str().expect("id").to_owned();
    let (empty_id, one_id, big_id) = (id(&empty_file), id(&one_file), id(&big_file));
    assert!(empty_file["content_type"].as_str().is_some_and(|t| t.starts_with("text/plain")), "{empty_file}");

    // The uploader hears of each upload.
    let mut heard = std::collections::BTreeMap::new();
    for _ in 0..3 {
        let event = alice_events.expect("upload").await;
        let media = event["payload"]["media_id"].as_str().expect("media_id").to_owned();
        heard.insert(media, event["payload"]["message"].clone());
    }
    for (name, media) in [("empty.txt", &empty_id), ("one.bin", &one_id), ("five.bin", &big_id)] {
        let message = format!("The file \"{name}\" was successfully uploaded.");
        assert_eq!(heard.get(media.as_str()), Some(&Value::String(message)), "{heard:?}");
    }

    // Stored encrypted: one object per file, none of them the plaintext.
    let objects = store.names();
    assert_eq!(objects.len(), 3, "{objects:?}");
    let stored = store.object_of(&big_id);
    assert!(stored.len() > BIG, "ciphertext carries tags: {} bytes", stored.len());
    for at in [0, 4096, BIG / 2, BIG - 64] {
        assert!(!api::contains(&stored, &big[at..at + 32]), "plaintext at {at} is visible in the store");
    }
    assert_ne!(store.object_of(&one_id), one, "the 1-byte file is stored encrypted");

    // Listings: the root shows the folder with recursive totals; files are sorted by name.
    let root = api.folder(&alice, "$").await;
    assert_eq!(root["files"], json!([]));
    assert_eq!(root["folders"], json!([{ "name": "docs", "files": 3, "size": BIG + 1 }]));
    let docs = api.folder(&alice, "$/docs").await;
    let names: Vec<&str> =
        docs["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["empty.txt", "one.bin"]);
    assert_eq!(docs["files"][0], empty_file);
    assert_eq!(docs["folders"], json!([{ "name": "big", "files": 1, "size": BIG }]));
    assert!(docs.get("next_cursor").is_none_or(Value::is_null), "{docs}");
    assert_eq!(api.files(&alice).await.len(), 3);

    // The original's endpoints, same shapes.
    legacy_endpoints(&api, &alice, &docs).await;

    // Downloads, byte for byte, with their headers.
    for (media, content, name) in [(&empty_id, &empty, "empty.txt"), (&one_id, &one, "one.bin")] {
        let response = api.download(&alice, media, HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_LENGTH], content.len().to_string().as_str());
        let disposition = response.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().to_owned();
        assert!(disposition.starts_with("attachment;") && disposition.contains(name), "{disposition}");
        assert_eq!(&response.bytes().await.unwrap().to_vec(), content);
    }
    // Small files are cached: the second download is a cache hit, with the same bytes.
    assert_eq!(api.content(&alice, &one_id).await, one);
    let response = api.download(&alice, &big_id, HeaderMap::new()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = format!("\"{}\"", api::sha256_hex(&big));
    assert_eq!(response.headers()[header::ETAG], etag.as_str());
    assert_eq!(response.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(response.headers()[header::CONTENT_LENGTH], BIG.to_string().as_str());
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.bytes().await.unwrap().as_ref() == big.as_slice(), "the 5 MiB file comes back intact");

    // Ranges: inside a chunk, across a chunk boundary, a suffix; past the end is 416.
    for (range, start, end) in [
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=65530-65545", 65530, 65545),
        ("bytes=-10", BIG - 10, BIG - 1),
        (&format!("bytes={}-", BIG - 3), BIG - 3, BIG - 1),
    ] {
        let response = api.download(&alice, &big_id, headers(&[(header::RANGE, range)])).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(response.headers()[header::CONTENT_RANGE], format!("bytes {start}-{end}/{BIG}").as_str());
        assert_eq!(response.headers()[header::CONTENT_LENGTH], (end - start + 1).to_string().as_str());
        assert!(response.bytes().await.unwrap().as_ref() == &big[start..=end], "bytes of {range}");
    }
    let past_end = format!("bytes={BIG}-");
    let response = api.download(&alice, &big_id, headers(&[(header::RANGE, &past_end)])).await;
    assert_eq!(
        response.headers().get(header::CONTENT_RANGE).map(|v| v.to_str().unwrap().to_owned()),
        Some(format!("bytes */{BIG}"))
    );
    expect_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable").await;

    // Any range of an empty file is unsatisfiable; a stale If-Range gets everything.
    let response = api.download(&alice, &empty_id, headers(&[(header::RANGE, "bytes=0-")])).await;
    assert_eq!(
        response.headers().get(header::CONTENT_RANGE).map(|v| v.to_str().unwrap().to_owned()),
        Some("bytes */0".to_owned())
    );
    expect_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable").await;
    let stale = headers(&[(header::RANGE, "bytes=0-9"), (header::IF_RANGE, "\"not-the-etag\"")]);
    let response = api.download(&alice, &big_id, stale).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().as_ref() == big.as_slice());

    // A matching entity tag: 304, no body.
    let response = api.download(&alice, &big_id, headers(&[(header::IF_NONE_MATCH, &etag)])).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()[header::ETAG], etag.as_str());
    assert!(response.bytes().await.unwrap().is_empty());

    // Nobody else sees the file yet.
    refused(api.get(&format!("/api/v1/files/{big_id}"), &bob), StatusCode::NOT_FOUND, "not_found").await;

    // Share: both sides hear of it live.
    let response = api
        .request(Method::POST, &format!("/api/v1/files/{big_id}/shares"), Some(&alice.token))
        .json(&json!({ "username": "bob" }))
        .send()
        .await
        .unwrap();
    let share = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(share["username"], "bob");
    assert_eq!(share["user_id"], bob.id.as_str());
    assert!(share["shared_at"].as_str().is_some(), "{share}");
    let received = bob_events.expect("share").await;
    assert_eq!(received["payload"]["message"], "alice has just shared a file with you!");
    assert_eq!(received["payload"]["media_id"], big_id.as_str());
    let sent = alice_events.expect("share").await;
    assert_eq!(sent["payload"]["message"], "Successfully shared the file with bob.");
    let shares = expect_json(
        api.get(&format!("/api/v1/files/{big_id}/shares"), &alice).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(shares["shares"].as_array().map(Vec::len), Some(1), "{shares}");

    // A share pushed over the events connection to an unknown user is answered there.
    alice_events
        .push(&json!({ "event": "share", "payload": { "username": "nobody", "file_id": big_id } }))
        .await;
    let answer = alice_events.expect("share").await;
    assert_eq!(answer["payload"]["message"], "Couldn't find a user with nobody username.");

    // The sharee sees it and downloads it.
    let seen_by_bob = api.files(&bob).await;
    assert_eq!(seen_by_bob.len(), 1);
    assert_eq!(seen_by_bob[0]["id"], big_id.as_str());
    assert!(api.content(&bob, &big_id).await == big, "the sharee gets the same bytes");
    let response = api.download(&bob, &big_id, headers(&[(header::RANGE, "bytes=0-99")])).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert!(response.bytes().await.unwrap().as_ref() == &big[..100]);

    // ... but may not change it, nor share it on.
    let file_path = format!("/api/v1/files/{big_id}");
    all_refused(api::changes(&api, &file_path, &bob, "carol"), StatusCode::FORBIDDEN, "forbidden").await;
    let unchanged = expect_json(api.get(&file_path, &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(unchanged, big_file, "refused changes change nothing");

    // The third user never saw any of it.
    refused(api.get(&file_path, &carol), StatusCode::NOT_FOUND, "not_found").await;
    assert!(api.files(&carol).await.is_empty());

    // Rename, move, both at once; renaming to the current name is a conflict.
    let renamed = patch(&api, &alice, &big_id, json!({ "name": "renamed.bin" }), StatusCode::OK).await;
    assert_eq!(
        (renamed["name"].as_str(), renamed["folder"].as_str()),
        (Some("renamed.bin"), Some("$/docs/big"))
    );
    let moved = patch(&api, &alice, &big_id, json!({ "folder": "$/archive" }), StatusCode::OK).await;
    assert_eq!((moved["name"].as_str(), moved["folder"].as_str()), (Some("renamed.bin"), Some("$/archive")));
    let both = patch(
        &api,
        &alice,
        &big_id,
        json!({ "folder": "$/archive/2024", "name": "final.bin" }),
        StatusCode::OK,
    )
    .await;
    assert_eq!((both["name"].as_str(), both["folder"].as_str()), (Some("final.bin"), Some("$/archive/2024")));
    let conflict = patch(&api, &alice, &big_id, json!({ "name": "final.bin" }), StatusCode::CONFLICT).await;
    assert_eq!(conflict["error"]["code"], "already_exists");
    let root = api.folder(&alice, "$").await;
    assert_eq!(
        root["folders"],
        json!([{ "name": "archive", "files": 1, "size": BIG }, { "name": "docs", "files": 2, "size": 1 }])
    );
    assert_eq!(api.folder(&alice, "$/docs").await["folders"], json!([]));
    assert!(api.content(&alice, &big_id).await == big, "moving changes only metadata");
    assert_eq!(store.names().len(), 3);

    // A permanent delete: metadata, shares and the stored object are gone.
    for media in [&big_id, &one_id, &empty_id] {
        let response = api
            .request(Method::DELETE, &format!("/api/v1/files/{media}?permanent=true"), Some(&alice.token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let path = format!("/api/v1/files/{media}");
        let reads = [api.get(&path, &alice), api.get(&format!("{path}/content"), &alice)];
        all_refused(reads, StatusCode::NOT_FOUND, "not_found").await;
        // The object goes by the job the delete enqueued, woken at once.
        server
            .wait_for_log("the removal of the object", Duration::from_secs(10), |lines| {
                Server::logged_lines(lines, &["a job succeeded", media.as_str()]) >= 1
            })
            .await;
        assert!(
            !store.names().iter().any(|name| name.contains(media.as_str())),
            "object of {media} left behind"
        );
    }
    let response = api.download(&bob, &big_id, HeaderMap::new()).await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert!(api.files(&bob).await.is_empty());
    assert!(api.files(&alice).await.is_empty());
    assert_eq!(api.folder(&alice, "$").await["folders"], json!([]));
    assert!(store.names().is_empty(), "every object is gone: {:?}", store.names());
    let usage = expect_json(api.get("/api/v1/me/usage", &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        usage,
        json!({ "media_count": 0, "disk_usage": 0, "quota": null, "used": 0, "available": null })
    );

    // Events went to their users only.
    carol_events.drain(Duration::from_millis(300)).await;
    bob_events.drain(Duration::from_millis(50)).await;
    let content_events = |seen: &[Value]| -> Vec<Value> {
        seen.iter()
            .filter(|f| !f["event"].as_str().unwrap_or_default().starts_with("presence_"))
            .cloned()
            .collect()
    };
    assert!(content_events(carol_events.seen()).is_empty(), "carol got {:?}", carol_events.seen());
    let bobs = content_events(bob_events.seen());
    assert_eq!(bobs.len(), 1, "bob got only the share: {bobs:?}");
    // Presence: alice saw bob come online.
    let bob_joined = alice_events.seen().iter().any(|f| {
        f["event"] == "presence_diff"
            && f["payload"]["joins"].as_array().is_some_and(|j| j.iter().any(|e| e["username"] == "bob"))
    });
    assert!(bob_joined, "alice saw bob join: {:?}", alice_events.seen());

    check_metrics(&api, &[&empty_id, &one_id, &big_id]).await;

    // Closed connections leave the gauges.
    let closed_before = server.logged(&["an event connection closed"]);
    alice_events.close().await;
    bob_events.close().await;
    carol_events.close().await;
    server
        .wait_for_log("the three closed event connections", Duration::from_secs(5), |lines| {
            Server::logged_lines(lines, &["an event connection closed"]) >= closed_before + 3
        })
        .await;
    let metrics = api.metrics().await;
    metric(&metrics, "drip_event_connections", &[], |n| n == 0.0)
        .and_then(|_| metric(&metrics, "drip_online_users", &[], |n| n == 0.0))
        .unwrap_or_else(|why| panic!("after closing: {why}"));
}

async fn patch(api: &Api, user: &User, id: &str, body: Value, status: StatusCode) -> Value {
    let response = api
        .request(Method::PATCH, &format!("/api/v1/files/{id}"), Some(&user.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_json(response, status).await
}

/// `POST /api/sessions` → cookie → `GET /api/files?path=` in the original's exact shape
/// → `DELETE /api/sessions`.
async fn legacy_endpoints(api: &Api, alice: &User, docs: &Value) {
    let response = api
        .request(Method::POST, "/api/sessions", None)
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookies = api::set_cookies(&response);
    assert_eq!(expect_json(response, StatusCode::OK).await, json!({ "response": "Logged in as alice" }));
    let cookie = |name: &str| -> String {
        let set = cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {cookies:?}"));
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
        set.split(';').next().unwrap().to_owned()
    };
    let (session, refresh) = (cookie("drip_session"), cookie("drip_refresh"));
    assert!(
        cookies.iter().any(|c| c.starts_with("drip_refresh=") && c.contains("Path=/api/sessions")),
        "{cookies:?}"
    );

    let response = api
        .request(Method::GET, "/api/files?path=$/docs", None)
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    let listing = expect_json(response, StatusCode::OK).await;
    let files: Vec<Value> = docs["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!({ "id": f["id"], "name": f["name"], "full_path": "$/docs", "size": f["size"] }))
        .collect();
    let expected = json!({ "response": {
        "files": files,
        "folders": [{ "name": "big", "size": BIG, "files": 1 }],
    }});
    assert_eq!(listing, expected);
    // The bearer token works there too.
    let response = api.request(Method::GET, "/api/files?path=$", Some(&alice.token)).send().await.unwrap();
    assert_eq!(
        expect_json(response, StatusCode::OK).await,
        json!({ "response": { "files": [], "folders": [{ "name": "docs", "size": BIG + 1, "files": 3 }] } })
    );

    let response = api
        .request(Method::DELETE, "/api/sessions", None)
        .header(header::COOKIE, format!("{session}; {refresh}"))
        .send()
        .await
        .unwrap();
    let cleared = api::set_cookies(&response);
    assert_eq!(expect_json(response, StatusCode::OK).await, json!({ "response": "Logged out" }));
    for name in ["drip_session=;", "drip_refresh=;"] {
        assert!(
            cleared.iter().any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{name} cleared: {cleared:?}"
        );
    }
    // The logged-out session's refresh token is revoked.
    let token = refresh.trim_start_matches("drip_refresh=");
    refused(
        api.request(Method::POST, "/api/v1/sessions/refresh", None).json(&json!({ "refresh_token": token })),
        StatusCode::UNAUTHORIZED,
        "refresh_token_revoked",
    )
    .await;
}

/// The counters the flow must have moved (every failure reported at once).
async fn check_metrics(api: &Api, ids: &[&str]) {
    let metrics = api.metrics().await;
    let content = r#"route="/api/v1/files/{id}/content""#;
    let checks = [
        metric(&metrics, "drip_http_requests_total", &[content, r#"method="GET""#, r#"status="2xx""#], |n| {
            n >= 5.0
        }),
        metric(&metrics, "drip_http_requests_total", &[content, r#"status="4xx""#], |n| n >= 1.0),
        metric(
            &metrics,
            "drip_http_requests_total",
            &[r#"route="/api/v1/files""#, r#"method="POST""#],
            |n| n >= 3.0,
        ),
        metric(&metrics, "drip_http_request_duration_seconds_count", &[content], |n| n >= 5.0),
        metric(&metrics, "drip_bytes_in_total", &[], |n| n >= (BIG + 1) as f64),
        metric(&metrics, "drip_bytes_out_total", &[], |n| n >= (2 * BIG) as f64),
        metric(&metrics, "drip_store_duration_seconds_count", &[r#"outcome="ok""#], |n| n >= 3.0),
        // Every download the client read to its end was complete.
        metric(&metrics, "drip_download_duration_seconds_count", &[r#"outcome="ok""#], |n| n >= 5.0),
        metric(&metrics, "drip_cache_hits_total", &[], |n| n >= 1.0),
        // alice, bob and carol are still connected.
        metric(&metrics, "drip_event_connections", &[], |n| n == 3.0),
        metric(&metrics, "drip_online_users", &[], |n| n == 3.0),
    ];
    let mut failures: Vec<String> = checks.into_iter().filter_map(Result::err).collect();
    // Labels carry route templates, never ids.
    failures.extend(ids.iter().filter(|id| metrics.contains(**id)).map(|id| format!("id {id} in a label")));
    assert!(failures.is_empty(), "metrics: {failures:#?}\n{metrics}");
}
