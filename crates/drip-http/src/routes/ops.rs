//! Operational routes: `/health` (liveness), `/ready` (dependencies answer), `/metrics`
//! (Prometheus text), the OpenAPI document, and the JSON answers for unknown routes and
//! methods.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;

use crate::dto::{HealthDto, ReadyDto, timestamp};
use crate::error::ApiError;
use crate::extract::bearer;
use crate::metrics::{self, Gauges, JobGauges};
use crate::state::AppState;

/// Liveness: answers as long as the process serves requests; checks nothing else. Names
/// the node, its host and the peers it saw alive at its last beat (the original's
/// `{ok, hostname, node, connected_to}`), from memory: no dependency is asked.
pub(crate) async fn health(State(state): State<AppState>) -> Json<HealthDto> {
    let node = state.node();
    Json(HealthDto {
        status: "ok".to_owned(),
        time: timestamp(chrono::Utc::now()),
        node: node.info().name.to_string(),
        hostname: node.info().hostname.clone(),
        connected_to: node.peers().into_iter().map(|peer| peer.name.to_string()).collect(),
    })
}

/// Readiness: every configured check (database, object store...) must answer in time.
pub(crate) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<ReadyDto>) {
    let limit = state.settings().ready_timeout;
    let checks = state.readiness().iter().map(|check| async move {
        let outcome = match tokio::time::timeout(limit, check.check()).await {
            Ok(Ok(())) => "ok",
            Ok(Err(why)) => {
                tracing::warn!(component = check.component(), error = %why, "readiness check failed");
                "failed"
            }
            Err(_) => {
                tracing::warn!(component = check.component(), "readiness check timed out");
                "timeout"
            }
        };
        (check.component().to_owned(), outcome.to_owned())
    });
    let checks: BTreeMap<String, String> = join_all(checks).await.into_iter().collect();
    let ready = checks.values().all(|outcome| outcome == "ok");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let label = if ready { "ready" } else { "unavailable" };
    (status, Json(ReadyDto { status: label.to_owned(), checks }))
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Prometheus metrics in the text exposition format (version 0.0.4).
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(expected) = &state.settings().metrics_token
        && !bearer(&headers).is_some_and(|token| same_secret(token, expected))
    {
        return Err(ApiError::unauthenticated());
    }
    // This node's own connections: each node reports its share.
    let online = state.hub().local_online();
    let workers = state.workers();
    let gauges = Gauges {
        cache: state.storage().cache().stats(),
        transfers_in_flight: state.storage().transfers_in_flight(),
        connections: online.iter().map(|e| e.connections).sum(),
        online_users: online.len(),
        jobs: job_gauges(&state).await,
        job_attempts: workers.runner.outcomes(),
        worker_restarts: workers.restarts.snapshot(),
    };
    let text =
        state.metrics().render(gauges).map_err(|_| ApiError::internal("encoding the metrics failed"))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE))], text).into_response())
}

/// The job queue's counts, read within the readiness timeout; `None` (logged) when the
/// queue fails or is too slow, so that a scrape still answers.
async fn job_gauges(state: &AppState) -> Option<JobGauges> {
    let stats = match tokio::time::timeout(state.settings().ready_timeout, state.workers().queue.stats())
        .await
    {
        Ok(Ok(stats)) => stats,
        Ok(Err(error)) => {
            tracing::warn!(error = %drip_core::error::report(&error), "metrics: cannot read the job queue");
            return None;
        }
        Err(_) => {
            tracing::warn!("metrics: the job queue did not answer in time");
            return None;
        }
    };
    let waited = stats.oldest_queued.map(|due| chrono::Utc::now() - due);
    Some(JobGauges {
        counts: stats.counts,
        oldest_queued_age: waited.and_then(|w| w.to_std().ok()).unwrap_or_default(),
    })
}

/// The OpenAPI description of `/api/v1`.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi() -> Response {
    let mut response = crate::openapi::served().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// 404 `not_found` for a route that does not exist.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// 405 `method_not_allowed`.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept this method",
    )
}
