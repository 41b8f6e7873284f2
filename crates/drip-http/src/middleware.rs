//! Middleware around every route: request ids, the tracing span and access log, request
//! metrics by route template, the limits of the request head (answered in the JSON error
//! shape, unlike hyper's own bare 414 and 431), and the timeout of non-transfer routes.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use drip_core::Ksuid;
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::state::AppState;

/// The request-id header, read from clients and echoed on every response.
pub(crate) static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied request id that is kept (a longer one is replaced).
const MAX_REQUEST_ID: usize = 128;

/// Longest request target (path and query) served; longer ones answer 414 `uri_too_long`.
/// hyper itself refuses targets over 64 KiB, with an empty 414.
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;

/// Most bytes of request headers served (names, values and their separators); more answer
/// 431 `headers_too_large`. hyper itself refuses a head over its read buffer (about
/// 400 KiB) or with more than 100 headers, with an empty 431.
pub(crate) const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Route label of requests no route matched.
pub(crate) const UNMATCHED: &str = "unmatched";

/// What the handlers of one request may need without threading it through: its id (for
/// error bodies and logs) and the `Retry-After` seconds to advertise.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// The request id.
    pub(crate) id: String,
    /// Seconds to put in `Retry-After`.
    pub(crate) retry_after: u64,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The context of the request being handled on this task, if any.
pub(crate) fn current() -> Option<RequestContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// The time a non-transfer route is allowed, handed from [`observe`] to [`with_timeout`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestTimeout(pub(crate) Duration);

/// A client's request id when it is a sane token, else a fresh KSUID.
fn request_id(request: &Request) -> String {
    let supplied = request.headers().get(&REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).filter(|id| {
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    });
    match supplied {
        Some(id) => id.to_owned(),
        None => Ksuid::generate(chrono::Utc::now()).to_string(),
    }
}

/// Gives the request an id, runs it inside a tracing span and the request context, logs
/// it (without its query string, which may hold a token), and records its metrics under
/// the matched route template.
pub(crate) async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    request.extensions_mut().insert(RequestTimeout(state.settings().request_timeout));
    let context = RequestContext { id: id.clone(), retry_after: state.settings().retry_after_secs };
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut response = CONTEXT.scope(context, next.run(request)).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER.clone(), value);
    }
    // No response is to be sniffed into another type (an uploaded file into HTML, say).
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let elapsed = started.elapsed();
    let status = response.status();
    state.metrics().record_request(&method, &route, status, elapsed);
    let quiet = matches!(route.as_str(), "/health" | "/ready" | "/metrics");
    if quiet {
        tracing::debug!(request_id = %id, %method, %route, status = status.as_u16(), elapsed_ms = elapsed.as_millis() as u64, "request");
    } else {
        tracing::info!(request_id = %id, %method, %route, status = status.as_u16(), elapsed_ms = elapsed.as_millis() as u64, "request");
    }
    response
}

/// Answers 414 `uri_too_long` and 431 `headers_too_large` for request heads past
/// [`MAX_URI_BYTES`] and [`MAX_HEADER_BYTES`], before any handler runs.
pub(crate) async fn limit_head(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let uri_bytes = uri.path_and_query().map_or(0, |target| target.as_str().len())
        + uri.authority().map_or(0, |authority| authority.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return ApiError::uri_too_long(MAX_URI_BYTES).into_response();
    }
    let header_bytes: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::headers_too_large(MAX_HEADER_BYTES).into_response();
    }
    next.run(request).await
}

/// Answers 503 `timeout` when the handler takes longer than the request timeout. Only
/// routes that do not move file content carry this layer.
pub(crate) async fn with_timeout(request: Request, next: Next) -> Response {
    let Some(RequestTimeout(limit)) = request.extensions().get::<RequestTimeout>().copied() else {
        return next.run(request).await;
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout().into_response(),
    }
}

/// Marks a response that carries credentials (tokens, session cookies) as never to be
/// stored by a browser or a proxy cache.
pub(crate) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The metrics label of a method; unusual methods share one label, so clients cannot
/// blow up the number of series.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
