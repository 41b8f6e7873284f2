//! Hostile clients against the real binary (issue 10's availability attacks): uploads that
//! stall to hold every transfer slot, a download nobody reads, connections that never
//! finish their headers, and request heads too large for the server.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::api::{self, Api};
use crate::flow::ObjectStore;
use crate::harness::{Launch, Server};

/// The idle timeout of transfers in these tests.
const IDLE_SECS: u64 = 2;

/// Accounts of the attack, and the uploads each one tries to stall.
const ATTACKERS: usize = 4;
const UPLOADS_EACH: usize = 16;

/// What the server logs when it cuts a transfer that moved no byte for too long.
const IDLE_CUT: &str = "a transfer was idle too long; cut it";

/// The attack: 4 self-registered accounts from one address start 16 uploads each that
/// announce 1 MB, send 1 byte and stall — as many as the whole server's transfer slots
/// (64). A user from another address still downloads and uploads at once; and every
/// stalled upload is cut once idle: its slot is free and nothing of it stays behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_neither_starve_others_nor_keep_their_slots() {
    let server = Launch::embedded().env("DRIP_HTTP__TRANSFER_IDLE_SECS", IDLE_SECS.to_string()).start().await;
    let api = Api::new(&server);
    let elsewhere = Api::from_address(&server, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))));
    let eve = elsewhere.register("eve").await;
    let kept = api::pseudo_random(100_000, 3);
    let file = elsewhere.upload(&eve, "$", "kept.bin", &kept).await;

    let mut attackers = Vec::new();
    let mut stalled = Vec::new();
    for i in 0..ATTACKERS {
        let attacker = api.register(&format!("mallory{i}")).await;
        for j in 0..UPLOADS_EACH {
            match api.stalled_upload(&server, &attacker, &format!("stall{j}.bin"), 1_000_000, 1).await {
                Ok(upload) => stalled.push(upload),
                Err(answer) => assert!(answer.starts_with("HTTP/1.1 429"), "refused otherwise: {answer:?}"),
            }
        }
        attackers.push(attacker);
    }
    // 4 accounts × 4 uploads each (the per-user share) = 16, the share of one address.
    assert_eq!(stalled.len(), 16, "the attack started as many uploads as its shares allow");

    // While the stalled uploads hold their slots, a user elsewhere is served.
    assert_eq!(elsewhere.content(&eve, file["id"].as_str().unwrap()).await, kept);
    elsewhere.upload(&eve, "$", "during.bin", b"uploaded during the attack").await;

    // Each stalled upload is cut, answered 408 and removed.
    let started = stalled.len();
    server
        .wait_for_log("every stalled upload cut", Duration::from_secs(30 * IDLE_SECS), |lines| {
            Server::logged_lines(lines, &[IDLE_CUT]) >= started
        })
        .await;
    for upload in &mut stalled {
        let answer = read_head(upload).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "a cut upload is answered 408: {answer:?}");
    }
    assert!(api.metrics().await.contains("drip_transfers_in_flight 0"), "every slot is free");
    let store = ObjectStore::Local(server.objects_dir());
    assert_eq!(store.partial_uploads(), 0, "{:?}", store.names());
    assert_eq!(store.names().len(), 2, "only eve's files are stored: {:?}", store.names());
    for attacker in &attackers {
        assert!(api.files(attacker).await.is_empty(), "no file of {} stays", attacker.username);
    }
    // The attackers' own slots are free again too.
    api.upload(&attackers[0], "$", "stall0.bin", b"now for real").await;
}

/// Reads the next response head off a raw connection (bounded, so a silent server fails
/// the test instead of hanging it).
async fn read_head(connection: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut piece = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(10), connection.read(&mut piece)).await;
        match read.expect("an answer in time") {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&piece[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Connections that send part of their headers, or nothing at all, and wait are closed
/// after the header-read timeout; a prompt client is served as ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let server = Launch::embedded().env("DRIP_HTTP__HEADER_READ_TIMEOUT_SECS", "1").start().await;
    for partial in ["GET /health HTTP/1.1\r\nHost: x\r\n", "GET /he", ""] {
        let mut connection = TcpStream::connect(server.addr()).await.unwrap();
        connection.write_all(partial.as_bytes()).await.unwrap();
        // The server ends the connection; the bound only keeps a server that never does
        // from hanging the test.
        let mut answer = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(30), connection.read_to_end(&mut answer)).await;
        assert!(ended.is_ok(), "a connection that sent {partial:?} stayed open");
        assert!(!String::from_utf8_lossy(&answer).contains(" 200 "), "{partial:?} was served");
    }
    let api = Api::new(&server);
    let health = api.request(reqwest::Method::GET, "/health", None).send().await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
}

/// A request head past the server's limits answers the JSON error shape; past hyper's own
/// limits (which it checks before anything of Drip runs), hyper's bare answer with an
/// empty body, as `docs/api.md` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_answer_json_errors() {
    let server = Launch::embedded().start().await;
    let get = |target: String, header: String| {
        format!("GET {target} HTTP/1.1\r\nhost: x\r\n{header}connection: close\r\n\r\n")
    };
    let padding = |n: usize| "a".repeat(n);
    for (head, status, code) in [
        (get(format!("/health?{}", padding(10_000)), String::new()), 414, "uri_too_long"),
        (get("/api/v1/me".into(), format!("x-large: {}\r\n", padding(40_000))), 431, "headers_too_large"),
    ] {
        let response = api::raw_exchange(server.addr(), head, Vec::new()).await;
        assert_eq!(response.status, status, "{}", response.head);
        assert!(response.head.contains("content-type: application/json"), "{}", response.head);
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["request_id"].is_string(), "{body}");
    }
    let beyond_hyper = get(format!("/health?{}", padding(70_000)), String::new());
    let response = api::raw_exchange(server.addr(), beyond_hyper, Vec::new()).await;
    assert_eq!((response.status, response.body.len()), (414, 0), "{}", response.head);
}

/// A download whose client stops reading is cut once the client accepted no byte for the
/// idle time, and its transfer slot is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_nobody_reads_is_cut_and_frees_its_slot() {
    let server = Launch::embedded().env("DRIP_HTTP__TRANSFER_IDLE_SECS", IDLE_SECS.to_string()).start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    // More than the socket buffers between the server and a client that reads nothing.
    let content = api::pseudo_random(16 * 1024 * 1024, 11);
    let file = api.upload(&alice, "$", "big.bin", &content).await;
    let id = file["id"].as_str().unwrap();

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut download = socket.connect(server.addr()).await.unwrap();
    let request = format!(
        "GET /api/v1/files/{id}/content HTTP/1.1\r\nhost: drip\r\nauthorization: Bearer {}\r\n\r\n",
        alice.token
    );
    download.write_all(request.as_bytes()).await.unwrap();
    server
        .wait_for_log("the unread download cut", Duration::from_secs(30 * IDLE_SECS), |lines| {
            Server::logged_lines(lines, &["a client accepted no byte for too long; cut it"]) == 1
        })
        .await;
    assert!(api.metrics().await.contains("drip_transfers_in_flight 0"), "the slot is free");
    // What the client gets now ends short of the file.
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), download.read_to_end(&mut received)).await;
    assert!(received.len() < content.len(), "the download was cut");
    assert_eq!(api.content(&alice, id).await, content);
}

/// Password guessing against the real binary (SQLite): after 5 wrong passwords the account
/// answers `429 too_many_attempts` with `Retry-After`, the right password included, on the
/// JSON login and the original's cookie login alike, and an unknown username the same way;
/// another address is not held back by the first one's account-free guesses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_throttled() {
    let server = Launch::embedded().start().await;
    let api = Api::new(&server);
    api.register("alice").await;
    let login = |api: &Api, username: &str, password: &str| {
        api.request(reqwest::Method::POST, "/api/v1/sessions", None)
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
    };
    for username in ["alice", "nobody"] {
        for _ in 0..5 {
            let response = login(&api, username, "wrong-password").await.unwrap();
            api::expect_error(response, reqwest::StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        let response = login(&api, username, "password1").await.unwrap();
        assert!(response.headers().contains_key("retry-after"), "{username}: {:?}", response.headers());
        api::expect_error(response, reqwest::StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    }
    let legacy = api
        .request(reqwest::Method::POST, "/api/sessions", None)
        .form(&[("username", "alice"), ("password", "password1")])
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = Api::from_address(&server, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))));
    let response = login(&elsewhere, "bob", "wrong-password").await.unwrap();
    api::expect_error(response, reqwest::StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}
