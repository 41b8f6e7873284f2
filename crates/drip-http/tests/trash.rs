//! Trash routes of `/api/v1`: a delete moves a file to the trash (hidden from its creator
//! and sharees, its name free), `GET /api/v1/trash` lists it, a restore brings it back (409
//! on a taken name, with an optional `name`), `DELETE /api/v1/trash/{id}` and
//! `DELETE /api/v1/trash` purge; `?permanent=true` skips the trash.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{app_with_storage, app_with_users, body_json, code};
use drip_core::storage::StorageSettings;
use serde_json::{Value, json};

fn names(listing: &Value) -> Vec<&str> {
    listing["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn delete_trashes_then_restore_brings_back_the_file_and_its_share() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    let id = app.upload_ok(&alice, "$/docs", "a.txt", b"aaa").await;
    assert_eq!(app.share(&alice, &id, "bob").await.0, StatusCode::CREATED);
    let file = format!("/api/v1/files/{id}");

    let (status, body) = app.call(Method::DELETE, &file, Some(&bob), None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "a sharee cannot delete");
    let (status, body) = app.call(Method::DELETE, &file, Some(&alice), None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    for user in [&alice, &bob] {
        assert_eq!(app.get(&file, user).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("{file}/content"), user).await.0, StatusCode::NOT_FOUND);
        let (_, listing) = app.get("/api/v1/folders?path=%24%2Fdocs", user).await;
        assert!(names(&listing).is_empty(), "{listing}");
    }
    let (_, bobs_trash) = app.get("/api/v1/trash", &bob).await;
    assert_eq!(bobs_trash["items"], json!([]), "a sharee never sees another's trash");
    let (status, trash) = app.get("/api/v1/trash", &alice).await;
    assert_eq!(status, StatusCode::OK);
    let item = &trash["items"][0];
    assert_eq!(
        (item["id"].as_str(), item["name"].as_str(), item["folder"].as_str()),
        (Some(&*id), Some("a.txt"), Some("$/docs"))
    );
    assert_eq!(item["size"], 3);
    assert!(item["deleted_at"].is_string() && item["purge_at"].is_string(), "{item}");
    assert_eq!(trash["next_cursor"], Value::Null);
    let (_, usage) = app.get("/api/v1/me/usage", &alice).await;
    assert_eq!(usage["media_count"], 1, "the trash counts towards the quota: {usage}");

    let restore = format!("/api/v1/trash/{id}/restore");
    let (status, body) = app.call(Method::POST, &restore, Some(&bob), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, restored) = app.call(Method::POST, &restore, Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!((restored["name"].as_str(), restored["folder"].as_str()), (Some("a.txt"), Some("$/docs")));
    let (status, info) = app.get(&file, &bob).await;
    assert_eq!((status, info["shared_by"].as_str()), (StatusCode::OK, Some("alice")), "the share is back");
    assert_eq!(app.get("/api/v1/trash", &alice).await.1["items"], json!([]));
}

#[tokio::test]
async fn a_restore_onto_a_taken_name_is_a_conflict_until_given_another_name() {
    let (app, [alice]) = app_with_users(["alice"]).await;
    let id = app.upload_ok(&alice, "$", "a.txt", b"old").await;
    app.call(Method::DELETE, &format!("/api/v1/files/{id}"), Some(&alice), None).await;
    app.upload_ok(&alice, "$", "a.txt", b"new").await;

    let restore = format!("/api/v1/trash/{id}/restore");
    for body in [json!({}), Value::Null] {
        let (status, body) = app.call(Method::POST, &restore, Some(&alice), Some(body)).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "already_exists"));
    }
    let (status, body) = app.call(Method::POST, &restore, Some(&alice), Some(json!({"name": "a/b"}))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_name"));
    let (status, body) = app.call(Method::POST, &restore, Some(&alice), Some(json!({"nom": "x"}))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (status, body) =
        app.call(Method::POST, &restore, Some(&alice), Some(json!({"name": "a (old).txt"}))).await;
    assert_eq!((status, body["name"].as_str()), (StatusCode::OK, Some("a (old).txt")));
    let (_, listing) = app.get("/api/v1/folders", &alice).await;
    assert_eq!(names(&listing), ["a (old).txt", "a.txt"]);
}

#[tokio::test]
async fn a_restore_body_is_json_when_there_is_one() {
    let (app, [alice]) = app_with_users(["alice"]).await;
    let id = app.upload_ok(&alice, "$", "a.txt", b"a").await;
    app.call(Method::DELETE, &format!("/api/v1/files/{id}"), Some(&alice), None).await;
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/trash/{id}/restore"))
        .header(header::AUTHORIZATION, format!("Bearer {alice}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("a.txt"))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(code(&body_json(response).await), "unsupported_media_type");

    let empty_json = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/trash/{id}/restore"))
        .header(header::AUTHORIZATION, format!("Bearer {alice}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "0")
        .body(Body::empty())
        .unwrap();
    let response = app.send(empty_json).await;
    assert_eq!(response.status(), StatusCode::OK, "no bytes is no body, whatever its type");

    let name = "n".repeat(100 * 1024);
    let (status, body) =
        app.call(Method::POST, "/api/v1/trash/x/restore", Some(&alice), Some(json!({"name": name}))).await;
    assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
}

#[tokio::test]
async fn purge_and_empty_remove_files_for_good() {
    let (app, [alice]) = app_with_users(["alice"]).await;
    let mut ids = Vec::new();
    for name in ["a.txt", "b.txt", "c.txt"] {
        let id = app.upload_ok(&alice, "$", name, b"12345").await;
        app.call(Method::DELETE, &format!("/api/v1/files/{id}"), Some(&alice), None).await;
        ids.push(id);
    }
    assert_eq!(app.fakes.objects.len(), 3, "trashed objects stay until purged");

    let (status, _) =
        app.call(Method::DELETE, &format!("/api/v1/trash/{}", ids[0]), Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) =
        app.call(Method::DELETE, &format!("/api/v1/trash/{}", ids[0]), Some(&alice), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (_, page) = app.get("/api/v1/trash?limit=1", &alice).await;
    assert_eq!(page["items"][0]["name"], "b.txt");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, next) = app.get(&format!("/api/v1/trash?limit=1&cursor={cursor}"), &alice).await;
    assert_eq!((next["items"][0]["name"].as_str(), &next["next_cursor"]), (Some("c.txt"), &Value::Null));

    let (status, body) = app.call(Method::DELETE, "/api/v1/trash", Some(&alice), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"purged": 2})));
    app.fakes.run_jobs().await;
    assert!(app.fakes.objects.is_empty(), "every object went");
    assert_eq!(app.get("/api/v1/me/usage", &alice).await.1["media_count"], 0);
    let (status, _) =
        app.call(Method::POST, &format!("/api/v1/trash/{}/restore", ids[1]), Some(&alice), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn permanent_deletes_skip_the_trash_and_bad_flags_are_refused() {
    let (app, [alice]) = app_with_users(["alice"]).await;
    let id = app.upload_ok(&alice, "$", "a.txt", b"a").await;
    let (status, body) =
        app.call(Method::DELETE, &format!("/api/v1/files/{id}?permanent=maybe"), Some(&alice), None).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_query"));
    let (status, _) =
        app.call(Method::DELETE, &format!("/api/v1/files/{id}?permanent=true"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/trash", &alice).await.1["items"], json!([]));
    app.fakes.run_jobs().await;
    assert!(app.fakes.objects.is_empty());
}

#[tokio::test]
async fn without_a_trash_a_delete_is_permanent() {
    let app = app_with_storage(StorageSettings { trash_retention: None, ..StorageSettings::default() });
    let alice = app.register("alice").await;
    let id = app.upload_ok(&alice, "$", "a.txt", b"a").await;
    app.call(Method::DELETE, &format!("/api/v1/files/{id}"), Some(&alice), None).await;
    assert_eq!(app.get("/api/v1/trash", &alice).await.1["items"], json!([]));
    assert_eq!(app.get("/api/v1/me/usage", &alice).await.1["media_count"], 0);
}
