//! Download URLs over HTTP on the fakes: a URL opens its file or archive with no header
//! (whole, in ranges, with `Content-Disposition: attachment`), only for files the user can
//! see then and now; it ends when it expires (on the fakes' clock) or its session does;
//! and a URL's ticket is no access token, nor an access token a ticket.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, Response, StatusCode, header};
use common::{TestApp, app_with_users, assert_error, body_bytes};
use drip_core::clock::Clock as _;
use serde_json::json;

/// Asks for a download URL at `uri` as `token`'s user; answers status and URL.
async fn url_of(app: &TestApp, token: &str, uri: &str) -> (StatusCode, String) {
    let (status, body) = app.call(Method::POST, uri, Some(token), None).await;
    (status, body["url"].as_str().unwrap_or_default().to_owned())
}

async fn file_url(app: &TestApp, token: &str, id: &str) -> String {
    let (status, url) = url_of(app, token, &format!("/api/v1/files/{id}/download-url")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(url.starts_with("/api/v1/downloads/"), "{url}");
    url
}

/// A plain `GET` of `url`, as a browser's download manager sends it.
async fn open(app: &TestApp, url: &str, headers: &[(&str, &str)]) -> Response<Body> {
    let mut builder = Request::get(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    app.send(builder.body(Body::empty()).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_url_opens_the_file_without_a_header_whole_and_in_ranges() {
    let (app, [alice]) = app_with_users(["alice"]).await;
    let id = app.upload_ok(&alice, "$/docs", "report 1.txt", b"the quarterly figures").await;
    let (status, body) =
        app.call(Method::POST, &format!("/api/v1/files/{id}/download-url"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires.with_timezone(&chrono::Utc), app.fakes.clock.now() + chrono::Duration::minutes(5));
    let url = body["url"].as_str().unwrap();

    let whole = open(&app, url, &[]).await;
    assert_eq!(whole.status(), StatusCode::OK);
    let disposition = whole.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"report 1.txt\""), "{disposition}");
    assert_eq!(whole.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let etag = whole.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(body_bytes(whole).await, Bytes::from_static(b"the quarterly figures"));

    // A download manager resumes with a range, and may ask again: the URL serves both.
    let part = open(&app, url, &[("range", "bytes=4-12")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(body_bytes(part).await, Bytes::from_static(b"quarterly"));
    assert_eq!(open(&app, url, &[("if-none-match", &etag)]).await.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_files_the_user_can_see_get_a_url_and_a_withdrawn_share_ends_it() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    let id = app.upload_ok(&alice, "$", "plan.txt", b"secret plan").await;
    let (status, _) = url_of(&app, &bob, &format!("/api/v1/files/{id}/download-url")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not shared with bob");
    let unknown = "0ujtsYcgvSTl8PAuAdqWYSMnLOv";
    for uri in [format!("/api/v1/files/{unknown}/download-url"), "/api/v1/files/nope/download-url".to_owned()]
    {
        assert_eq!(url_of(&app, &alice, &uri).await.0, StatusCode::NOT_FOUND, "{uri}");
    }
    let (status, _) = app.call(Method::POST, &format!("/api/v1/files/{id}/download-url"), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(app.share(&alice, &id, "bob").await.0, StatusCode::CREATED);
    let url = file_url(&app, &bob, &id).await;
    assert_eq!(body_bytes(open(&app, &url, &[]).await).await, Bytes::from_static(b"secret plan"));
    let (status, _) =
        app.call(Method::DELETE, &format!("/api/v1/files/{id}/shares/bob"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(open(&app, &url, &[]).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_url_expires_and_ends_with_its_session() {
    let (app, [_]) = app_with_users(["carol"]).await;
    let session = app.register_session("alice").await;
    let alice = session["access_token"].as_str().unwrap().to_owned();
    let id = app.upload_ok(&alice, "$", "a.txt", b"abc").await;
    let url = file_url(&app, &alice, &id).await;
    app.fakes.clock.advance(chrono::Duration::seconds(299));
    assert_eq!(open(&app, &url, &[]).await.status(), StatusCode::OK, "valid for 5 minutes");
    app.fakes.clock.advance(chrono::Duration::seconds(1));
    assert_error(open(&app, &url, &[]).await, StatusCode::GONE, "download_expired").await;

    // A second session of hers, a URL in it, then its logout: that URL is dead.
    let (status, login) =
        app.post_json("/api/v1/sessions", json!({"username": "alice", "password": "password1"})).await;
    assert_eq!(status, StatusCode::OK);
    let alice = login["access_token"].as_str().unwrap();
    let url = file_url(&app, alice, &id).await;
    assert_eq!(open(&app, &url, &[]).await.status(), StatusCode::OK);
    let refresh = login["refresh_token"].as_str().unwrap();
    let (status, _) =
        app.call(Method::DELETE, "/api/v1/sessions", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(open(&app, &url, &[]).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_is_no_access_token_and_an_access_token_no_ticket() {
    let (app, [alice]) = app_with_users(["alice"]).await;
    let id = app.upload_ok(&alice, "$", "a.txt", b"abc").await;
    let url = file_url(&app, &alice, &id).await;
    let ticket = url.strip_prefix("/api/v1/downloads/").unwrap();
    let (status, _) = app.get("/api/v1/me", ticket).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a ticket is refused as a bearer token");
    let response = app.download(ticket, &id, &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for wrong in [alice.clone(), format!("{ticket}x"), "garbage".to_owned()] {
        let response = open(&app, &format!("/api/v1/downloads/{wrong}"), &[]).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_gets_a_download_url_once_it_is_its_owners() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    app.upload_ok(&alice, "$/trip", "notes.txt", b"day one").await;
    let (status, archive) =
        app.call(Method::POST, "/api/v1/archives", Some(&alice), Some(json!({ "folder": "$/trip" }))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let uri = format!("/api/v1/archives/{}/download-url", archive["id"].as_str().unwrap());
    let (status, pending) = url_of(&app, &alice, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_error(open(&app, &pending, &[]).await, StatusCode::CONFLICT, "archive_pending").await;
    assert_eq!(url_of(&app, &bob, &uri).await.0, StatusCode::NOT_FOUND, "not bob's archive");

    app.runner.run_due().await.unwrap();
    let ready = open(&app, &pending, &[]).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.headers()[header::CONTENT_TYPE], "application/zip");
    assert!(ready.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().contains("trip.zip"));
    assert!(body_bytes(ready).await.starts_with(b"PK"));
}
