//! A thin client of the Drip HTTP API for the tests: registration and login, uploads,
//! listings and downloads, the JSON error shape check, the WebSocket event connection, and
//! the content helpers (SHA-256, deterministic pseudo-random bytes).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::Server;

/// The password every test user gets.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// How long a test waits for an event that should come.
pub(crate) const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A registered user and their current tokens.
#[derive(Debug, Clone)]
pub(crate) struct User {
    /// KSUID.
    pub(crate) id: String,
    /// Username.
    pub(crate) username: String,
    /// Bearer access token.
    pub(crate) token: String,
    /// Refresh token.
    pub(crate) refresh: String,
}

/// HTTP access to one server.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    ws_base: String,
}

impl Api {
    /// A client of `server`.
    pub(crate) fn new(server: &Server) -> Self {
        Self::from_address(server, None)
    }

    /// A client of `server` connecting from `local` (another loopback address, such as
    /// 127.0.0.2, is another client address to the server), or from the default address.
    pub(crate) fn from_address(server: &Server, local: Option<IpAddr>) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .local_address(local)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Self { http, base: server.url(""), ws_base: server.ws_url("") }
    }

    /// A request to `path`, authenticated when `token` is given.
    pub(crate) fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// `GET path` as `user`.
    pub(crate) fn get(&self, path: &str, user: &User) -> RequestBuilder {
        self.request(Method::GET, path, Some(&user.token))
    }

    /// Registers `username` (201 and the session shape checked).
    pub(crate) async fn register(&self, username: &str) -> User {
        let email = format!("{username}@example.com");
        let response = self
            .request(Method::POST, "/api/v1/users", None)
            .json(&json!({ "username": username, "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("register");
        let body = expect_json(response, StatusCode::CREATED).await;
        let user = check_session(&body, username);
        assert_eq!(body["user"]["email"], email.as_str());
        user
    }

    /// Logs `username` in through `/api/v1/sessions` (200 and the session shape checked).
    pub(crate) async fn login(&self, username: &str, password: &str) -> User {
        let response = self
            .request(Method::POST, "/api/v1/sessions", None)
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("login");
        let body = expect_json(response, StatusCode::OK).await;
        check_session(&body, username)
    }

    /// Uploads `content` as a raw body; answers the response (not checked).
    pub(crate) async fn try_upload(
        &self,
        user: &User,
        folder: &str,
        name: &str,
        content: Vec<u8>,
    ) -> Response {
        self.request(Method::POST, "/api/v1/files", Some(&user.token))
            .query(&[("folder", folder), ("name", name)])
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(content)
            .send()
            .await
            .expect("upload request")
    }

    /// Uploads `content` (201, `Location` and the file shape checked); answers the file.
    pub(crate) async fn upload(&self, user: &User, folder: &str, name: &str, content: &[u8]) -> Value {
        let response = self.try_upload(user, folder, name, content.to_vec()).await;
        let location = response.headers().get(header::LOCATION).cloned();
        let file = expect_json(response, StatusCode::CREATED).await;
        check_file(&file, user, folder, name, content);
        let id = file["id"].as_str().expect("id");
        assert_eq!(location.expect("Location").to_str().expect("text"), format!("/api/v1/files/{id}"));
        file
    }

    /// `GET /api/v1/folders?path=` (200); answers the listing.
    pub(crate) async fn folder(&self, user: &User, path: &str) -> Value {
        let response =
            self.get("/api/v1/folders", user).query(&[("path", path)]).send().await.expect("folder");
        let listing = expect_json(response, StatusCode::OK).await;
        assert_eq!(listing["path"], path);
        listing
    }

    /// Starts an upload of `$`/`name` that announces `announced` bytes, sends `sent` of
    /// them and stalls, over a raw connection (answered once the server reads the body:
    /// `Expect: 100-continue` makes hyper say `100 Continue` after authentication and the
    /// transfer slot). The upload runs while the connection is open. When the server
    /// refuses to start it, its answer (e.g. `HTTP/1.1 429 Too Many Requests`).
    pub(crate) async fn stalled_upload(
        &self,
        server: &Server,
        user: &User,
        name: &str,
        announced: usize,
        sent: usize,
    ) -> Result<TcpStream, String> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut upload = TcpStream::connect(server.addr()).await.expect("connecting");
        let head = format!(
            "POST /api/v1/files?folder=%24&name={name} HTTP/1.1\r\nhost: drip\r\nauthorization: Bearer {}\r\n\
             content-type: application/octet-stream\r\ncontent-length: {announced}\r\nexpect: 100-continue\r\n\r\n",
            user.token,
        );
        upload.write_all(head.as_bytes()).await.expect("sending the head");
        let mut answer = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), upload.read(&mut answer)).await;
        let read = read.expect("the server answers the upload's Expect").expect("reading the answer");
        let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
        if !answer.starts_with("HTTP/1.1 100 Continue") {
            return Err(answer);
        }
        upload.write_all(&vec![7u8; sent]).await.expect("sending the first bytes");
        Ok(upload)
    }

    /// `GET /api/v1/files` (200); answers the items.
    pub(crate) async fn files(&self, user: &User) -> Vec<Value> {
        let response = self.get("/api/v1/files", user).send().await.expect("files");
        let page = expect_json(response, StatusCode::OK).await;
        page["items"].as_array().expect("items").clone()
    }

    /// `GET /api/v1/files/{id}/content` with extra headers.
    pub(crate) async fn download(&self, user: &User, id: &str, headers: HeaderMap) -> Response {
        self.get(&format!("/api/v1/files/{id}/content"), user)
            .headers(headers)
            .send()
            .await
            .expect("download")
    }

    /// The whole content of a file (200 checked).
    pub(crate) async fn content(&self, user: &User, id: &str) -> Vec<u8> {
        let response = self.download(user, id, HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK, "downloading {id}");
        response.bytes().await.expect("content").to_vec()
    }

    /// `GET /metrics` (200).
    pub(crate) async fn metrics(&self) -> String {
        let response = self.request(Method::GET, "/metrics", None).send().await.expect("metrics");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("metrics text")
    }

    /// Opens `user`'s event connection (token in the query), `None` when the server
    /// refuses the handshake (e.g. the token expired already).
    pub(crate) async fn try_events(&self, user: &User) -> Option<Events> {
        let url = format!("{}/api/v1/events?token={}", self.ws_base, user.token);
        let socket = tokio_tungstenite::connect_async(url).await.ok()?.0;
        Some(Events {
            socket,
            pending: VecDeque::new(),
            seen: Vec::new(),
            user: user.username.clone(),
            online: HashMap::new(),
        })
    }

    /// Opens `user`'s event connection, the token in the `Authorization` header or in the
    /// `token` query parameter; checks the first frame is `presence_state`.
    pub(crate) async fn events(&self, user: &User, token_in_query: bool) -> Events {
        let socket = if token_in_query {
            let url = format!("{}/api/v1/events?token={}", self.ws_base, user.token);
            tokio_tungstenite::connect_async(url).await.expect("events connection").0
        } else {
            let mut request =
                format!("{}/api/v1/events", self.ws_base).into_client_request().expect("a ws request");
            let value = format!("Bearer {}", user.token).parse().expect("header value");
            request.headers_mut().insert(header::AUTHORIZATION, value);
            tokio_tungstenite::connect_async(request).await.expect("events connection").0
        };
        let mut events = Events {
            socket,
            pending: VecDeque::new(),
            seen: Vec::new(),
            user: user.username.clone(),
            online: HashMap::new(),
        };
        let first = events.frame(EVENT_TIMEOUT).await.expect("a first frame");
        assert_eq!(first["event"], "presence_state", "first frame of {}: {first}", user.username);
        assert!(first["payload"].is_array(), "{first}");
        events
    }
}

/// The user of a session body, after checking its shape.
fn check_session(body: &Value, username: &str) -> User {
    assert_eq!(body["user"]["username"], username, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    for field in ["access_token", "expires_at", "refresh_token", "refresh_expires_at"] {
        assert!(body[field].as_str().is_some_and(|s| !s.is_empty()), "{field} in {body}");
    }
    let id = body["user"]["id"].as_str().expect("user id");
    assert_eq!(id.len(), 27, "a KSUID: {id}");
    User {
        id: id.to_owned(),
        username: username.to_owned(),
        token: body["access_token"].as_str().expect("token").to_owned(),
        refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
    }
}

/// Checks a file body against what was uploaded.
pub(crate) fn check_file(file: &Value, creator: &User, folder: &str, name: &str, content: &[u8]) {
    assert_eq!(file["name"], name, "{file}");
    assert_eq!(file["folder"], folder, "{file}");
    assert_eq!(file["size"], content.len() as u64, "{file}");
    assert_eq!(file["sha256"], sha256_hex(content), "{file}");
    assert_eq!(file["creator_id"], creator.id.as_str(), "{file}");
    assert_eq!(file["id"].as_str().map(str::len), Some(27), "{file}");
    assert!(file["content_type"].as_str().is_some_and(|t| t.contains('/')), "{file}");
    for field in ["uploaded_at", "created_at", "updated_at"] {
        assert!(file[field].as_str().is_some_and(|t| t.ends_with('Z')), "{field} in {file}");
    }
}

/// The JSON body of `response`, after checking the status and the content type.
pub(crate) async fn expect_json(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let url = response.url().clone();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let text = response.text().await.expect("body");
    assert_eq!(got, status, "{url}: {text}");
    assert!(
        content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "{url}: content type {content_type:?}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
}

/// Checks an `/api/v1` error: the status, `{"error":{"code","message","request_id"}}` with
/// the request id also in `x-request-id`; answers the `error` object.
pub(crate) async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = expect_json(response, status).await;
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(request_id.is_some(), "x-request-id missing: {body}");
    assert_eq!(error["request_id"].as_str(), request_id.as_deref(), "{body}");
    error.clone()
}

/// Sends `request` and checks the `/api/v1` error it answers (see [`expect_error`]).
pub(crate) async fn refused(request: RequestBuilder, status: StatusCode, code: &str) -> Value {
    expect_error(request.send().await.expect("request"), status, code).await
}

/// Sends each request and checks that it is refused with `status` and `code`.
pub(crate) async fn all_refused(
    requests: impl IntoIterator<Item = RequestBuilder>,
    status: StatusCode,
    code: &str,
) {
    for request in requests {
        refused(request, status, code).await;
    }
}

/// Every change of the file at `path` that `user` can ask for: renames and moves, the
/// delete, and a share with `sharee`.
pub(crate) fn changes(api: &Api, path: &str, user: &User, sharee: &str) -> Vec<RequestBuilder> {
    let token = Some(user.token.as_str());
    let relocations =
        [json!({ "name": "mine.bin" }), json!({ "folder": "$" }), json!({ "folder": "$", "name": "x" })];
    let mut requests: Vec<RequestBuilder> =
        relocations.iter().map(|body| api.request(Method::PATCH, path, token).json(body)).collect();
    requests.push(api.request(Method::DELETE, path, token));
    requests.push(
        api.request(Method::POST, &format!("{path}/shares"), token).json(&json!({ "username": sharee })),
    );
    requests
}

/// Everything `user` can ask of the file at `path`: its metadata, its content, and every
/// change (see [`changes`]).
pub(crate) fn every_request(api: &Api, path: &str, user: &User, sharee: &str) -> Vec<RequestBuilder> {
    let mut requests = vec![api.get(path, user), api.get(&format!("{path}/content"), user)];
    requests.extend(changes(api, path, user, sharee));
    requests
}

/// A user's event connection. Presence frames are skipped by [`Events::expect`] but
/// remembered; every frame received is kept in `seen`.
pub(crate) struct Events {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pending: VecDeque<Value>,
    seen: Vec<Value>,
    user: String,
    /// Connections per online username, as the presence frames so far say.
    online: HashMap<String, u64>,
}

impl Events {
    /// The next JSON text frame within `limit`, `None` on timeout.
    async fn frame(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
                    self.seen.push(value.clone());
                    self.track_presence(&value);
                    return Some(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    panic!("{}: the server closed the events: {frame:?}", self.user)
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{}: events failed: {e}", self.user),
                None => panic!("{}: the events ended", self.user),
            }
        }
    }

    /// The first non-presence event of `kind` (waiting up to [`EVENT_TIMEOUT`]); other
    /// non-presence events are kept for later calls.
    pub(crate) async fn expect(&mut self, kind: &str) -> Value {
        if let Some(at) = self.pending.iter().position(|e| e["event"] == kind) {
            return self.pending.remove(at).expect("present");
        }
        loop {
            let Some(frame) = self.frame(EVENT_TIMEOUT).await else {
                panic!("{}: no {kind} event within {EVENT_TIMEOUT:?}; got {:?}", self.user, self.seen);
            };
            let event = frame["event"].as_str().unwrap_or_default();
            if event == kind {
                return frame;
            }
            if !event.starts_with("presence_") {
                self.pending.push_back(frame);
            }
        }
    }

    /// Applies a presence frame to [`Events::online`]'s map.
    fn track_presence(&mut self, frame: &Value) {
        let entries = |list: &Value| -> Vec<(String, u64)> {
            let entries = list.as_array().cloned().unwrap_or_default();
            entries
                .iter()
                .map(|e| {
                    (e["username"].as_str().unwrap_or_default().to_owned(), e["count"].as_u64().unwrap_or(0))
                })
                .collect()
        };
        match frame["event"].as_str() {
            Some("presence_state") => self.online = entries(&frame["payload"]).into_iter().collect(),
            Some("presence_diff") => {
                let payload = &frame["payload"];
                for (name, count) in entries(&payload["joins"]).into_iter().chain(entries(&payload["leaves"]))
                {
                    if count == 0 {
                        self.online.remove(&name);
                    } else {
                        self.online.insert(name, count);
                    }
                }
            }
            _ => {}
        }
    }

    /// `username`'s connections as the presence frames so far say (0: offline).
    pub(crate) fn online(&self, username: &str) -> u64 {
        self.online.get(username).copied().unwrap_or(0)
    }

    /// Reads frames (keeping events for [`Events::expect`]) until the presence frames say
    /// `username` has `count` connections, waiting up to [`EVENT_TIMEOUT`].
    pub(crate) async fn until_online(&mut self, username: &str, count: u64) {
        while self.online(username) != count {
            let Some(frame) = self.frame(EVENT_TIMEOUT).await else {
                panic!(
                    "{}: {username} did not reach {count} connections within {EVENT_TIMEOUT:?}; presence {:?}",
                    self.user, self.online
                );
            };
            if !frame["event"].as_str().unwrap_or_default().starts_with("presence_") {
                self.pending.push_back(frame);
            }
        }
    }

    /// The next non-presence event, whatever its kind (waiting up to [`EVENT_TIMEOUT`]).
    pub(crate) async fn expect_next(&mut self) -> Value {
        if let Some(event) = self.pending.pop_front() {
            return event;
        }
        loop {
            let Some(frame) = self.frame(EVENT_TIMEOUT).await else {
                panic!("{}: no event within {EVENT_TIMEOUT:?}; got {:?}", self.user, self.seen);
            };
            if !frame["event"].as_str().unwrap_or_default().starts_with("presence_") {
                return frame;
            }
        }
    }

    /// Reads whatever arrives during `quiet` (and keeps it).
    pub(crate) async fn drain(&mut self, quiet: Duration) {
        while let Some(frame) = self.frame(quiet).await {
            let event = frame["event"].as_str().unwrap_or_default().to_owned();
            if !event.starts_with("presence_") {
                self.pending.push_back(frame);
            }
        }
    }

    /// Every frame received so far.
    pub(crate) fn seen(&self) -> &[Value] {
        &self.seen
    }

    /// Pushes a JSON frame.
    pub(crate) async fn push(&mut self, frame: &Value) {
        self.socket.send(Message::Text(frame.to_string().into())).await.expect("pushing a frame");
    }

    /// Waits (up to `limit`) for the server to close the connection, skipping other
    /// frames; the close code it sent.
    pub(crate) async fn closed_by_server(mut self, limit: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?? {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(e) => panic!("{}: events failed: {e}", self.user),
            }
        }
    }

    /// Closes the connection politely.
    pub(crate) async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) use drip_testkit::pseudo_random;

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `Set-Cookie` headers of `response`.
pub(crate) fn set_cookies(response: &Response) -> Vec<String> {
    let values = response.headers().get_all(header::SET_COOKIE).iter();
    values.map(|v| v.to_str().expect("a text cookie").to_owned()).collect()
}

/// One `Header: value` map.
pub(crate) fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(name.clone(), value.parse().expect("header value"));
    }
    map
}

/// A response read off a raw connection.
#[derive(Debug)]
pub(crate) struct RawResponse {
    /// Status code.
    pub(crate) status: u16,
    /// The head, lower-cased (status line and headers).
    pub(crate) head: String,
    /// The body (by `Content-Length`).
    pub(crate) body: Vec<u8>,
}

/// Sends `head` and then `chunks` on a raw HTTP/1.1 connection while reading the answer
/// concurrently: a server may answer (e.g. 413) before the body is sent and stop reading,
/// and an HTTP client library then reports the failed write instead of the answer. The
/// sending side stays open until the answer is read (hyper drops a request whose client
/// closes its side early).
pub(crate) async fn raw_exchange(
    addr: std::net::SocketAddr,
    head: String,
    chunks: Vec<Vec<u8>>,
) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stream = TcpStream::connect(addr).await.expect("connecting");
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for chunk in chunks {
            writer.write_all(&chunk).await?;
        }
        writer.flush().await?;
        Ok::<_, std::io::Error>(writer)
    });
    let mut buffer = Vec::new();
    let mut piece = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let response = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
                let body = buffer[end + 4..end + 4 + length].to_vec();
                break RawResponse { status, head, body };
            }
        }
        let read =
            tokio::time::timeout_at(deadline, reader.read(&mut piece)).await.expect("an answer in time");
        match read {
            Ok(0) | Err(_) => {
                panic!("the connection ended before a whole answer: {:?}", String::from_utf8_lossy(&buffer))
            }
            Ok(n) => buffer.extend_from_slice(&piece[..n]),
        }
    };
    sending.abort();
    response
}
