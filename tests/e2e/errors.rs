//! Bad inputs: invalid paths and names, malformed JSON, missing, forged and expired
//! tokens, oversized uploads, unknown ids — each answered with the documented status and
//! JSON error code, and the user's data unchanged afterwards.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{self, Api, PASSWORD, User, all_refused, every_request, expect_error, expect_json, refused};
use crate::harness::{Launch, Server};

/// A valid KSUID no server ever issued (the example of the KSUID specification).
const UNKNOWN_ID: &str = "0ujsswThIGTUYm2K8FjOOfXtY1K";

/// What a user has, as the API shows it: every listing and every file's content.
#[derive(Debug, PartialEq)]
struct Snapshot {
    root: Value,
    docs: Value,
    files: Vec<Value>,
    contents: Vec<Vec<u8>>,
}

async fn snapshot(api: &Api, user: &User) -> Snapshot {
    let files = api.files(user).await;
    let mut contents = Vec::new();
    for file in &files {
        contents.push(api.content(user, file["id"].as_str().unwrap()).await);
    }
    Snapshot { root: api.folder(user, "$").await, docs: api.folder(user, "$/docs").await, files, contents }
}

/// A well-formed HS256 token for `user`, signed with `secret`.
fn signed_token(user: &User, secret: &[u8], header: &Value, exp_offset: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = json!({
        "sub": user.id, "username": user.username, "iat": now, "nbf": now, "exp": now + exp_offset, "iss": "drip",
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let signature = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// Every kind of bad input on one server; the data must be the same after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_with_json_errors_and_leave_data_intact() {
    let server = Launch::embedded().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let kept = api::pseudo_random(200_000, 7);
    let file = api.upload(&alice, "$/docs", "keep.bin", &kept).await;
    let id = file["id"].as_str().unwrap().to_owned();
    api.upload(&alice, "$", "notes.txt", b"hello").await;
    let before = snapshot(&api, &alice).await;
    let object_count = std::fs::read_dir(server.objects_dir()).unwrap().count();

    invalid_paths_and_names(&api, &alice, &id).await;
    malformed_json(&api, &alice, &id).await;
    missing_and_bad_tokens(&api, &server, &alice).await;
    unknown_ids(&api, &alice, &bob, &id).await;
    conflicts(&api, &alice, &id).await;

    assert_eq!(snapshot(&api, &alice).await, before, "bad inputs changed nothing");
    assert_eq!(std::fs::read_dir(server.objects_dir()).unwrap().count(), object_count);
    let health =
        expect_json(api.request(Method::GET, "/health", None).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(health["status"], "ok");
}

async fn invalid_paths_and_names(api: &Api, alice: &User, id: &str) {
    // Uploads into invalid folders or under invalid names.
    for folder in ["$/a//b", "/abc", "$abc", "$/abc/", "abc", "$/a/\u{1}", "$/a/../b"] {
        let response = api.try_upload(alice, folder, "x.txt", b"data".to_vec()).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_path").await;
    }
    let long = "n".repeat(256);
    for name in ["..", ".", "a/b", "bad\u{7}name", "nul\0", long.as_str(), ""] {
        let response = api.try_upload(alice, "$", name, b"data".to_vec()).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_name").await;
    }
    refused(
        api.request(Method::POST, "/api/v1/files", Some(&alice.token))
            .query(&[("folder", "$")])
            .body("no name"),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // Listings.
    for path in ["$/docs/", "docs", "$/a//b"] {
        refused(
            api.get("/api/v1/folders", alice).query(&[("path", path)]),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        )
        .await;
    }
    // Move and rename.
    let file_path = format!("/api/v1/files/{id}");
    for (body, code) in [
        (json!({ "folder": "$/x/" }), "invalid_path"),
        (json!({ "folder": "x" }), "invalid_path"),
        (json!({ "name": "a/b" }), "invalid_name"),
        (json!({ "name": ".." }), "invalid_name"),
        (json!({ "name": "" }), "invalid_name"),
        (json!({}), "invalid_request"),
    ] {
        refused(
            api.request(Method::PATCH, &file_path, Some(&alice.token)).json(&body),
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    // The original's listing.
    for (query, details) in [
        ("", "Missing 'path' query parameter"),
        ("?path=$/docs/", "The path provided is invalid."),
        ("?path=/docs", "The path provided is invalid."),
    ] {
        let response =
            api.request(Method::GET, &format!("/api/files{query}"), Some(&alice.token)).send().await.unwrap();
        let body = expect_json(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(body, json!({ "error": "bad request", "details": details }));
    }
}

async fn malformed_json(api: &Api, alice: &User, id: &str) {
    let raw = |method: Method, path: &str, token: Option<&str>, body: &'static str| {
        api.request(method, path, token).header(header::CONTENT_TYPE, "application/json").body(body)
    };
    let file_path = format!("/api/v1/files/{id}");
    let shares_path = format!("{file_path}/shares");
    let token = Some(alice.token.as_str());
    for (method, path, token) in [
        (Method::POST, "/api/v1/users", None),
        (Method::POST, "/api/v1/sessions", None),
        (Method::PATCH, file_path.as_str(), token),
        (Method::POST, shares_path.as_str(), token),
    ] {
        // A field every route knows or ignores: a move refuses unknown fields, and would
        // refuse `username` before reaching the end of the text.
        refused(raw(method.clone(), path, token, "{\"name\": "), StatusCode::BAD_REQUEST, "invalid_json")
            .await;
        refused(raw(method.clone(), path, token, "[1, 2, 3]"), StatusCode::BAD_REQUEST, "invalid_request")
            .await;
        refused(
            api.request(method, path, token).header(header::CONTENT_TYPE, "text/plain").body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    // A JSON body over the limit (64 KiB).
    let huge = format!("{{\"name\":\"{}\"}}", "a".repeat(100 * 1024));
    refused(
        api.request(Method::PATCH, &file_path, token)
            .header(header::CONTENT_TYPE, "application/json")
            .body(huge),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    // Registration with invalid fields names them.
    let error = refused(
        api.request(Method::POST, "/api/v1/users", None)
            .json(&json!({ "username": "has space", "email": "nope", "password": "short" })),
        StatusCode::BAD_REQUEST,
        "invalid_registration",
    )
    .await;
    let fields = error["details"]["fields"].to_string();
    for field in ["username", "email", "password"] {
        assert!(fields.contains(field), "{field} in {error}");
    }
    // Wrong credentials, malformed original login.
    refused(
        api.request(Method::POST, "/api/v1/sessions", None)
            .json(&json!({ "username": "alice", "password": "wrong password" })),
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let response = api
        .request(Method::POST, "/api/sessions", None)
        .json(&json!({ "username": "alice", "password": "wrong password" }))
        .send()
        .await
        .unwrap();
    let body = expect_json(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body, json!({ "error": "Invalid username/password combination." }));
}

async fn missing_and_bad_tokens(api: &Api, server: &Server, alice: &User) {
    // No token at all.
    for (method, path) in [
        (Method::GET, "/api/v1/files"),
        (Method::GET, "/api/v1/me"),
        (Method::POST, "/api/v1/files?name=x.txt"),
        (Method::GET, "/api/v1/folders?path=$"),
        (Method::DELETE, "/api/v1/files/0ujsswThIGTUYm2K8FjOOfXtY1K"),
    ] {
        let response = api.request(method, path, None).send().await.unwrap();
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned()),
            Some("Bearer".to_owned())
        );
        expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    let response = api.request(Method::GET, "/api/files?path=$", None).send().await.unwrap();
    assert_eq!(
        expect_json(response, StatusCode::UNAUTHORIZED).await,
        json!({ "error": "Unauthenticated user." })
    );

    // Forged: another secret, a tampered payload, no signature algorithm, garbage.
    let hs256 = json!({ "alg": "HS256", "typ": "JWT" });
    let other_secret = signed_token(alice, b"not-the-server-secret-0123456789-0123456789", &hs256, 600);
    let (head, _, signature) = {
        let mut parts = alice.token.split('.');
        (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned())
    };
    let claims = json!({ "sub": alice.id, "username": "bob", "iat": 0, "nbf": 0, "exp": 4_000_000_000_i64, "iss": "drip" });
    let tampered = format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    for token in [other_secret.as_str(), tampered.as_str(), unsigned.as_str(), "not-a-token", "a.b.c"] {
        refused(
            api.request(Method::GET, "/api/v1/files", Some(token)),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        let response = api
            .try_upload(&User { token: token.to_owned(), ..alice.clone() }, "$", "forged.txt", b"x".to_vec())
            .await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let response = api.request(Method::GET, "/api/files?path=$", Some(token)).send().await.unwrap();
        assert_eq!(
            expect_json(response, StatusCode::UNAUTHORIZED).await,
            json!({ "error": "Unauthenticated user." })
        );
    }
    // The events refuse the handshake.
    for url in
        [server.ws_url("/api/v1/events"), server.ws_url(&format!("/api/v1/events?token={other_secret}"))]
    {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 401);
            }
            other => panic!("the events accepted a bad token: {:?}", other.map(|(_, r)| r.status())),
        }
    }
    // A plain GET to the events is not a WebSocket.
    refused(api.get("/api/v1/events", alice), StatusCode::BAD_REQUEST, "websocket_required").await;
}

async fn unknown_ids(api: &Api, alice: &User, bob: &User, id: &str) {
    for unknown in [UNKNOWN_ID, "not-a-ksuid", "zzzzzzzzzzzzzzzzzzzzzzzzzzz"] {
        let path = format!("/api/v1/files/{unknown}");
        all_refused(every_request(api, &path, alice, "bob"), StatusCode::NOT_FOUND, "not_found").await;
    }
    // Someone else's file is unknown to them, whatever they try.
    let path = format!("/api/v1/files/{id}");
    all_refused(every_request(api, &path, bob, "alice"), StatusCode::NOT_FOUND, "not_found").await;
    // Unknown users, routes and methods.
    let token = Some(alice.token.as_str());
    let nobody = json!({ "username": "nobody" });
    for (request, status, code) in [
        (
            api.request(Method::POST, &format!("{path}/shares"), token).json(&nobody),
            StatusCode::NOT_FOUND,
            "user_not_found",
        ),
        (api.request(Method::GET, "/api/v1/nothing-here", token), StatusCode::NOT_FOUND, "not_found"),
        (
            api.request(Method::PUT, "/api/v1/files", token),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        refused(request, status, code).await;
    }
}

async fn conflicts(api: &Api, alice: &User, id: &str) {
    // The same name in the same folder: refused, the stored content untouched.
    let response = api.try_upload(alice, "$/docs", "keep.bin", b"other content".to_vec()).await;
    expect_error(response, StatusCode::CONFLICT, "already_exists").await;
    refused(
        api.request(Method::POST, "/api/v1/users", None)
            .json(&json!({ "username": "ALICE", "email": "other@example.com", "password": PASSWORD })),
        StatusCode::CONFLICT,
        "username_taken",
    )
    .await;
    let shares = format!("/api/v1/files/{id}/shares");
    refused(
        api.request(Method::POST, &shares, Some(&alice.token)).json(&json!({ "username": "alice" })),
        StatusCode::BAD_REQUEST,
        "self_share",
    )
    .await;
    refused(
        api.get(&format!("/api/v1/files/{id}/content"), alice).header(header::RANGE, "bytes=999999-"),
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
    )
    .await;
    refused(
        api.request(Method::DELETE, &format!("{shares}/bob"), Some(&alice.token)),
        StatusCode::NOT_FOUND,
        "not_shared",
    )
    .await;
}

/// Tokens of a binary issuing one-second tokens expire: 401 `token_expired`, nothing is
/// stored with them, and the refresh token buys a new pair once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused() {
    let server = Launch::embedded()
        .env("DRIP_AUTH__ACCESS_TTL_SECS", "1")
        .env("DRIP_HTTP__WS_HEARTBEAT_SECS", "1")
        .start()
        .await;
    let api = Api::new(&server);
    api.register("alice").await;
    // Stored with a fresh token (logging in again if a slow machine let it expire).
    let mut stored = false;
    for _ in 0..5 {
        let alice = api.login("alice", PASSWORD).await;
        let response = api.try_upload(&alice, "$", "kept.txt", b"kept".to_vec()).await;
        if response.status() == StatusCode::CREATED {
            stored = true;
            break;
        }
        expect_error(response, StatusCode::UNAUTHORIZED, "token_expired").await;
    }
    assert!(stored, "an upload went through with a fresh token");
    // The server says when the token expired: an events connection opened with it is
    // checked at every heartbeat and closed with 4001 once the token is no longer valid.
    // (A token's `exp` is in whole seconds, so it may lapse at once: then log in again.)
    let mut expired = None;
    for _ in 0..5 {
        let alice = api.login("alice", PASSWORD).await;
        if let Some(events) = api.try_events(&alice).await {
            let code = events.closed_by_server(Duration::from_secs(10)).await;
            assert_eq!(code, Some(4001), "the events connection of a one-second token closes as expired");
            expired = Some(alice);
            break;
        }
    }
    let expired = expired.expect("an events connection opened with a fresh token");
    for (method, path) in
        [(Method::GET, "/api/v1/me"), (Method::GET, "/api/v1/files"), (Method::GET, "/api/v1/folders?path=$")]
    {
        refused(api.request(method, path, Some(&expired.token)), StatusCode::UNAUTHORIZED, "token_expired")
            .await;
    }
    let response = api.try_upload(&expired, "$", "late.txt", b"late".to_vec()).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "token_expired").await;
    let response = api.request(Method::GET, "/api/files?path=$", Some(&expired.token)).send().await.unwrap();
    assert_eq!(
        expect_json(response, StatusCode::UNAUTHORIZED).await,
        json!({ "error": "Unauthenticated user." })
    );
    match tokio_tungstenite::connect_async(server.ws_url(&format!("/api/v1/events?token={}", expired.token)))
        .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!("the events accepted an expired token: {:?}", other.map(|(_, r)| r.status())),
    }

    // The refresh token still works, once.
    let refresh = |token: String| {
        api.request(Method::POST, "/api/v1/sessions/refresh", None)
            .json(&json!({ "refresh_token": token }))
            .send()
    };
    let response = refresh(expired.refresh.clone()).await.unwrap();
    let renewed = expect_json(response, StatusCode::OK).await;
    assert_ne!(renewed["refresh_token"], expired.refresh.as_str());
    let response = refresh(expired.refresh.clone()).await.unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;

    // Only the upload made with a valid token is there.
    let mut names = Vec::new();
    for _ in 0..5 {
        let alice = api.login("alice", PASSWORD).await;
        let response = api.get("/api/v1/files", &alice).send().await.unwrap();
        if response.status() == StatusCode::OK {
            let page: Value = response.json().await.unwrap();
            names = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap().to_owned())
                .collect();
            break;
        }
    }
    assert_eq!(names, ["kept.txt"]);
}

/// With a 1 MiB upload limit, 2 MiB is 413 whether the length is declared or streamed,
/// and nothing is left behind; exactly 1 MiB is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_uploads_are_refused_and_leave_nothing() {
    const MIB: usize = 1024 * 1024;
    let server = Launch::embedded().env("DRIP_LIMITS__MAX_UPLOAD_MIB", "1").start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let content = api::pseudo_random(2 * MIB, 3);

    // Declared: Content-Length is over the limit. Streamed: chunked, cut past the limit.
    let target = "/api/v1/files?folder=%24&name=big.bin";
    let declared = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        server.addr(),
        alice.token,
        content.len()
    );
    let chunked = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr(),
        alice.token
    );
    let mut framed: Vec<Vec<u8>> = content
        .chunks(64 * 1024)
        .map(|c| [format!("{:x}\r\n", c.len()).into_bytes(), c.to_vec(), b"\r\n".to_vec()].concat())
        .collect();
    framed.push(b"0\r\n\r\n".to_vec());
    for (head, body) in [(declared, vec![content.clone()]), (chunked, framed)] {
        let response = api::raw_exchange(server.addr(), head, body).await;
        assert_eq!(response.status, 413, "{response:?}");
        assert!(response.head.contains("content-type: application/json"), "{}", response.head);
        let body: Value = serde_json::from_slice(&response.body).expect("a JSON error");
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
        assert_eq!(body["error"]["details"]["limit"], MIB as u64, "{body}");
    }

    assert!(api.files(&alice).await.is_empty(), "nothing listed after refused uploads");
    let usage = expect_json(api.get("/api/v1/me/usage", &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        usage,
        json!({ "media_count": 0, "disk_usage": 0, "quota": null, "used": 0, "available": null })
    );
    let leftovers: Vec<_> =
        std::fs::read_dir(server.objects_dir()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(leftovers.is_empty(), "nothing stored: {leftovers:?}");

    // The limit itself is allowed, and the name is free again.
    let exact = api::pseudo_random(MIB, 4);
    api.upload(&alice, "$", "streamed.bin", &exact).await;
    let files = api.files(&alice).await;
    assert_eq!(files.len(), 1);
    assert!(api.content(&alice, files[0]["id"].as_str().unwrap()).await == exact);
}

/// Stored content changed behind the server's back is detected: a tampered first chunk is
/// 500 `integrity`, a range that avoids the tampered chunk is still served, and a tampered
/// later chunk cuts the download short instead of delivering unverified bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_content_is_never_served() {
    // Over the content cache's 1 MiB entry limit, so every download reads the store.
    const SIZE: usize = 1_200_000;
    const CHUNK: usize = 64 * 1024;
    let server = Launch::embedded().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let content = api::pseudo_random(SIZE, 11);
    let file = api.upload(&alice, "$", "precious.bin", &content).await;
    let id = file["id"].as_str().unwrap().to_owned();
    let object = std::fs::read_dir(server.objects_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&id)))
        .expect("the stored object");
    let flip = |at: usize| {
        let mut bytes = std::fs::read(&object).unwrap();
        bytes[at] ^= 0x01;
        std::fs::write(&object, bytes).unwrap();
    };

    flip(100);
    let response = api.download(&alice, &id, HeaderMap::new()).await;
    expect_error(response, StatusCode::INTERNAL_SERVER_ERROR, "integrity").await;
    let range = format!("bytes={}-{}", 5 * CHUNK, 5 * CHUNK + 99);
    let response = api.download(&alice, &id, api::headers(&[(header::RANGE, &range)])).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert!(response.bytes().await.unwrap().as_ref() == &content[5 * CHUNK..5 * CHUNK + 100]);
    flip(100);
    assert!(api.content(&alice, &id).await == content, "restored content verifies again");

    // Ciphertext chunks are CHUNK + 16 bytes: byte 100 of the tenth chunk.
    flip(10 * (CHUNK + 16) + 100);
    let response = api.download(&alice, &id, HeaderMap::new()).await;
    if response.status() == StatusCode::OK {
        let body = response.bytes().await;
        assert!(
            body.is_err(),
            "a download with a tampered chunk must not complete ({} bytes)",
            body.map_or(0, |b| b.len())
        );
    } else {
        expect_error(response, StatusCode::INTERNAL_SERVER_ERROR, "integrity").await;
    }
    // The metadata is untouched, and the server still serves.
    let info =
        expect_json(api.get(&format!("/api/v1/files/{id}"), &alice).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(info, file);
}
