//! Prepared folder archives over HTTP on the fakes: 202 and the pending archive, the job
//! makes it ready, the ZIP downloads whole and in ranges with its headers and entity tag,
//! another user and unknown ids get the same 404, and the error codes of an archive that
//! is not ready.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::io::{Cursor, Read};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{app_with_users, assert_error, body_bytes};
use serde_json::{Value, json};

async fn request(app: &common::TestApp, token: &str, folder: &str) -> Value {
    let (status, archive) =
        app.call(Method::POST, "/api/v1/archives", Some(token), Some(json!({ "folder": folder }))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{archive}");
    archive
}

async fn content(
    app: &common::TestApp,
    token: &str,
    id: &str,
    headers: &[(&str, &str)],
) -> axum::response::Response {
    let mut builder = Request::get(format!("/api/v1/archives/{id}/content"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    app.send(builder.body(Body::empty()).unwrap()).await
}

fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip.to_vec())).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (file.name().unwrap().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_archive_is_built_by_the_job_and_downloads_as_a_zip() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    app.upload_ok(&alice, "$/trip", "notes.txt", b"day one").await;
    app.upload_ok(&alice, "$/trip/photos", "a.jpg", &[3u8; 70_000]).await;
    let archive = request(&app, &alice, "$/trip").await;
    assert_eq!(archive["status"], "pending");
    assert_eq!(archive["folder"], "$/trip");
    assert!(archive.get("size").is_none() && archive.get("link").is_none());
    let id = archive["id"].as_str().unwrap().to_owned();
    let response = content(&app, &alice, &id, &[]).await;
    assert_error(response, StatusCode::CONFLICT, "archive_pending").await;

    app.runner.run_due().await.unwrap();
    let (status, ready) = app.get(&format!("/api/v1/archives/{id}"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["files"], 2);
    assert_eq!(ready["link"], format!("/api/v1/archives/{id}/content"));
    let (_, listed) = app.get("/api/v1/archives", &alice).await;
    assert_eq!(listed["items"][0]["id"], id.as_str());

    let response = content(&app, &alice, &id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "application/zip");
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"trip.zip\"")
    );
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let zip = body_bytes(response).await;
    assert_eq!(zip.len() as u64, ready["size"].as_u64().unwrap());
    assert_eq!(
        entries(&zip),
        [("notes.txt".to_owned(), b"day one".to_vec()), ("photos/a.jpg".to_owned(), vec![3u8; 70_000])]
    );

    let part = content(&app, &alice, &id, &[("range", "bytes=10-19")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()[header::CONTENT_RANGE], format!("bytes 10-19/{}", zip.len()));
    assert_eq!(body_bytes(part).await, zip[10..20]);
    let cached = content(&app, &alice, &id, &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    // Bob gets what an unknown id gets, whatever he tries.
    for path in [format!("/api/v1/archives/{id}"), format!("/api/v1/archives/{id}/content")] {
        let (status, body) = app.get(&path, &bob).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    }
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/archives/{id}"), Some(&bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for unknown in ["0ujtsYcgvSTl8PAuAdqWYSMnLOv", "not-an-id"] {
        let (status, _) = app.get(&format!("/api/v1/archives/{unknown}"), &alice).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (_, bobs) = app.get("/api/v1/archives", &bob).await;
    assert_eq!(bobs["items"], json!([]));

    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/archives/{id}"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/api/v1/archives/{id}"), &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn requests_are_validated_and_need_a_session() {
    let (app, [alice]) = app_with_users(["alice"]).await;
    let (status, body) =
        app.call(Method::POST, "/api/v1/archives", Some(&alice), Some(json!({ "folder": "$/a/" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_path")));
    let (status, body) = app.call(Method::POST, "/api/v1/archives", Some(&alice), Some(json!({}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let (status, _) = app.call(Method::POST, "/api/v1/archives", None, Some(json!({ "folder": "$" }))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.call(Method::GET, "/api/v1/archives", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
