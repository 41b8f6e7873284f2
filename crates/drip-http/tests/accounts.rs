//! Account routes of `/api/v1`: register, login, refresh, logout, me, usage, and the
//! authentication and body errors every route shares.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{app, app_with, assert_error, code};
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

    let (status, login) =
        app.post_json("/api/v1/sessions", json!({"username": "alice", "password": "password1"})).await;
    assert_eq!(status, StatusCode::OK);
    let token = login["access_token"].as_str().unwrap();

    let (status, me) = app.get("/api/v1/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, json!({"id": session["user"]["id"], "username": "alice", "email": "alice@example.com"}));

    app.upload_ok(token, "$", "a.txt", b"hello").await;
    let (status, usage) = app.get("/api/v1/me/usage", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        usage,
        json!({"media_count": 1, "disk_usage": 5, "quota": null, "used": 5, "available": null})
    );
}

#[tokio::test]
async fn registration_errors() {
    let app = app();
    let invalid = json!({"username": "", "email": "nope", "password": "password1"});
    let (status, body) = app.post_json("/api/v1/users", invalid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_registration");
    assert_eq!(body["error"]["details"]["fields"], json!(["username", "email"]));

    app.register("bob").await;
    let taken = json!({"username": "BOB", "email": "b@example.com", "password": "password1"});
    let (status, body) = app.post_json("/api/v1/users", taken).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "username_taken"));
}

#[tokio::test]
async fn wrong_credentials_are_one_error() {
    let app = app();
    app.register("carol").await;
    for (username, password) in [("carol", "wrong-password"), ("nobody", "password1"), ("carol", "x")] {
        let (status, body) =
            app.post_json("/api/v1/sessions", json!({"username": username, "password": password})).await;
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
    let (status, rotated) = app.refresh(first).await;
    assert_eq!(status, StatusCode::OK);
    let second = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(first, second);

    for (token, expected) in [
        (first, "refresh_token_reused"),
        (second, "refresh_token_revoked"),
        ("garbage", "invalid_refresh_token"),
    ] {
        let (status, body) = app.refresh(token).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, expected), "{token}");
    }
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
    let (status, body) = app.refresh(refresh).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "refresh_token_revoked"));
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

    for forged in [format!("{token}x"), "eyJhbGciOiJub25lIn0.e30.".to_owned()] {
        let (status, body) = app.get("/api/v1/me", &forged).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_token"), "{forged}");
    }

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

    let big = json!({"username": "x".repeat(2000), "password": "password1"}).to_string();
    for (content_type, body, status, expected) in [
        ("application/json", "{\"username\": ".to_owned(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("application/json", "{\"username\": 5}".to_owned(), StatusCode::BAD_REQUEST, "invalid_request"),
        ("text/plain", "{}".to_owned(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("application/json", big, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ] {
        assert_error(send(Some(content_type), body).await, status, expected).await;
    }
    let response = send(None, "{}".to_owned()).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn token_responses_are_never_stored_and_nothing_is_sniffed() {
    let app = app();
    let register =
        Request::post("/api/v1/users").header(header::CONTENT_TYPE, "application/json").body(Body::from(
            json!({"username": "alice", "email": "alice@example.com", "password": "password1"}).to_string(),
        ));
    let login = Request::post("/api/v1/sessions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"username": "alice", "password": "password1"}).to_string()));
    let mut refresh_token = String::new();
    for request in [register.unwrap(), login.unwrap()] {
        let response = app.send(request).await;
        assert!(response.status().is_success());
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        refresh_token = common::body_json(response).await["refresh_token"].as_str().unwrap().to_owned();
    }
    let refresh = Request::post("/api/v1/sessions/refresh")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "refresh_token": refresh_token }).to_string()))
        .unwrap();
    let response = app.send(refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    for uri in ["/api/v1/me", "/health", "/api/v1/nothing", "/api/files"] {
        let response = app.send(Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(response.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
    }
}

#[tokio::test]
async fn logout_and_a_revoked_family_end_the_access_token_at_once() {
    let app = app();
    let session = app.register_session("gina").await;
    let access = session["access_token"].as_str().unwrap();
    let refresh = session["refresh_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", access).await.0, StatusCode::OK);
    let (status, _) =
        app.call(Method::DELETE, "/api/v1/sessions", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for uri in ["/api/v1/me", "/api/v1/files", "/api/v1/folders?path=%24"] {
        let (status, body) = app.get(uri, access).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_token"), "{uri}");
    }

    // A reused refresh token revokes its family: every access token of it ends.
    let session = app.register_session("hank").await;
    let first_refresh = session["refresh_token"].as_str().unwrap();
    let (_, rotated) = app.refresh(first_refresh).await;
    let rotated_access = rotated["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", rotated_access).await.0, StatusCode::OK);
    let (status, body) = app.refresh(first_refresh).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "refresh_token_reused"));
    let (status, body) = app.get("/api/v1/me", rotated_access).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_token"));
    // Other sessions of the same user are untouched.
    let (status, other) =
        app.post_json("/api/v1/sessions", json!({"username": "hank", "password": "password1"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me", other["access_token"].as_str().unwrap()).await.0, StatusCode::OK);
}

#[tokio::test]
async fn closing_an_account_removes_its_files_shares_and_sessions() {
    let (app, [alice, bob]) = common::app_with_users(["alice", "bob"]).await;
    let own = app.upload_ok(&alice, "$/docs", "mine.txt", b"alice's").await;
    app.share(&alice, &own, "bob").await;
    let bobs = app.upload_ok(&bob, "$", "bobs.txt", b"bob's").await;
    app.share(&bob, &bobs, "alice").await;
    let objects_before = app.fakes.objects.len();

    let close = |password: &str| json!({ "password": password });
    let (status, body) =
        app.call(Method::DELETE, "/api/v1/me", Some(&alice), Some(close("wrong-password"))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    assert_eq!(app.get(&format!("/api/v1/files/{own}"), &bob).await.0, StatusCode::OK, "nothing changed");

    let (status, body) = app.call(Method::DELETE, "/api/v1/me", Some(&alice), Some(close("password1"))).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, serde_json::Value::Null));
    for uri in [
        "/api/v1/me",
        "/api/v1/me/usage",
        "/api/v1/files",
        "/api/v1/folders?path=%24",
        "/api/v1/search?q=mine",
        "/api/v1/users/top",
    ] {
        let (status, body) = app.get(uri, &alice).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_token"), "{uri}");
    }
    let legacy = app
        .send(
            Request::get("/api/files?path=%24")
                .header(header::AUTHORIZATION, format!("Bearer {alice}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(legacy.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = app.get(&format!("/api/v1/files/{own}"), &bob).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "the share went too");
    let (status, body) = app.get(&format!("/api/v1/files/{bobs}/shares"), &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["shares"], json!([]), "what bob shared with alice is no longer shared: {body}");
    app.fakes.run_jobs().await;
    assert_eq!(app.fakes.objects.len(), objects_before - 1, "alice's object is removed by its job");
    app.register("alice").await; // the name is free again
}

/// Logs in as `username`; answers the status, `Retry-After` (if any) and the body.
async fn login_as(
    app: &common::TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Option<u64>, String) {
    let request = Request::post("/api/v1/sessions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "username": username, "password": password }).to_string()))
        .unwrap();
    let response = app.send(request).await;
    let status = response.status();
    let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().parse().unwrap());
    let body = common::body_json(response).await;
    (status, retry, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn password_guessing_is_throttled_per_account_alike_for_unknown_names() {
    let app = app();
    app.register("alice").await;
    for username in ["alice", "nobody"] {
        for _ in 0..5 {
            let (status, retry, code) = login_as(&app, username, "wrong-password").await;
            assert_eq!(
                (status, retry, code.as_str()),
                (StatusCode::UNAUTHORIZED, None, "invalid_credentials")
            );
        }
        // The sixth waits a second, whatever the password, and costs no hash.
        let (status, retry, code) = login_as(&app, username, "password1").await;
        assert_eq!(
            (status, retry, code.as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some(1), "too_many_attempts")
        );
    }
    let hashes = app.fakes.hasher.verifications() + app.fakes.hasher.dummy_verifications();
    let (status, ..) = login_as(&app, "alice", "password1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let after = app.fakes.hasher.verifications() + app.fakes.hasher.dummy_verifications();
    assert_eq!(after, hashes, "a throttled attempt is not checked");

    app.fakes.clock.advance(chrono::Duration::seconds(1));
    let (status, ..) = login_as(&app, "alice", "wrong-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "one more guess after the wait");
    let (status, retry, _) = login_as(&app, "alice", "password1").await;
    assert_eq!((status, retry), (StatusCode::TOO_MANY_REQUESTS, Some(2)), "and the wait doubles");
    app.fakes.clock.advance(chrono::Duration::seconds(2));
    let (status, ..) = login_as(&app, "alice", "password1").await;
    assert_eq!(status, StatusCode::OK, "the right password after the wait");
    for _ in 0..5 {
        assert_eq!(login_as(&app, "alice", "wrong-password").await.0, StatusCode::UNAUTHORIZED, "reset");
    }
    let (status, ..) = login_as(&app, "alice", "password1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn guesses_from_one_client_are_throttled_across_accounts_and_refresh_tokens() {
    let app = app();
    app.register("alice").await;
    // Every request of these tests comes from one address (127.0.0.1).
    for n in 0..20 {
        let (status, ..) = login_as(&app, &format!("user{n}"), "wrong-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let (status, retry, code) = login_as(&app, "alice", "password1").await;
    assert_eq!((status, retry, code.as_str()), (StatusCode::TOO_MANY_REQUESTS, Some(1), "too_many_attempts"));
    let (status, body) = app.refresh("a-guessed-refresh-token").await;
    assert_eq!((status, common::code(&body)), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"));
    assert_eq!(body["error"]["details"]["retry_after"], 1);

    let fresh = app_with(HttpSettings::default(), StorageSettings::default(), Vec::new());
    for n in 0..20 {
        let (status, body) = fresh.refresh(&format!("guess-{n}")).await;
        assert_eq!((status, common::code(&body)), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"));
    }
    let (status, body) = fresh.refresh("guess-21").await;
    assert_eq!((status, common::code(&body)), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"));
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    let app = app();
    let here = app.register_session("alice").await;
    let (status, elsewhere) =
        app.post_json("/api/v1/sessions", json!({"username": "alice", "password": "password1"})).await;
    assert_eq!(status, StatusCode::OK, "{elsewhere}");
    let token = here["access_token"].as_str().unwrap();
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    for (body, status, expected) in [
        (change("wrong-password", "a new password"), StatusCode::UNAUTHORIZED, "invalid_credentials"),
        (change("password1", "short"), StatusCode::BAD_REQUEST, "invalid_password"),
        (json!({"current_password": "password1"}), StatusCode::BAD_REQUEST, "invalid_request"),
    ] {
        let (got, answer) =
            app.call(Method::PUT, "/api/v1/me/password", Some(token), Some(body.clone())).await;
        assert_eq!((got, code(&answer)), (status, expected), "{body}: {answer}");
    }
    assert_eq!(app.get("/api/v1/me", elsewhere["access_token"].as_str().unwrap()).await.0, StatusCode::OK);

    let (status, body) = app
        .call(Method::PUT, "/api/v1/me/password", Some(token), Some(change("password1", "a new password")))
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, serde_json::Value::Null));
    assert_eq!(app.get("/api/v1/me", token).await.0, StatusCode::OK, "this session stays");
    let (status, body) = app.get("/api/v1/me", elsewhere["access_token"].as_str().unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_token"), "the other session ended");
    let (status, _) = app.refresh(elsewhere["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        app.post_json("/api/v1/sessions", json!({"username": "alice", "password": "password1"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (status, _) =
        app.post_json("/api/v1/sessions", json!({"username": "alice", "password": "a new password"})).await;
    assert_eq!(status, StatusCode::OK);
}

/// Logs `username` in from a client that calls itself `agent`; answers the session body.
async fn login_as_client(app: &common::TestApp, username: &str, agent: &str) -> serde_json::Value {
    let body = json!({"username": username, "password": "password1"}).to_string();
    let request = Request::post("/api/v1/sessions")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, agent)
        .body(Body::from(body))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    common::body_json(response).await
}

#[tokio::test]
async fn a_user_sees_their_sessions_and_ends_one_elsewhere() {
    let app = app();
    let here = app.register_session("alice").await;
    let token = here["access_token"].as_str().unwrap();
    let phone = login_as_client(&app, "alice", "Mozilla/5.0 (Linux; Android 15)\t  Mobile   Safari ").await;
    let bob = app.register("bob").await;

    let (status, listed) = app.get("/api/v1/me/sessions", token).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    let current: Vec<bool> = sessions.iter().map(|s| s["current"].as_bool().unwrap()).collect();
    assert_eq!(current.iter().filter(|c| **c).count(), 1, "exactly one is the asking one: {listed}");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["client"], "Mozilla/5.0 (Linux; Android 15) Mobile Safari", "one line, single spaces");
    let mine = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(mine["client"], serde_json::Value::Null, "no User-Agent, no label");
    for field in ["started_at", "last_active_at", "expires_at"] {
        assert!(other[field].as_str().unwrap().ends_with('Z'), "{field}: {other}");
    }

    // A renewal is the same session, with the same label.
    let (status, renewed) = app.refresh(phone["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = app.get("/api/v1/me/sessions", token).await;
    let ids: Vec<&str> =
        again["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&other["id"].as_str().unwrap()), "{again}");
    assert_eq!(ids.len(), 2);

    // Nobody ends a session that is not theirs, or none.
    let (_, bobs) = app.get("/api/v1/me/sessions", &bob).await;
    let bobs_id = bobs["sessions"][0]["id"].as_str().unwrap().to_owned();
    for id in [bobs_id.as_str(), "not-a-session-id", "2ZQ4F4ES5Z6L5zNl9RjDZuEnUts"] {
        let uri = format!("/api/v1/me/sessions/{id}");
        let (status, body) = app.call(Method::DELETE, &uri, Some(token), None).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "session_not_found"), "{id}");
    }
    assert_eq!(app.get("/api/v1/me", &bob).await.0, StatusCode::OK, "bob's session stays");

    let uri = format!("/api/v1/me/sessions/{}", other["id"].as_str().unwrap());
    let (status, _) = app.call(Method::DELETE, &uri, Some(token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let phones_token = renewed["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", phones_token).await.0, StatusCode::UNAUTHORIZED, "ended at once");
    let (status, body) = app.refresh(renewed["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "refresh_token_revoked"));
    let (status, body) = app.call(Method::DELETE, &uri, Some(token), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "session_not_found"), "once only");
    let (_, left) = app.get("/api/v1/me/sessions", token).await;
    assert_eq!(left["sessions"].as_array().unwrap().len(), 1, "{left}");

    // Ending the asking session is logging out.
    let uri = format!("/api/v1/me/sessions/{}", left["sessions"][0]["id"].as_str().unwrap());
    assert_eq!(app.call(Method::DELETE, &uri, Some(token), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", token).await.0, StatusCode::UNAUTHORIZED);
}
