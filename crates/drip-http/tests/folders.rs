//! Folder routes of `/api/v1`: `POST /api/v1/folders/move` moves or renames a folder with
//! every file of the user's in it (shares follow, sharees see the new place), and
//! `DELETE /api/v1/folders?path=` sends the user's files in it to the trash, keeping files
//! shared with them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use axum::http::{Method, StatusCode};
use common::{app_with_users, code, encode};
use serde_json::{Value, json};

fn names(listing: &Value, key: &str) -> Vec<String> {
    listing[key].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect()
}

fn listing_of(path: &str) -> String {
    format!("/api/v1/folders?path={}", encode(path))
}

#[tokio::test]
async fn a_folder_moves_and_renames_with_its_files_and_shares() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    let shared = app.upload_ok(&alice, "$/trip", "plan.txt", b"plan").await;
    app.upload_ok(&alice, "$/trip/photos", "a.jpg", b"jpeg").await;
    assert_eq!(app.share(&alice, &shared, "bob").await.0, StatusCode::CREATED);
    let bobs = app.upload_ok(&bob, "$/trip", "bob.txt", b"bob").await;
    assert_eq!(app.share(&bob, &bobs, "alice").await.0, StatusCode::CREATED);

    let (status, moved) = app
        .call(
            Method::POST,
            "/api/v1/folders/move",
            Some(&alice),
            Some(json!({"from": "$/trip", "to": "$/2026/Lisbon trip"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved, json!({"path": "$/2026/Lisbon trip", "moved": 2}));

    let (_, listing) = app.get(&listing_of("$/2026/Lisbon trip"), &alice).await;
    assert_eq!(
        (names(&listing, "files"), names(&listing, "folders")),
        (vec!["plan.txt".to_owned()], vec!["photos".to_owned()])
    );
    let (_, listing) = app.get(&listing_of("$/trip"), &alice).await;
    assert_eq!(names(&listing, "files"), vec!["bob.txt"], "bob's file stays where bob keeps it: {listing}");
    let (_, info) = app.get(&format!("/api/v1/files/{shared}"), &bob).await;
    assert_eq!(info["folder"], "$/2026/Lisbon trip", "the sharee sees the new place: {info}");

    let (status, renamed) = app
        .call(
            Method::POST,
            "/api/v1/folders/move",
            Some(&alice),
            Some(json!({"from": "$/2026/Lisbon trip", "to": "$/2026/Lisbon"})),
        )
        .await;
    assert_eq!((status, renamed["moved"].as_u64()), (StatusCode::OK, Some(2)), "{renamed}");
    let (_, root) = app.get(&listing_of("$/2026"), &alice).await;
    assert_eq!(names(&root, "folders"), vec!["Lisbon"]);
}

#[tokio::test]
async fn folder_moves_refuse_clearly_and_change_nothing() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    app.upload_ok(&alice, "$/a", "x.txt", b"x").await;
    app.upload_ok(&alice, "$/b/a", "y.txt", b"y").await;
    app.upload_ok(&bob, "$/bobs", "z.txt", b"z").await;
    let deep = format!("$/{}", vec!["d"; 64].join("/"));
    app.upload_ok(&alice, &deep, "f", b"f").await;

    for (body, status, expected) in [
        (json!({"from": "$", "to": "$/r"}), StatusCode::BAD_REQUEST, "invalid_target"),
        (json!({"from": "$/a", "to": "$/a"}), StatusCode::CONFLICT, "folder_overlaps"),
        (json!({"from": "$/a", "to": "$/a/inner"}), StatusCode::CONFLICT, "folder_overlaps"),
        (json!({"from": "$/b/a", "to": "$/b"}), StatusCode::CONFLICT, "folder_overlaps"),
        (json!({"from": "$/a", "to": "$/b/a"}), StatusCode::CONFLICT, "folder_exists"),
        (json!({"from": "$/a", "to": "$/b"}), StatusCode::CONFLICT, "folder_exists"),
        (json!({"from": "$/bobs", "to": "$/mine"}), StatusCode::NOT_FOUND, "folder_not_found"),
        (json!({"from": "$/nothing", "to": "$/z"}), StatusCode::NOT_FOUND, "folder_not_found"),
        (json!({"from": "$/d", "to": "$/e/d"}), StatusCode::CONFLICT, "folder_too_deep"),
        (json!({"from": "$/a/", "to": "$/z"}), StatusCode::BAD_REQUEST, "invalid_path"),
        (json!({"from": "$/a", "to": "z"}), StatusCode::BAD_REQUEST, "invalid_path"),
        (json!({"from": "$/a"}), StatusCode::BAD_REQUEST, "invalid_request"),
    ] {
        let (got, answer) =
            app.call(Method::POST, "/api/v1/folders/move", Some(&alice), Some(body.clone())).await;
        assert_eq!((got, code(&answer)), (status, expected), "{body}: {answer}");
    }
    let (_, listing) = app.get(&listing_of("$/a"), &alice).await;
    assert_eq!(names(&listing, "files"), vec!["x.txt"]);
    let (status, _) =
        app.call(Method::POST, "/api/v1/folders/move", None, Some(json!({"from": "$/a", "to": "$/q"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_folder_delete_trashes_the_users_files_and_keeps_shared_ones() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    app.upload_ok(&alice, "$/old", "a.txt", b"a").await;
    app.upload_ok(&alice, "$/old/deeper", "b.txt", b"b").await;
    app.upload_ok(&alice, "$/older", "keep.txt", b"k").await;
    let bobs = app.upload_ok(&bob, "$/old", "bob.txt", b"bob").await;
    assert_eq!(app.share(&bob, &bobs, "alice").await.0, StatusCode::CREATED);

    let (status, done) = app.call(Method::DELETE, &listing_of("$/old"), Some(&alice), None).await;
    assert_eq!((status, done), (StatusCode::OK, json!({"deleted": 2, "kept": 1})));
    let (_, listing) = app.get(&listing_of("$/old"), &alice).await;
    assert_eq!((names(&listing, "files"), names(&listing, "folders")), (vec!["bob.txt".to_owned()], vec![]));
    let (_, root) = app.get(&listing_of("$"), &alice).await;
    assert_eq!(names(&root, "folders"), vec!["old", "older"]);
    let (_, trash) = app.get("/api/v1/trash", &alice).await;
    assert_eq!(names(&trash, "items"), vec!["a.txt", "b.txt"]);
    let (_, bobs_view) = app.get(&listing_of("$/old"), &bob).await;
    assert_eq!(names(&bobs_view, "files"), vec!["bob.txt"], "bob's own file is his");

    let (status, done) = app.call(Method::DELETE, &listing_of("$/old"), Some(&alice), None).await;
    assert_eq!(
        (status, done),
        (StatusCode::OK, json!({"deleted": 0, "kept": 1})),
        "only shared files are left"
    );
    for (path, status, expected) in [
        ("$", StatusCode::BAD_REQUEST, "invalid_target"),
        ("$/gone", StatusCode::NOT_FOUND, "folder_not_found"),
        ("$/old/", StatusCode::BAD_REQUEST, "invalid_path"),
    ] {
        let (got, answer) = app.call(Method::DELETE, &listing_of(path), Some(&alice), None).await;
        assert_eq!((got, code(&answer)), (status, expected), "{path}: {answer}");
    }
    let (status, answer) = app.call(Method::DELETE, "/api/v1/folders", Some(&alice), None).await;
    assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, "invalid_query"));
}
