//! The trash against the real binary (SQLite + local disk): a delete hides a file from its
//! sharee, its public link, every listing and search, and frees its name; a restore onto
//! the name taken again is 409, under another name it brings back the same content, the
//! share and the link; a purge and a permanent delete remove the object by their job. The
//! purge after `storage.trash_days` is driven by the clock in the core's tests
//! (`crates/drip-core/tests/trash.rs`): the binary has no clock to move.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Api, User, expect_error, expect_json};
use crate::harness::{Launch, Server};

const REPORT: &[u8] = b"quarterly numbers\nsecret margin: 42%\n";

/// Names of the files below `dir`, at any depth.
fn stored_names(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(_) => names.push(entry.file_name().to_string_lossy().into_owned()),
                Err(_) => {}
            }
        }
    }
    names
}

fn stores_object_of(server: &Server, id: &str) -> bool {
    stored_names(&server.objects_dir()).iter().any(|name| name.contains(id))
}

/// Waits until a job that names `id` (the removal of its object) succeeded.
async fn object_removed(server: &Server, id: &str) {
    server
        .wait_for_log("the removal of the object", Duration::from_secs(10), |lines| {
            Server::logged_lines(lines, &["a job succeeded", id]) >= 1
        })
        .await;
    assert!(!stores_object_of(server, id), "the object of {id} is gone");
}

async fn send(api: &Api, method: Method, path: &str, user: &User, body: Option<Value>) -> reqwest::Response {
    let request = api.request(method, path, Some(&user.token));
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

/// The names of the files `user` finds for `q`.
async fn found(api: &Api, user: &User, q: &str) -> Vec<String> {
    let response = api.get(&format!("/api/v1/search?q={q}"), user).send().await.unwrap();
    let results = expect_json(response, StatusCode::OK).await;
    results["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_hides_restore_brings_back_purge_and_permanent_delete_remove() {
    let server = Launch::embedded().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let file = api.upload(&alice, "$/docs", "report.txt", REPORT).await;
    let id = file["id"].as_str().unwrap().to_owned();
    let share = Some(json!({"username": "bob"}));
    let shared = send(&api, Method::POST, &format!("/api/v1/files/{id}/shares"), &alice, share).await;
    assert_eq!(shared.status(), StatusCode::CREATED);
    let link = send(&api, Method::POST, &format!("/api/v1/files/{id}/links"), &alice, Some(json!({}))).await;
    let link = expect_json(link, StatusCode::CREATED).await;
    let link_content = format!("{}/content", link["url"].as_str().unwrap());
    let through_link = || api.request(Method::GET, &link_content, None).send();
    assert_eq!(through_link().await.unwrap().bytes().await.unwrap(), REPORT);
    assert_eq!(found(&api, &bob, "margin").await, ["report.txt"]);

    // Deleted: gone for the sharee, the link, the listings and the search; the name is free.
    let deleted = send(&api, Method::DELETE, &format!("/api/v1/files/{id}"), &alice, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for user in [&alice, &bob] {
        let info = api.get(&format!("/api/v1/files/{id}"), user).send().await.unwrap();
        expect_error(info, StatusCode::NOT_FOUND, "not_found").await;
        let content = api.get(&format!("/api/v1/files/{id}/content"), user).send().await.unwrap();
        expect_error(content, StatusCode::NOT_FOUND, "not_found").await;
        assert!(api.files(user).await.is_empty(), "{} lists nothing", user.username);
        assert_eq!(api.folder(user, "$").await["folders"], json!([]), "no folder totals");
        assert!(found(&api, user, "margin").await.is_empty(), "{} finds nothing", user.username);
    }
    expect_error(through_link().await.unwrap(), StatusCode::NOT_FOUND, "link_not_found").await;
    assert!(stores_object_of(&server, &id), "the trash keeps the object");
    let trash = expect_json(api.get("/api/v1/trash", &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(trash["items"][0]["id"], id.as_str());
    assert_eq!(trash["items"][0]["folder"], "$/docs");
    let bobs = expect_json(api.get("/api/v1/trash", &bob).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(bobs["items"], json!([]));
    let newer = api.upload(&alice, "$/docs", "report.txt", b"the new report").await;
    let newer_id = newer["id"].as_str().unwrap().to_owned();

    // Restored: 409 on the taken name, then under another one with its content, share and link.
    let restore = format!("/api/v1/trash/{id}/restore");
    expect_error(
        send(&api, Method::POST, &restore, &alice, None).await,
        StatusCode::CONFLICT,
        "already_exists",
    )
    .await;
    let renamed = Some(json!({"name": "report (old).txt"}));
    let restored =
        expect_json(send(&api, Method::POST, &restore, &alice, renamed).await, StatusCode::OK).await;
    assert_eq!(
        (restored["name"].as_str(), restored["folder"].as_str()),
        (Some("report (old).txt"), Some("$/docs"))
    );
    assert_eq!(api.content(&alice, &id).await, REPORT, "the same content");
    assert_eq!(api.content(&bob, &id).await, REPORT, "the share is back");
    assert_eq!(through_link().await.unwrap().bytes().await.unwrap(), REPORT, "the link is back");
    assert_eq!(found(&api, &bob, "margin").await, ["report (old).txt"]);

    // Purged from the trash: the object goes by its job, and there is nothing to restore.
    assert_eq!(
        send(&api, Method::DELETE, &format!("/api/v1/files/{id}"), &alice, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let purged = send(&api, Method::DELETE, &format!("/api/v1/trash/{id}"), &alice, None).await;
    assert_eq!(purged.status(), StatusCode::NO_CONTENT);
    object_removed(&server, &id).await;
    expect_error(send(&api, Method::POST, &restore, &alice, None).await, StatusCode::NOT_FOUND, "not_found")
        .await;

    // A permanent delete skips the trash.
    let permanent = format!("/api/v1/files/{newer_id}?permanent=true");
    assert_eq!(send(&api, Method::DELETE, &permanent, &alice, None).await.status(), StatusCode::NO_CONTENT);
    object_removed(&server, &newer_id).await;
    let trash = expect_json(api.get("/api/v1/trash", &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(trash["items"], json!([]));
    let usage = expect_json(api.get("/api/v1/me/usage", &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        usage,
        json!({ "media_count": 0, "disk_usage": 0, "quota": null, "used": 0, "available": null })
    );
}
