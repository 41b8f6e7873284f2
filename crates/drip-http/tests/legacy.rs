//! The original ElixirDrip endpoints: exact response shapes, cookie sessions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use common::{TestApp, app, body_json};
use serde_json::json;

fn get_files(query: &str, auth: Option<(&str, &str)>) -> Request<Body> {
    let mut builder = Request::get(format!("/api/files{query}"));
    if let Some((name, value)) = auth {
        builder = builder.header(name, value);
    }
    builder.body(Body::empty()).unwrap()
}

/// A login at the original's `POST /api/sessions`.
async fn log_in(app: &TestApp, content_type: &str, body: impl Into<Body>) -> Response<Body> {
    let request =
        Request::post("/api/sessions").header(header::CONTENT_TYPE, content_type).body(body.into()).unwrap();
    app.send(request).await
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn files_listing_has_the_original_shape() {
    let app = app();
    let token = app.register("alice").await;
    let a = app.upload_ok(&token, "$", "a.txt", b"abc").await;
    app.upload_ok(&token, "$/photos", "p.png", b"12345").await;
    app.upload_ok(&token, "$/photos/2018", "q.png", b"1").await;
    let bearer = format!("Bearer {token}");

    let response = app.send(get_files("?path=%24", Some(("authorization", &bearer)))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_json(response).await,
        json!({"response": {
            "files": [{"id": a, "name": "a.txt", "full_path": "$", "size": 3}],
            "folders": [{"name": "photos", "size": 6, "files": 2}],
        }})
    );

    let response = app.send(get_files("?path=%24%2Fphotos", Some(("authorization", &bearer)))).await;
    let body = body_json(response).await;
    assert_eq!(body["response"]["files"][0]["full_path"], "$/photos");
    assert_eq!(body["response"]["folders"], json!([{"name": "2018", "size": 1, "files": 1}]));

    let response = app.send(get_files("?path=%24%2Fnothing", Some(("authorization", &bearer)))).await;
    assert_eq!(body_json(response).await, json!({"response": {"files": [], "folders": []}}));
}

#[tokio::test]
async fn files_listing_errors_have_the_original_shape() {
    let app = app();
    let token = app.register("alice").await;
    let bearer = format!("Bearer {token}");

    let response = app.send(get_files("", Some(("authorization", &bearer)))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body_json(response).await,
        json!({"error": "bad request", "details": "Missing 'path' query parameter"})
    );

    for bad in ["?path=%24%2F", "?path=abc", "?path="] {
        let response = app.send(get_files(bad, Some(("authorization", &bearer)))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            body_json(response).await,
            json!({"error": "bad request", "details": "The path provided is invalid."})
        );
    }

    for auth in [None, Some(("authorization", "Bearer forged")), Some(("cookie", "drip_session=forged"))] {
        let response = app.send(get_files("?path=%24", auth)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body_json(response).await, json!({"error": "Unauthenticated user."}));
    }
}

#[tokio::test]
async fn sessions_log_in_with_cookies_and_log_out() {
    let app = app();
    app.register("alice").await;

    let credentials = json!({"username": "alice", "password": "password1"}).to_string();
    let response = log_in(&app, "application/json", credentials).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    assert_eq!(body_json(response).await, json!({"response": "Logged in as alice"}));
    assert_eq!(cookies.len(), 2);
    let access = cookies.iter().find(|c| c.starts_with("drip_session=")).unwrap();
    let refresh = cookies.iter().find(|c| c.starts_with("drip_refresh=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(access.contains(attribute) && refresh.contains(attribute), "{access} / {refresh}");
    }
    assert!(access.contains("Path=/;"));
    assert!(refresh.contains("Path=/api/sessions"));
    let pair = |c: &str| c.split(';').next().unwrap().to_owned();
    let cookie_header = format!("{}; {}", pair(access), pair(refresh));

    let response = app.send(get_files("?path=%24", Some(("cookie", &cookie_header)))).await;
    assert_eq!(response.status(), StatusCode::OK, "the cookie authenticates");

    let request =
        Request::delete("/api/sessions").header(header::COOKIE, &cookie_header).body(Body::empty()).unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cleared = set_cookies(&response);
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")), "{cleared:?}");
    assert_eq!(body_json(response).await, json!({"response": "Logged out"}));
    let refresh_token = pair(refresh).split_once('=').unwrap().1.to_owned();
    let (status, body) = app.refresh(&refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "refresh_token_revoked", "logging out revoked the session");
    let response = app.send(get_files("?path=%24", Some(("cookie", &cookie_header)))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "the access cookie ended with its session");
}

#[tokio::test]
async fn session_login_errors_have_the_original_shape() {
    let app = app();
    app.register("alice").await;
    let form = "application/x-www-form-urlencoded";
    let response = log_in(&app, form, "username=alice&password=wrong-password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(response).await, json!({"error": "Invalid username/password combination."}));

    let response = log_in(&app, form, "username=alice&password=password1").await;
    assert_eq!(response.status(), StatusCode::OK, "forms are accepted, as by Phoenix");

    let response = log_in(&app, "application/json", "{}").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["error"], "bad request");
}

#[tokio::test]
async fn a_cookie_login_from_another_site_is_refused() {
    let app = app();
    app.register("alice").await;
    let login_with = |headers: &[(&str, &str)]| {
        let mut request = Request::post("/api/sessions")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "drip.example:4000");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        app.send(request.body(Body::from("username=alice&password=password1")).unwrap())
    };
    for foreign in [
        &[("origin", "https://evil.example")][..],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site"), ("origin", "http://drip.example:4000")],
    ] {
        let response = login_with(foreign).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{foreign:?}");
        assert!(set_cookies(&response).is_empty(), "no session cookie for {foreign:?}");
        assert_eq!(body_json(response).await, json!({"error": "Cross-site login refused."}));
    }
    for own in [
        &[][..],
        &[("origin", "http://drip.example:4000")],
        &[("origin", "https://drip.example:4000"), ("sec-fetch-site", "same-origin")],
        &[("sec-fetch-site", "none")],
    ] {
        let response = login_with(own).await;
        assert_eq!(response.status(), StatusCode::OK, "{own:?}");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(set_cookies(&response).len(), 2);
    }
}

#[tokio::test]
async fn a_query_that_is_not_utf8_is_refused() {
    let app = app();
    let token = app.register("alice").await;
    let bearer = format!("Bearer {token}");
    let response = app.send(get_files("?path=%24%2F%FF", Some(("authorization", &bearer)))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["details"], "The path provided is invalid.");
}

#[tokio::test]
async fn session_logins_are_throttled_too() {
    let app = app();
    app.register("alice").await;
    let form = "application/x-www-form-urlencoded";
    for _ in 0..5 {
        let response = log_in(&app, form, "username=alice&password=wrong-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = log_in(&app, form, "username=alice&password=password1").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert!(set_cookies(&response).is_empty());
    assert_eq!(body_json(response).await, json!({"error": "Too many failed attempts. Try again later."}));
}
