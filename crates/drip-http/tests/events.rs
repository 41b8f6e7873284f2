//! Real-time events over a WebSocket, against a real listener: a user's own events are
//! delivered, another user's never; presence counts connections; the `share` push answers
//! with the original's texts; bad credentials never connect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use common::{TestApp, app_with};
use drip_core::storage::StorageSettings;
use drip_http::HttpSettings;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn settings() -> HttpSettings {
    HttpSettings::default()
}

async fn serve(app: &TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// An application served on a real listener with `usernames` registered: the application,
/// its address and the users' access tokens.
async fn served_with<const N: usize>(
    settings: HttpSettings,
    usernames: [&str; N],
) -> (TestApp, SocketAddr, [String; N]) {
    let app = app_with(settings, StorageSettings::default(), Vec::new());
    let addr = serve(&app).await;
    let tokens = app.register_all(usernames).await;
    (app, addr, tokens)
}

async fn connect(addr: SocketAddr, token: &str) -> Socket {
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/events?token={token}")).await.unwrap();
    socket
}

/// A connection of `token`'s user, past the `presence_state` frame that opens it.
async fn joined(addr: SocketAddr, token: &str) -> Socket {
    let mut socket = connect(addr, token).await;
    expect(&mut socket, "presence_state").await;
    socket
}

/// The next JSON frame (pings and pongs skipped); `None` after `wait` without one.
async fn next_frame(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next()).await.ok()??.unwrap();
        match message {
            Message::Text(text) => return Some(serde_json::from_str(text.as_str()).unwrap()),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next frame whose `event` is `name`, skipping others.
async fn expect(socket: &mut Socket, name: &str) -> Value {
    loop {
        let frame =
            next_frame(socket, Duration::from_secs(5)).await.unwrap_or_else(|| panic!("no {name} frame"));
        if frame["event"] == name {
            return frame;
        }
    }
}

/// Asserts no frame named one of `names` arrives within `wait`.
async fn expect_none(socket: &mut Socket, names: &[&str], wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    while let Some(frame) = next_frame(socket, deadline - tokio::time::Instant::now()).await {
        assert!(!names.contains(&frame["event"].as_str().unwrap()), "unexpected {frame}");
    }
}

/// The code of the close frame the server sends next (skipping other frames); `None` when
/// the connection ends without one.
async fn close_code(socket: &mut Socket) -> Option<u16> {
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    });
    closed.await.expect("the server closes the connection")
}

async fn push(socket: &mut Socket, frame: Value) {
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();
}

#[tokio::test]
async fn users_receive_their_own_events_only() {
    let (app, addr, [alice, bob]) = served_with(settings(), ["alice", "bob"]).await;
    let mut a = joined(addr, &alice).await;
    let mut b = joined(addr, &bob).await;

    let id = app.upload_ok(&alice, "$", "a.txt", b"hi").await;
    let frame = expect(&mut a, "upload").await;
    assert_eq!(
        frame,
        json!({"event": "upload", "payload": {"message": "The file \"a.txt\" was successfully uploaded.", "media_id": id}})
    );
    expect_none(&mut b, &["upload", "share", "download"], Duration::from_millis(200)).await;
}

#[tokio::test]
async fn presence_counts_connections_and_pushes_changes() {
    let (_app, addr, [alice, bob]) = served_with(settings(), ["alice", "bob"]).await;

    let mut a1 = connect(addr, &alice).await;
    let state = expect(&mut a1, "presence_state").await;
    let alice_id = state["payload"][0]["user_id"].clone();
    assert_eq!(state["payload"], json!([{"user_id": alice_id, "username": "alice", "count": 1}]));

    let mut a2 = connect(addr, &alice).await;
    let state = expect(&mut a2, "presence_state").await;
    assert_eq!(state["payload"], json!([{"user_id": alice_id, "username": "alice", "count": 2}]));
    let diff = expect(&mut a1, "presence_diff").await;
    assert_eq!(
        diff["payload"],
        json!({"joins": [{"user_id": alice_id, "username": "alice", "count": 2}], "leaves": []})
    );

    let mut b1 = connect(addr, &bob).await;
    let state = expect(&mut b1, "presence_state").await;
    let counts: Vec<(String, u64)> = state["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["username"].as_str().unwrap().to_owned(), e["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("alice".to_owned(), 2), ("bob".to_owned(), 1)]);
    let diff = expect(&mut a1, "presence_diff").await;
    assert_eq!(diff["payload"]["joins"][0]["username"], "bob");
    expect_none(&mut b1, &["presence_diff"], Duration::from_millis(100)).await;

    a2.close(None).await.unwrap();
    drop(a2);
    let diff = expect(&mut b1, "presence_diff").await;
    assert_eq!(
        diff["payload"],
        json!({"joins": [], "leaves": [{"user_id": alice_id, "username": "alice", "count": 1}]})
    );
}

#[tokio::test]
async fn share_pushes_answer_with_the_original_texts() {
    let (app, addr, [alice, bob]) = served_with(settings(), ["alice", "bob"]).await;
    let id = app.upload_ok(&alice, "$", "a.txt", b"hi").await;
    let mut a = joined(addr, &alice).await;
    let mut b = joined(addr, &bob).await;

    push(&mut a, json!({"event": "share", "payload": {"username": "bob", "file_id": id}})).await;
    let frame = expect(&mut a, "share").await;
    assert_eq!(frame["payload"]["message"], "Successfully shared the file with bob.");
    let frame = expect(&mut b, "share").await;
    assert_eq!(frame["payload"]["message"], "alice has just shared a file with you!");
    assert_eq!(frame["payload"]["media_id"], id.as_str());

    for (username, file_id, text) in [
        ("nobody", id.as_str(), "Couldn't find a user with nobody username."),
        ("bob", id.as_str(), "Couldn't share the file with bob."),
        ("bob", "not-an-id", "Couldn't share the file with bob."),
    ] {
        push(&mut a, json!({"event": "share", "payload": {"username": username, "file_id": file_id}})).await;
        let frame = expect(&mut a, "share").await;
        assert_eq!(frame["payload"]["message"], text);
    }
    // Bob cannot share alice's file.
    push(&mut b, json!({"event": "share", "payload": {"username": "alice", "file_id": id}})).await;
    let frame = expect(&mut b, "share").await;
    assert_eq!(frame["payload"]["message"], "Couldn't share the file with alice.");
    expect_none(&mut a, &["share"], Duration::from_millis(100)).await;

    push(&mut a, json!({"event": "dance"})).await;
    assert_eq!(expect(&mut a, "error").await["payload"]["message"], "unknown event");
    a.send(Message::Text("not json".into())).await.unwrap();
    expect(&mut a, "error").await;
}

#[tokio::test]
async fn bad_credentials_never_connect() {
    let (_app, addr, [alice]) = served_with(settings(), ["alice"]).await;

    for uri in [format!("ws://{addr}/api/v1/events"), format!("ws://{addr}/api/v1/events?token={alice}x")] {
        match tokio_tungstenite::connect_async(uri).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED)
            }
            other => panic!("connected without a valid token: {:?}", other.map(|_| ())),
        }
    }

    let mut request = format!("ws://{addr}/api/v1/events").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {alice}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    expect(&mut socket, "presence_state").await;

    let cookie = |origin: &str| {
        let mut request = format!("ws://{addr}/api/v1/events").into_client_request().unwrap();
        request.headers_mut().insert("cookie", format!("drip_session={alice}").parse().unwrap());
        request.headers_mut().insert("origin", origin.parse().unwrap());
        request
    };
    match tokio_tungstenite::connect_async(cookie("https://evil.example.com")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
        other => panic!("a foreign origin borrowed the cookie: {:?}", other.map(|_| ())),
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(cookie(&format!("http://{addr}"))).await.unwrap();
    expect(&mut socket, "presence_state").await;
}

#[tokio::test]
async fn connections_close_when_their_token_expires() {
    let settings = HttpSettings { ws_heartbeat: Duration::from_millis(30), ..settings() };
    let (app, addr, [alice]) = served_with(settings, ["alice"]).await;
    let mut socket = joined(addr, &alice).await;
    // A heartbeat ping proves the connection was checked while the token was still valid
    // (and kept open), so the close that follows is the expiry's doing.
    let pinged = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_))) => return true,
                Some(Ok(Message::Text(_) | Message::Pong(_))) => {}
                _ => return false,
            }
        }
    })
    .await
    .unwrap();
    assert!(pinged, "a heartbeat pinged the open connection before the token expired");
    app.fakes.clock.advance(chrono::Duration::minutes(16));
    let closed = close_code(&mut socket).await;
    assert_eq!(closed, Some(4001));
}

#[tokio::test]
async fn logging_out_closes_the_sessions_event_connections_at_once() {
    // The heartbeat is far away: the close comes from the logout itself.
    let settings = HttpSettings { ws_heartbeat: Duration::from_secs(3600), ..settings() };
    let app = app_with(settings, StorageSettings::default(), Vec::new());
    let addr = serve(&app).await;
    let session = app.register_session("alice").await;
    let other = app.register("alice2").await;
    let access = session["access_token"].as_str().unwrap();
    let mut socket = joined(addr, access).await;
    let mut bystander = joined(addr, &other).await;
    let refresh = session["refresh_token"].as_str().unwrap();
    let (status, _) = app
        .call(axum::http::Method::DELETE, "/api/v1/sessions", None, Some(json!({ "refresh_token": refresh })))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let closed = close_code(&mut socket).await;
    assert_eq!(closed, Some(4001));
    // Another user's connection is untouched: it sees alice leave.
    let left = expect(&mut bystander, "presence_diff").await;
    assert_eq!(left["payload"]["leaves"][0]["username"], "alice", "{left}");
}

/// A withdrawn share reaches the sharee as `unshare` with the file's id; leaving one
/// reaches the sharee's own other connections the same way. The creator hears nothing.
#[tokio::test]
async fn a_withdrawn_or_left_share_reaches_the_sharee_as_unshare() {
    let (app, addr, [alice, bob]) = served_with(settings(), ["alice", "bob"]).await;
    let id = app.upload_ok(&alice, "$", "plan.txt", b"the plan").await;
    let mut a = joined(addr, &alice).await;
    let mut b = joined(addr, &bob).await;
    for (withdrawer, path) in [(&alice, "shares/bob"), (&bob, "shares/bob")] {
        assert_eq!(app.share(&alice, &id, "bob").await.0, axum::http::StatusCode::CREATED);
        expect(&mut b, "share").await;
        expect(&mut a, "share").await;
        let uri = format!("/api/v1/files/{id}/{path}");
        let (status, _) = app.call(axum::http::Method::DELETE, &uri, Some(withdrawer), None).await;
        assert_eq!(status, axum::http::StatusCode::NO_CONTENT);
        let frame = expect(&mut b, "unshare").await;
        assert_eq!(
            frame,
            json!({"event": "unshare", "payload": {"message": "A file shared with you is no longer shared.", "media_id": id}})
        );
        expect_none(&mut a, &["unshare"], Duration::from_millis(100)).await;
    }
}
