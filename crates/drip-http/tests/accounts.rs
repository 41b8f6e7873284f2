//! Account routes of `/api/v1`: register, login, refresh, logout, me, usage, and the
//! authentication and body errors every route shares.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{app, app_with, body_json, code};
use drip_core::storage::StorageSettings;
use drip_http::HttpSettings;
use serde_json::json;

#[tokio::test]
async fn register_login_me_and_usage() {
    let app = app();
    let session = app.register_session("alice").await;
    assert_eq!(session["user"]["username"], "alice");
    assert_eq!(session["user"]["email"], "alice@example.com");
    assert_eq!(session["token_type"], "Bearer");
    assert!(session["refresh_token"].as_str().unwrap().len() >= 43);
    assert_eq!(session["expires_at"], "2024-01-01T00:15:00Z");

    let (status, login) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"username": "alice", "password": "password1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = login["access_token"].as_str().unwrap();

    let (status, me) = app.get("/api/v1/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, json!({"id": session["user"]["id"], "username": "alice", "email": "alice@example.com"}));

    app.upload_ok(token, "$", "a.txt", b"hello").await;
    let (status, usage) = app.get("/api/v1/me/usage", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usage, json!({"media_count": 1, "disk_usage": 5}));
}

#[tokio::test]
async fn registration_errors() {
    let app = app();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/users",
            None,
            Some(json!({"username": "", "email": "nope", "password": "password1"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_registration");
    assert_eq!(body["error"]["details"]["fields"], json!(["username", "email"]));

    app.register("bob").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/users",
            None,
            Some(json!({"username": "BOB", "email": "b@example.com", "password": "password1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "username_taken");
}

#[tokio::test]
async fn wrong_credentials_are_one_error() {
    let app = app();
    app.register("carol").await;
    for (username, password) in [("carol", "wrong-password"), ("nobody", "password1"), ("carol", "x")] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/sessions",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), "invalid_credentials");
        assert_eq!(body["error"]["message"], "Invalid username/password combination.");
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes() {
    let app = app();
    let session = app.register_session("dave").await;
    let first = session["refresh_token"].as_str().unwrap();
    let (status, rotated) =
        app.call(Method::POST, "/api/v1/sessions/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(status, StatusCode::OK);
    let second = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(first, second);

    let (status, body) =
        app.call(Method::POST, "/api/v1/sessions/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "refresh_token_reused");
    let (status, body) = app
        .call(Method::POST, "/api/v1/sessions/refresh", None, Some(json!({"refresh_token": second})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "refresh_token_revoked");
    let (status, body) = app
        .call(Method::POST, "/api/v1/sessions/refresh", None, Some(json!({"refresh_token": "garbage"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "invalid_refresh_token");
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = app();
    let session = app.register_session("erin").await;
    let refresh = session["refresh_token"].as_str().unwrap();
    let (status, body) =
        app.call(Method::DELETE, "/api/v1/sessions", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, serde_json::Value::Null);
    let (status, body) = app
        .call(Method::POST, "/api/v1/sessions/refresh", None, Some(json!({"refresh_token": refresh})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "refresh_token_revoked");
}

#[tokio::test]
async fn tokens_missing_forged_or_expired_are_401() {
    let app = app();
    let token = app.register("frank").await;

    let (status, body) = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "unauthenticated");

    let response = app.send(Request::get("/api/v1/me").body(Body::empty()).unwrap()).await;
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");

    let mut forged = token.clone();
    forged.push('x');
    let (status, body) = app.get("/api/v1/me", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "invalid_token");
    let (status, body) = app.get("/api/v1/me", "eyJhbGciOiJub25lIn0.e30.").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "invalid_token");

    app.fakes.clock.advance(chrono::Duration::minutes(16));
    let (status, body) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_expired");
    assert!(body["error"]["request_id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn json_bodies_are_checked() {
    let app = app_with(
        HttpSettings { max_json_bytes: 1024, ..HttpSettings::default() },
        StorageSettings::default(),
        Vec::new(),
    );
    let send = |content_type: Option<&str>, body: String| {
        let mut builder = Request::post("/api/v1/sessions");
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        app.send(builder.body(Body::from(body)).unwrap())
    };

    let response = send(Some("application/json"), "{\"username\": ".to_owned()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&body_json(response).await), "invalid_json");

    let response = send(Some("application/json"), "{\"username\": 5}".to_owned()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&body_json(response).await), "invalid_request");

    let response = send(Some("text/plain"), "{}".to_owned()).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(code(&body_json(response).await), "unsupported_media_type");
    let response = send(None, "{}".to_owned()).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let big = json!({"username": "x".repeat(2000), "password": "password1"}).to_string();
    let response = send(Some("application/json"), big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body_json(response).await), "payload_too_large");
}
