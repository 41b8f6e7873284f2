//! Shared test harness: a router over `drip-mock` fakes, with the event hub as the
//! storage service's notifier, and request helpers.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use drip_core::links::{LinkService, LinkSettings};
use drip_core::uploads::UploadSettings;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, Response, StatusCode, header};
use drip_core::archives::{ArchiveService, ArchiveSettings};
use drip_core::events::Hub;
use drip_core::events::cluster::{NodeInfo, NodeName};
use drip_core::jobs::ports::JobQueue;
use drip_core::jobs::runner::{JobRunner, JobSettings, JobWaker};
use drip_core::storage::{StorageService, StorageSettings};
use drip_core::supervisor::Restarts;
use drip_http::{AppState, HttpSettings, NodeView, Readiness, Services, Workers};
use drip_mock::FakePorts;
use serde_json::Value;
use tower::ServiceExt as _;

/// An application over fakes.
pub struct TestApp {
    pub fakes: FakePorts,
    pub hub: Hub,
    /// The job runner whose attempts `/metrics` counts (run it with `run_due`).
    pub runner: Arc<JobRunner>,
    pub state: AppState,
    pub router: Router,
}

pub fn app() -> TestApp {
    app_with(HttpSettings::default(), StorageSettings::default(), Vec::new())
}

/// An application over fakes with `usernames` registered, and their access tokens.
pub async fn app_with_users<const N: usize>(usernames: [&str; N]) -> (TestApp, [String; N]) {
    let app = app();
    let tokens = app.register_all(usernames).await;
    (app, tokens)
}

/// An application over fakes with these storage settings (and the default HTTP ones).
pub fn app_with_storage(storage: StorageSettings) -> TestApp {
    app_with(HttpSettings::default(), storage, Vec::new())
}

pub fn app_with(http: HttpSettings, storage: StorageSettings, readiness: Vec<Arc<dyn Readiness>>) -> TestApp {
    let fakes = drip_mock::fake_ports();
    let queue = Arc::clone(&fakes.job_ports.queue);
    app_over(fakes, queue, http, storage, readiness)
}

/// An application over fakes whose `/metrics` reads the job counts from `queue` (e.g. one
/// that fails); the runner works through the fakes' own queue.
pub fn app_with_job_queue(queue: Arc<dyn JobQueue>) -> TestApp {
    app_over(drip_mock::fake_ports(), queue, HttpSettings::default(), StorageSettings::default(), Vec::new())
}

fn app_over(
    fakes: FakePorts,
    queue: Arc<dyn JobQueue>,
    http: HttpSettings,
    storage: StorageSettings,
    readiness: Vec<Arc<dyn Readiness>>,
) -> TestApp {
    let hub = Hub::new();
    let mut ports = fakes.storage_ports.clone();
    ports.notifier = Arc::new(hub.clone());
    let storage = StorageService::new(ports, storage);
    let mut archive_ports = fakes.archive_ports.clone();
    archive_ports.notifier = Arc::new(hub.clone());
    let archives = ArchiveService::new(archive_ports, storage.clone(), ArchiveSettings::default());
    let uploads = fakes.upload_service(storage.clone(), UploadSettings::default());
    let runner = Arc::new(
        JobRunner::new(fakes.job_ports.clone(), JobSettings::default(), JobWaker::default())
            .with_archives(archives.clone())
            .with_uploads(uploads.clone()),
    );
    let workers = Workers { queue, runner: Arc::clone(&runner), restarts: Restarts::default() };
    let node = NodeView::alone(NodeInfo {
        name: NodeName::parse("test-node").unwrap(),
        hostname: "test-host".into(),
    });
    let mut link_ports = fakes.link_ports.clone();
    link_ports.notifier = Arc::new(hub.clone());
    let links = LinkService::new(link_ports, storage.clone(), LinkSettings::default());
    let services = Services { accounts: fakes.account_service(), storage, links, archives, uploads };
    let state = AppState::new(services, hub.clone(), node, workers, readiness, http);
    let router = drip_http::router(state.clone());
    TestApp { fakes, hub, runner, state, router }
}

pub async fn body_bytes(response: Response<Body>) -> Bytes {
    axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()
}

pub async fn body_json(response: Response<Body>) -> Value {
    let bytes = body_bytes(response).await;
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// The `error.code` of an `/api/v1` error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

/// Asserts that `response` is an `/api/v1` error with `status` and `error.code`; answers
/// its body.
pub async fn assert_error(response: Response<Body>, status: StatusCode, expected_code: &str) -> Value {
    assert_eq!(response.status(), status, "answering {expected_code}");
    let body = body_json(response).await;
    assert_eq!(code(&body), expected_code, "{body}");
    body
}

impl TestApp {
    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// A JSON request (`body` sent as JSON when given) answering status and JSON body
    /// (`Value::Null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => {
                builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string()))
            }
            None => builder.body(Body::empty()),
        }
        .unwrap();
        let response = self.send(request).await;
        let status = response.status();
        let bytes = body_bytes(response).await;
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, json)
    }

    pub async fn get(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, Some(token), None).await
    }

    /// A JSON `POST` without credentials.
    pub async fn post_json(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, uri, None, Some(body)).await
    }

    /// Trades `refresh_token` for a new token pair; answers status and body.
    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.post_json("/api/v1/sessions/refresh", serde_json::json!({ "refresh_token": refresh_token }))
            .await
    }

    /// A `POST` of `body` as `token`'s user, with `content_type` when given.
    pub async fn post_as(
        &self,
        token: &str,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Response<Body> {
        let mut builder = Request::post(uri).header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        self.send(builder.body(body.into()).unwrap()).await
    }

    /// Shares the file `id` of `token`'s user with `username`; answers status and body.
    pub async fn share(&self, token: &str, id: &str, username: &str) -> (StatusCode, Value) {
        let uri = format!("/api/v1/files/{id}/shares");
        self.call(Method::POST, &uri, Some(token), Some(serde_json::json!({ "username": username }))).await
    }

    /// Registers `username` (password `password1`) and answers the session body.
    pub async fn register_session(&self, username: &str) -> Value {
        let body = serde_json::json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": "password1",
        });
        let (status, session) = self.call(Method::POST, "/api/v1/users", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        session
    }

    /// Registers `username` and answers their access token.
    pub async fn register(&self, username: &str) -> String {
        self.register_session(username).await["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers each of `usernames`, in order, and answers their access tokens.
    pub async fn register_all<const N: usize>(&self, usernames: [&str; N]) -> [String; N] {
        let mut tokens = Vec::with_capacity(N);
        for username in usernames {
            tokens.push(self.register(username).await);
        }
        tokens.try_into().unwrap()
    }

    /// Uploads `content` as a raw body; answers status and body.
    pub async fn upload(&self, token: &str, folder: &str, name: &str, content: &[u8]) -> (StatusCode, Value) {
        let uri = format!("/api/v1/files?folder={}&name={}", encode(folder), encode(name));
        let response = self.post_as(token, &uri, Some("text/plain"), content.to_vec()).await;
        let status = response.status();
        (status, body_json(response).await)
    }

    /// Uploads and answers the new file's id.
    pub async fn upload_ok(&self, token: &str, folder: &str, name: &str, content: &[u8]) -> String {
        let (status, body) = self.upload(token, folder, name, content).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A download request with extra headers.
    pub async fn download(&self, token: &str, id: &str, headers: &[(&str, &str)]) -> Response<Body> {
        let mut builder = Request::get(format!("/api/v1/files/{id}/content"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Body::empty()).unwrap()).await
    }
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
