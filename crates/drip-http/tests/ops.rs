//! Operational behaviour: health, readiness, metrics (the background jobs' included),
//! request ids, CORS, timeouts, and JSON answers for unknown routes and oversized request
//! heads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{app, app_with, app_with_job_queue, body_bytes, body_json, code};
use drip_core::BackendError;
use drip_core::jobs::ports::MockJobQueue;
use drip_core::storage::StorageSettings;
use drip_http::{HttpSettings, Readiness};
use serde_json::json;

struct Check {
    name: &'static str,
    outcome: Result<(), String>,
    delay: Duration,
}

#[async_trait]
impl Readiness for Check {
    fn component(&self) -> &str {
        self.name
    }

    async fn check(&self) -> Result<(), String> {
        tokio::time::sleep(self.delay).await;
        self.outcome.clone()
    }
}

fn check(name: &'static str, outcome: Result<(), String>, delay: Duration) -> Arc<dyn Readiness> {
    Arc::new(Check { name, outcome, delay })
}

async fn get(app: &common::TestApp, uri: &str) -> axum::http::Response<Body> {
    app.send(Request::get(uri).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn health_is_cheap_and_unauthenticated() {
    let app = app();
    let response = get(&app, "/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let body = body_json(response).await;
    assert_eq!(body["status"], "ok");
    assert!(body["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["node"], "test-node");
    assert_eq!(body["hostname"], "test-host");
    assert_eq!(body["connected_to"], serde_json::json!([]), "a node on its own sees no peers");
}

// The paused clock runs the checks' delays and the timeouts in virtual time: which one ends
// first follows from the durations alone, never from how busy the machine is.
#[tokio::test(start_paused = true)]
async fn readiness_reports_each_component() {
    let ok = |name| check(name, Ok(()), Duration::ZERO);
    let app =
        app_with(HttpSettings::default(), StorageSettings::default(), vec![ok("database"), ok("storage")]);
    let response = get(&app, "/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_json(response).await,
        json!({"status": "ready", "checks": {"database": "ok", "storage": "ok"}})
    );

    let settings = HttpSettings { ready_timeout: Duration::from_millis(20), ..HttpSettings::default() };
    let app = app_with(
        settings,
        StorageSettings::default(),
        vec![
            ok("database"),
            check("storage", Err("connection refused to 10.0.0.1".into()), Duration::ZERO),
            check("cache", Ok(()), Duration::from_secs(5)),
        ],
    );
    let response = get(&app, "/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body_json(response).await;
    assert_eq!(
        body,
        json!({"status": "unavailable", "checks": {"database": "ok", "storage": "failed", "cache": "timeout"}})
    );
    assert!(!body.to_string().contains("10.0.0.1"), "failure details stay in the logs");
}

// The body's pauses are the slow client, not synchronisation: each lasts at least 20 ms, so
// the upload always outlasts the 30 ms request timeout. (A paused clock cannot drive it: the
// content pipeline polls the body on the blocking pool, where tokio does not advance time.)
#[tokio::test]
async fn slow_requests_time_out_but_transfers_do_not() {
    let settings = HttpSettings {
        request_timeout: Duration::from_millis(30),
        ready_timeout: Duration::from_secs(5),
        ..HttpSettings::default()
    };
    let app = app_with(
        settings,
        StorageSettings::default(),
        vec![check("database", Ok(()), Duration::from_millis(500))],
    );
    let response = get(&app, "/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(code(&body_json(response).await), "timeout");

    // An upload whose body trickles in for longer than the timeout still completes.
    let token = app.register("alice").await;
    let slow = futures::stream::unfold(0u8, |n| async move {
        if n == 4 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![n; 10])), n + 1))
    });
    let request = Request::post("/api/v1/files?name=slow.bin")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from_stream(slow))
        .unwrap();
    assert_eq!(app.send(request).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = app();
    let response = app
        .send(Request::get("/health").header("x-request-id", "abc-123").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.headers()["x-request-id"], "abc-123");

    let response = app
        .send(Request::get("/api/v1/me").header("x-request-id", "bad id\t!").body(Body::empty()).unwrap())
        .await;
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 27, "a fresh KSUID replaces an unusable id");
    let body = body_json(response).await;
    assert_eq!(body["error"]["request_id"], id.as_str());
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = app();
    let response = get(&app, "/api/v1/nothing/here").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(&body_json(response).await), "not_found");
    let response = app.send(Request::put("/api/v1/me").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&body_json(response).await), "method_not_allowed");
}

#[tokio::test]
async fn oversized_request_heads_answer_json_errors() {
    let app = app();
    // Up to the limits, requests are served.
    let padding = |n: usize| "a".repeat(n);
    let at_limit = format!("/health?{}", padding(8 * 1024 - "/health?".len()));
    assert_eq!(get(&app, &at_limit).await.status(), StatusCode::OK);
    let large = Request::get("/health").header("x-large", padding(30 * 1024)).body(Body::empty()).unwrap();
    assert_eq!(app.send(large).await.status(), StatusCode::OK);

    // Past them, on any route (known or not), a JSON error with a request id.
    for uri in [format!("{at_limit}a"), format!("/api/v1/files/{}", padding(9000))] {
        let response = get(&app, &uri).await;
        assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
        let body = body_json(response).await;
        assert_eq!(code(&body), "uri_too_long");
        assert_eq!(body["error"]["details"]["limit"], 8 * 1024);
        assert!(body["error"]["request_id"].is_string(), "{body}");
    }
    let huge = Request::get("/api/v1/me").header("x-large", padding(33 * 1024)).body(Body::empty()).unwrap();
    let response = app.send(huge).await;
    assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let body = body_json(response).await;
    assert_eq!(code(&body), "headers_too_large");
    assert_eq!(body["error"]["details"]["limit"], 32 * 1024);
    // Many small headers add up.
    let mut many = Request::get("/health");
    for i in 0..80 {
        many = many.header(format!("x-h{i}"), padding(500));
    }
    let response = app.send(many.body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn cors_is_off_by_default_and_on_for_listed_origins() {
    let preflight = || {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/me")
            .header(header::ORIGIN, "https://app.example.com")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let app = app();
    let response = app.send(preflight()).await;
    assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    let settings =
        HttpSettings { cors_origins: vec!["https://app.example.com".into()], ..HttpSettings::default() };
    let app = app_with(settings, StorageSettings::default(), Vec::new());
    let response = app.send(preflight()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    let request = Request::get("/health")
        .header(header::ORIGIN, "https://evil.example.com")
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn metrics_expose_the_expected_series() {
    let app = app();
    let token = app.register("alice").await;
    let id = app.upload_ok(&token, "$", "a.txt", b"hello").await;
    for _ in 0..2 {
        let response = app.download(&token, &id, &[]).await;
        assert_eq!(body_bytes(response).await, &b"hello"[..]);
    }
    app.get("/api/v1/files/nope", &token).await;
    app.get(&format!("/api/v1/files/{id}"), &token).await;

    let response = get(&app, "/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(body_bytes(response).await.to_vec()).unwrap();
    for expected in [
        "drip_http_requests_total{method=\"POST\",route=\"/api/v1/users\",status=\"2xx\"} 1",
        "drip_http_requests_total{method=\"GET\",route=\"/api/v1/files/{id}\",status=\"4xx\"} 1",
        "drip_http_requests_total{method=\"GET\",route=\"/api/v1/files/{id}\",status=\"2xx\"} 1",
        "drip_http_requests_total{method=\"GET\",route=\"/api/v1/files/{id}/content\",status=\"2xx\"} 2",
        "drip_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/files\",status=\"2xx\",le=\"+Inf\"} 1",
        "# TYPE drip_http_request_duration_seconds histogram",
        "drip_store_duration_seconds_count{outcome=\"ok\"} 1",
        "drip_download_duration_seconds_count{outcome=\"ok\"} 2",
        "drip_bytes_in_total 5",
        "drip_bytes_out_total 10",
        "drip_cache_hits_total 1",
        "drip_cache_misses_total 1",
        "drip_transfers_in_flight 0",
        "drip_event_connections 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains(&id), "ids never become labels");
}

/// The value of the unlabelled sample `name` (`None` when absent or not a number).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_keep_every_series_dashboards_use() {
    let app = app();
    let token = app.register("alice").await;
    let id = app.upload_ok(&token, "$", "a.txt", b"hello").await;
    assert_eq!(body_bytes(app.download(&token, &id, &[]).await).await, &b"hello"[..]);

    let text = String::from_utf8(body_bytes(get(&app, "/metrics").await).await.to_vec()).unwrap();
    let families = [
        ("drip_http_requests_total", "counter"),
        ("drip_http_request_duration_seconds", "histogram"),
        ("drip_store_duration_seconds", "histogram"),
        ("drip_download_duration_seconds", "histogram"),
        ("drip_bytes_in_total", "counter"),
        ("drip_bytes_out_total", "counter"),
        ("drip_cache_hits_total", "counter"),
        ("drip_cache_misses_total", "counter"),
        ("drip_cache_entries", "gauge"),
        ("drip_cache_bytes", "gauge"),
        ("drip_transfers_in_flight", "gauge"),
        ("drip_event_connections", "gauge"),
        ("drip_online_users", "gauge"),
    ];
    for (name, kind) in families {
        assert!(text.contains(&format!("# HELP {name} ")), "no help for {name} in\n{text}");
        assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name} is not a {kind} in\n{text}");
    }
    let request = r#"{method="POST",route="/api/v1/files",status="2xx""#;
    for series in [
        format!("drip_http_requests_total{request}}} 1"),
        format!("drip_http_request_duration_seconds_bucket{request},le=\"0.005\"}}"),
        format!("drip_http_request_duration_seconds_bucket{request},le=\"20\"}} 1"),
        format!("drip_http_request_duration_seconds_sum{request}}} "),
        format!("drip_http_request_duration_seconds_count{request}}} 1"),
        "drip_store_duration_seconds_bucket{outcome=\"ok\",le=\"0.01\"}".to_owned(),
        "drip_store_duration_seconds_bucket{outcome=\"ok\",le=\"1800\"} 1".to_owned(),
        "drip_store_duration_seconds_sum{outcome=\"ok\"} ".to_owned(),
        "drip_download_duration_seconds_bucket{outcome=\"ok\",le=\"+Inf\"} 1".to_owned(),
        "drip_download_duration_seconds_sum{outcome=\"ok\"} ".to_owned(),
    ] {
        assert!(text.contains(&series), "missing {series:?} in\n{text}");
    }
    for (name, value) in [
        ("drip_bytes_in_total", 5.0),
        ("drip_bytes_out_total", 5.0),
        ("drip_cache_entries", 1.0),
        ("drip_cache_bytes", 5.0),
        ("drip_online_users", 0.0),
    ] {
        assert_eq!(sample(&text, name), Some(value), "{name} in\n{text}");
    }
}

async fn scrape(app: &common::TestApp) -> String {
    let response = get(app, "/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    String::from_utf8(body_bytes(response).await.to_vec()).unwrap()
}

/// Asserts that the scrape `text` holds each of the `expected` lines (or line starts).
fn assert_series(text: &str, expected: &[&str]) {
    for series in expected {
        assert!(text.contains(series), "missing {series:?} in\n{text}");
    }
}

/// A scrape of `app`, which must hold each of the `expected` lines.
async fn scrape_showing(app: &common::TestApp, expected: &[&str]) -> String {
    let text = scrape(app).await;
    assert_series(&text, expected);
    text
}

/// A deleted file's object removal shows as a queued job; an attempt while the store fails
/// counts as retried and leaves it queued; once the store is back and the retry is due,
/// the attempt succeeds and the queue is empty. Every kind × state and kind × outcome is
/// written, 0 when there is none. (No worker is supervised here, so there are no restart
/// series: the unit tests of the rendering and the e2e tests cover those.)
#[tokio::test]
async fn metrics_count_jobs_by_state_and_attempts_by_outcome() {
    let app = app();
    let token = app.register("alice").await;
    let id = app.upload_ok(&token, "$", "a.txt", b"hello").await;
    let uri = format!("/api/v1/files/{id}?permanent=true");
    let (status, _) = app.call(Method::DELETE, &uri, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let text = scrape_showing(
        &app,
        &[
            "# TYPE drip_jobs gauge\n",
            "# TYPE drip_jobs_oldest_queued_age_seconds gauge\n",
            "# TYPE drip_job_attempts_total counter\n",
            r#"drip_jobs{kind="delete_object",state="queued"} 1"#,
            r#"drip_jobs{kind="delete_object",state="dead"} 0"#,
            r#"drip_jobs{kind="reclaim_upload",state="running"} 0"#,
            r#"drip_job_attempts_total{kind="delete_object",outcome="succeeded"} 0"#,
            r#"drip_job_attempts_total{kind="reclaim_upload",outcome="lost"} 0"#,
        ],
    )
    .await;
    // The fakes' clock stands at the epoch: the job has been due for a long time.
    assert!(sample(&text, "drip_jobs_oldest_queued_age_seconds").unwrap() > 0.0, "{text}");

    app.fakes.objects.set_failing(true);
    assert_eq!(app.runner.run_due().await.unwrap(), 1);
    scrape_showing(
        &app,
        &[
            r#"drip_jobs{kind="delete_object",state="queued"} 1"#,
            r#"drip_job_attempts_total{kind="delete_object",outcome="retried"} 1"#,
            r#"drip_job_attempts_total{kind="delete_object",outcome="succeeded"} 0"#,
        ],
    )
    .await;

    // The store is back and, a second later on the fakes' clock, the retry is due.
    app.fakes.objects.set_failing(false);
    app.fakes.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(app.runner.run_due().await.unwrap(), 1);
    let text = scrape_showing(
        &app,
        &[
            r#"drip_jobs{kind="delete_object",state="queued"} 0"#,
            r#"drip_job_attempts_total{kind="delete_object",outcome="retried"} 1"#,
            r#"drip_job_attempts_total{kind="delete_object",outcome="succeeded"} 1"#,
        ],
    )
    .await;
    assert_eq!(sample(&text, "drip_jobs_oldest_queued_age_seconds"), Some(0.0), "no job is queued");
    assert!(app.fakes.objects.is_empty(), "the object is gone");
}

/// A queue that cannot be read leaves its families out of the scrape, which still answers
/// with everything else.
#[tokio::test]
async fn a_scrape_answers_while_the_job_queue_is_down() {
    let mut queue = MockJobQueue::new();
    queue.expect_stats().returning(|| Err(BackendError::msg("the database is down")));
    let app = app_with_job_queue(Arc::new(queue));
    let text = scrape(&app).await;
    assert!(!text.contains("drip_jobs{") && !text.contains("drip_jobs_oldest"), "{text}");
    assert_series(
        &text,
        &["# TYPE drip_job_attempts_total counter", "# TYPE drip_transfers_in_flight gauge"],
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn metrics_include_the_standard_process_metrics() {
    let text = String::from_utf8(body_bytes(get(&app(), "/metrics").await).await.to_vec()).unwrap();
    let value = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
    for (name, kind) in [
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_virtual_memory_max_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_threads", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name} is not a {kind} in\n{text}");
    }
    assert!(value("process_cpu_seconds_total") >= 0.0);
    let resident = value("process_resident_memory_bytes");
    assert!(resident > 0.0, "resident memory {resident}");
    assert!(value("process_virtual_memory_bytes") >= resident, "virtual memory holds the resident set");
    assert!(value("process_virtual_memory_max_bytes") > 0.0);
    let open = value("process_open_fds");
    assert!(open >= 3.0, "stdin, stdout and stderr at least: {open}");
    assert!(value("process_max_fds") >= open);
    assert!(value("process_threads") >= 1.0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let started = value("process_start_time_seconds");
    // The boot time in /proc/stat has whole seconds: allow for its rounding.
    assert!(started <= now + 2.0 && started > now - 86_400.0, "started at {started}, now is {now}");
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let settings = HttpSettings { metrics_token: Some("s3cret".into()), ..HttpSettings::default() };
    let app = app_with(settings, StorageSettings::default(), Vec::new());
    assert_eq!(get(&app, "/metrics").await.status(), StatusCode::UNAUTHORIZED);
    let request =
        Request::get("/metrics").header(header::AUTHORIZATION, "Bearer s3cret").body(Body::empty()).unwrap();
    assert_eq!(app.send(request).await.status(), StatusCode::OK);
}
