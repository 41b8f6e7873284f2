//! Crash consistency of the real binary: `kill -9` while uploads and deletes are under way,
//! then a restart. No name stays blocked, no listed file loses its content, and what the
//! crash left in the store (partial uploads, objects of deleted files) is removed by the
//! jobs of the restarted node.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::api::{Api, PASSWORD, User};
use crate::flow::ObjectStore;
use drip_gcs_double::GcsDouble;

use crate::harness::{Launch, Server};

/// The upload lease of these tests: a crashed node's names are free this long after its
/// last renewal.
const LEASE_SECS: u64 = 4;

/// The job lease of the delete crash: a removal the killed process had claimed runs again
/// this long after its claim.
const JOB_LEASE_SECS: u64 = 2;

/// Bytes each interrupted upload sends before the crash: more than one 5 MiB part, so the
/// store holds a partial upload (a staging file on disk, parts on GCS).
const SENT: usize = 6 * 1024 * 1024;

/// What both stacks run with for these tests.
pub(crate) fn crash_settings(launch: Launch) -> Launch {
    launch
        .env("DRIP_LIMITS__UPLOAD_LEASE_SECS", LEASE_SECS.to_string())
        .env("DRIP_STORAGE__PART_SIZE_MIB", "5")
}

/// The store the server keeps objects in: the GCS double when there is one, else the
/// local disk under its data directory.
fn store_of<'a>(server: &Server, gcs: Option<&'a GcsDouble>) -> ObjectStore<'a> {
    gcs.map_or_else(|| ObjectStore::Local(server.objects_dir()), ObjectStore::Gcs)
}

/// The ids of `user`'s listed files.
async fn listed(api: &Api, user: &User) -> BTreeSet<String> {
    api.files(user).await.iter().map(|f| f["id"].as_str().expect("id").to_owned()).collect()
}

/// The store holds exactly one object per listed file (storage keys start with the media
/// id) and nothing else: no partial upload (staging file, open multipart upload), no object
/// of a deleted file.
fn store_matches_listing(store: &ObjectStore<'_>, ids: &BTreeSet<String>) {
    if let Some(mismatch) = store_mismatch(store, ids) {
        panic!("{mismatch}");
    }
}

/// What differs between the store and the listing, if anything (see
/// [`store_matches_listing`]).
fn store_mismatch(store: &ObjectStore<'_>, ids: &BTreeSet<String>) -> Option<String> {
    let names = store.names();
    let orphans: Vec<_> = names.iter().filter(|n| !ids.iter().any(|id| n.contains(id.as_str()))).collect();
    let backed = ids.iter().filter(|id| names.iter().any(|n| n.contains(id.as_str()))).count();
    let partial = store.partial_uploads();
    let matches = orphans.is_empty() && partial == 0 && backed == ids.len() && names.len() == ids.len();
    (!matches).then(|| format!("store {names:?} ({partial} partial uploads) for listed files {ids:?}"))
}

/// `kill -9` during several uploads: after a restart, within the lease and a job cycle,
/// each of those names can be uploaded again (201), and the store holds exactly the
/// objects of listed files.
pub(crate) async fn kill_during_uploads(launch: Launch, gcs: Option<&GcsDouble>) {
    let mut server = launch.clone().start().await;
    let store = &store_of(&server, gcs);
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    api.upload(&alice, "$", "kept.txt", b"survives the crash").await;
    let names = ["big0.bin", "big1.bin", "big2.bin"];
    let mut uploads = Vec::new();
    for name in names {
        uploads.push(api.stalled_upload(&server, &alice, name, 2 * SENT, SENT).await.unwrap());
    }
    // Each upload holds its name (its record is written before its body is read) and has
    // its partial upload in the store.
    let response = api.try_upload(&alice, "$", names[0], b"x".to_vec()).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "the name is held while the upload runs");
    server
        .wait_for_log("the partial uploads", Duration::from_secs(20), |lines| {
            Server::logged_lines(lines, &["started a large upload"]) >= names.len()
        })
        .await;
    server.kill();
    drop(uploads);
    if gcs.is_none() {
        // A staging file whose upload left no record at all: the restart sweeps it too.
        std::fs::write(server.objects_dir().join("unknown_20240101T000000.bin#7"), b"partial")
            .expect("staging file");
    }

    let restarted = launch.data_dir(server.data_dir().to_owned()).start().await;
    let started = Instant::now();
    let api = Api::new(&restarted);
    let alice = api.login("alice", PASSWORD).await;
    // Once their leases lapsed, the reclaimer frees the names; the reclaim jobs clean up.
    restarted
        .wait_for_log("the reclaim of the abandoned uploads", Duration::from_secs(LEASE_SECS + 20), |lines| {
            Server::logged_lines(lines, &["reclaimed an abandoned upload"]) >= names.len()
        })
        .await;
    println!("crash during uploads: names free {:?} after the restart", started.elapsed());
    for name in names {
        let response = api.try_upload(&alice, "$", name, format!("{name} again").into_bytes()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "re-uploading {name}");
    }
    restarted
        .wait_for_log("the reclaim jobs", Duration::from_secs(20), |lines| {
            Server::logged_lines(lines, &["a job succeeded", "ReclaimUpload"]) >= names.len()
        })
        .await;
    println!("crash during uploads: store clean {:?} after the restart", started.elapsed());
    let ids = listed(&api, &alice).await;
    assert_eq!(ids.len(), 4, "the kept file and the three new ones");
    store_matches_listing(store, &ids);
}

/// `kill -9` during a burst of (permanent) deletes: after a restart every listed file
/// downloads, and the objects of the deleted ones are gone once the jobs ran.
pub(crate) async fn kill_during_deletes(launch: Launch, gcs: Option<&GcsDouble>) {
    const FILES: usize = 40;
    // A removal the killed process had claimed but not finished is claimable again once
    // its lease lapsed: short here, so that the test sees it run.
    let launch =
        launch.env("DRIP_JOBS__LEASE_SECS", JOB_LEASE_SECS.to_string()).env("DRIP_JOBS__POLL_SECS", "1");
    let mut server = launch.clone().start().await;
    let store = &store_of(&server, gcs);
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let mut ids = Vec::new();
    for n in 0..FILES {
        let file = api.upload(&alice, "$", &format!("f{n}.txt"), format!("content {n}").as_bytes()).await;
        ids.push(file["id"].as_str().expect("id").to_owned());
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    for id in ids.iter().take(30) {
        let (api, token, done, id) = (api.clone(), alice.token.clone(), done_tx.clone(), id.clone());
        tokio::spawn(async move {
            let path = format!("/api/v1/files/{id}?permanent=true");
            let status = api.request(Method::DELETE, &path, Some(&token)).send().await.map(|r| r.status());
            let _ = done.send(status.ok());
        });
    }
    // Crash in the middle of the burst: once a few deletes were answered.
    for _ in 0..5 {
        done_rx.recv().await.expect("a delete answered");
    }
    server.kill();

    let restarted = launch.data_dir(server.data_dir().to_owned()).start().await;
    let api = Api::new(&restarted);
    let alice = api.login("alice", PASSWORD).await;
    let remaining = listed(&api, &alice).await;
    assert!(remaining.len() >= FILES - 30 && remaining.len() <= FILES - 5, "{} files left", remaining.len());
    for id in &remaining {
        let response = api.download(&alice, id, HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK, "every listed file downloads: {id}");
    }
    // The deletes committed before the crash left their jobs; the restart runs them.
    restarted
        .wait_for_log("the jobs due at start", Duration::from_secs(20), |lines| {
            Server::logged_lines(lines, &["ran the jobs due at start"]) >= 1
        })
        .await;
    // A removal under way when the process died runs after its lease, on a later poll (and
    // logs its success after the object is gone).
    restarted
        .wait_for_log("the removals left by the crash", Duration::from_secs(JOB_LEASE_SECS + 20), |_| {
            store_mismatch(store, &remaining).is_none()
        })
        .await;
    store_matches_listing(store, &remaining);
}
