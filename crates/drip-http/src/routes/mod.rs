//! The route table and the router: every route is declared once, here, with whether it
//! is quick (bounded by the request timeout) or a transfer (bounded by its bytes moving);
//! the `/api/v1` part of the same table is what the OpenAPI test compares the served
//! document against.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodFilter, MethodRouter, on};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::middleware::{REQUEST_ID_HEADER, limit_head, observe, with_timeout};
use crate::state::{AppState, HttpSettings};

pub(crate) mod accounts;
pub(crate) mod archives;
pub(crate) mod downloads;
pub(crate) mod events;
pub(crate) mod files;
pub(crate) mod folders;
pub(crate) mod legacy;
pub(crate) mod links;
pub(crate) mod ops;
pub(crate) mod public;
pub(crate) mod search;
pub(crate) mod shares;
pub(crate) mod trash;
pub(crate) mod ui;
pub(crate) mod uploads;

/// Prefix of the documented JSON API.
pub(crate) const API_V1: &str = "/api/v1";

#[derive(Debug, Clone, Copy)]
enum Verb {
    Get,
    Head,
    Options,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Head => MethodFilter::HEAD,
            Self::Options => MethodFilter::OPTIONS,
            Self::Post => MethodFilter::POST,
            Self::Put => MethodFilter::PUT,
            Self::Patch => MethodFilter::PATCH,
            Self::Delete => MethodFilter::DELETE,
        }
    }

    fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Head => Method::HEAD,
            Self::Options => Method::OPTIONS,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Patch => Method::PATCH,
            Self::Delete => Method::DELETE,
        }
    }
}

/// A router under construction and the `/api/v1` routes added to it.
struct Routes {
    router: Router<AppState>,
    documented: Vec<(Method, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Self { router: Router::new(), documented: Vec::new() }
    }

    /// A route that answers without moving file content: the request timeout applies.
    fn quick<H, T>(self, verb: Verb, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(verb, path, on(verb.filter(), handler).layer(from_fn(with_timeout)))
    }

    /// A route that moves file content or holds a connection: no overall timeout.
    fn transfer<H, T>(self, verb: Verb, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(verb, path, on(verb.filter(), handler))
    }

    /// A route of the tus protocol: a transfer whose every response says
    /// `Tus-Resumable`.
    fn tus<H, T>(self, verb: Verb, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(verb, path, on(verb.filter(), handler).layer(from_fn(uploads::tus_resumable)))
    }

    fn add(mut self, verb: Verb, path: &'static str, route: MethodRouter<AppState>) -> Self {
        if path.starts_with(API_V1) || path.starts_with("/s/") || path.starts_with("/d/") {
            self.documented.push((verb.method(), path));
        }
        self.router = self.router.route(path, route);
        self
    }
}

/// Every route of the service.
fn routes() -> Routes {
    use Verb::{Delete, Get, Head, Options, Patch, Post, Put};
    Routes::new()
        // accounts
        .quick(Post, "/api/v1/users", accounts::register)
        .quick(Get, "/api/v1/users/top", search::top_users)
        .quick(Post, "/api/v1/sessions", accounts::login)
        .quick(Delete, "/api/v1/sessions", accounts::logout)
        .quick(Post, "/api/v1/sessions/refresh", accounts::refresh)
        .quick(Get, "/api/v1/me", accounts::me)
        .quick(Delete, "/api/v1/me", accounts::close)
        .quick(Put, "/api/v1/me/password", accounts::change_password)
        .quick(Get, "/api/v1/me/sessions", accounts::sessions)
        .quick(Delete, "/api/v1/me/sessions/{id}", accounts::end_session)
        .quick(Get, "/api/v1/me/usage", accounts::usage)
        // files
        .transfer(Post, "/api/v1/files", files::upload)
        .quick(Get, "/api/v1/files", files::list_all)
        .transfer(Post, "/api/v1/files/form", files::upload_form)
        .quick(Get, "/api/v1/files/{id}", files::info)
        .quick(Patch, "/api/v1/files/{id}", files::update)
        .quick(Delete, "/api/v1/files/{id}", files::delete)
        .transfer(Get, "/api/v1/files/{id}/content", files::download)
        .transfer(Put, "/api/v1/files/{id}/content", files::replace_content)
        .quick(Get, "/api/v1/folders", files::list_folder)
        .quick(Delete, "/api/v1/folders", folders::delete_folder)
        .quick(Post, "/api/v1/folders/move", folders::move_folder)
        // download URLs the browser's own download manager opens
        .quick(Post, "/api/v1/files/{id}/download-url", downloads::for_file)
        .quick(Post, "/api/v1/archives/{id}/download-url", downloads::for_archive)
        .transfer(Get, "/api/v1/downloads/{ticket}", downloads::download)
        // resumable uploads (tus 1.0.0)
        .tus(Options, "/api/v1/uploads", uploads::options)
        .tus(Post, "/api/v1/uploads", uploads::create)
        .tus(Head, "/api/v1/uploads/{id}", uploads::status)
        .tus(Patch, "/api/v1/uploads/{id}", uploads::append)
        .tus(Delete, "/api/v1/uploads/{id}", uploads::terminate)
        // the trash of deleted files
        .quick(Get, "/api/v1/trash", trash::list)
        .quick(Delete, "/api/v1/trash", trash::empty)
        .quick(Post, "/api/v1/trash/{id}/restore", trash::restore)
        .quick(Delete, "/api/v1/trash/{id}", trash::purge)
        // prepared folder archives
        .quick(Post, "/api/v1/archives", archives::create)
        .quick(Get, "/api/v1/archives", archives::list)
        .quick(Get, "/api/v1/archives/{id}", archives::show)
        .quick(Delete, "/api/v1/archives/{id}", archives::delete)
        .transfer(Get, "/api/v1/archives/{id}/content", archives::content)
        // shares and search
        .quick(Get, "/api/v1/files/{id}/shares", shares::list)
        .quick(Get, "/api/v1/me/share-partners", shares::partners)
        .quick(Get, "/api/v1/me/shares", shares::overview)
        .quick(Post, "/api/v1/files/{id}/shares", shares::create)
        .quick(Delete, "/api/v1/files/{id}/shares/{username}", shares::remove)
        .quick(Get, "/api/v1/search", search::search)
        .quick(Get, "/api/v1/search/names", search::search_names)
        // public links and drop links
        .quick(Post, "/api/v1/files/{id}/links", links::create)
        .quick(Get, "/api/v1/files/{id}/links", links::list_of_file)
        .quick(Get, "/api/v1/links", links::list)
        .quick(Delete, "/api/v1/links/{id}", links::revoke)
        .quick(Post, "/api/v1/drops", links::create_drop)
        .quick(Get, "/api/v1/drops", links::list_drops)
        .quick(Delete, "/api/v1/drops/{id}", links::revoke_drop)
        // what visitors without an account reach through links
        .quick(Get, "/s/{token}", public::link_page)
        .quick(Post, "/s/{token}", public::unlock_link)
        .transfer(Get, "/s/{token}/content", public::link_content)
        .quick(Get, "/d/{token}", public::drop_page)
        .transfer(Post, "/d/{token}", public::drop_post)
        // real-time events and the description of all the above
        .transfer(Get, "/api/v1/events", events::connect)
        .quick(Get, "/api/v1/openapi.json", ops::openapi)
        // the original's endpoints
        .quick(Get, "/api/files", legacy::files)
        .quick(Post, "/api/sessions", legacy::login)
        .quick(Delete, "/api/sessions", legacy::logout)
        // operations
        .quick(Get, "/health", ops::health)
        .quick(Get, "/ready", ops::ready)
        .quick(Get, "/metrics", ops::metrics)
}

/// The `/api/v1` routes the router serves, as (method, path template).
#[must_use]
pub fn api_v1_routes() -> Vec<(Method, &'static str)> {
    routes().documented.into_iter().filter(|(_, path)| path.starts_with(API_V1)).collect()
}

/// The routes the OpenAPI document describes, exactly: `/api/v1` and what visitors reach
/// through public and drop links (`/s/…`, `/d/…`).
#[must_use]
pub fn documented_routes() -> Vec<(Method, &'static str)> {
    routes().documented
}

/// The whole HTTP interface over `state`: `/api/v1`, the original's `/api` endpoints,
/// real-time events, `/health`, `/ready` and `/metrics`, with request ids, access logs,
/// metrics, limits of the request head and body, timeouts and (when origins are
/// configured) CORS.
pub fn router(state: AppState) -> Router {
    let mut router = routes()
        .router
        .merge(ui::routes())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings().max_json_bytes))
        .layer(from_fn(limit_head))
        .layer(from_fn_with_state(state.clone(), observe));
    if let Some(cors) = cors(state.settings()) {
        router = router.layer(cors);
    }
    router.with_state(state)
}

/// The CORS layer, `None` when no origin is allowed (CORS off: browsers refuse
/// cross-origin reads).
fn cors(settings: &HttpSettings) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = settings
        .cors_origins
        .iter()
        .filter_map(|origin| match HeaderValue::from_str(origin.trim()) {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::warn!(%origin, "ignoring an invalid CORS origin");
                None
            }
        })
        .collect();
    if origins.is_empty() {
        return None;
    }
    let exposed: [HeaderName; 8] = [
        header::CONTENT_DISPOSITION,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::ETAG,
        header::LOCATION,
        header::RETRY_AFTER,
        REQUEST_ID_HEADER.clone(),
    ];
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::RANGE,
                header::IF_NONE_MATCH,
                header::IF_RANGE,
                REQUEST_ID_HEADER.clone(),
            ])
            .expose_headers(exposed)
            .max_age(Duration::from_secs(600)),
    )
}
