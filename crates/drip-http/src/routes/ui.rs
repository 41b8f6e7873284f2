//! The web UI (the original's Phoenix pages, done as one static page over `/api/v1`):
//! `GET /` serves the page, `GET /ui/app.js` and `GET /ui/app.css` its script and style,
//! `GET /ui/drop.js` the drag and drop of the drop links' upload page, `GET /ui/icon.svg`
//! (also at `/favicon.ico`, which browsers ask for on every page) the icon.
//!
//! The files are embedded in the binary (`assets/`), need no authentication (the page
//! logs in through the API and keeps its token in the tab) and are not part of `/api/v1`.
//! Every answer carries a strict `Content-Security-Policy`: scripts and styles only from
//! this origin (no inline code), connections only to this origin and its WebSocket.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// The page: markup only; behaviour and style come from the two files below.
const INDEX_HTML: &str = include_str!("../../assets/index.html");
/// The application, an ES module.
const APP_JS: &str = include_str!("../../assets/app.js");
/// The style sheet.
const APP_CSS: &str = include_str!("../../assets/app.css");
/// The drop page's drag and drop.
const DROP_JS: &str = include_str!("../../assets/drop.js");
/// The icon (SVG).
const ICON_SVG: &str = include_str!("../../assets/icon.svg");

/// What the UI may load and connect to: nothing but this origin (and its WebSocket), no
/// inline script or style, no framing, no `<base>` rewriting, forms only to this origin.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The UI's routes, merged into the service's router outside `/api/v1`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/app.js", get(app_js))
        .route("/ui/app.css", get(app_css))
        .route("/ui/drop.js", get(drop_js))
        .route("/ui/icon.svg", get(icon))
        .route("/favicon.ico", get(icon))
}

/// `GET /` (whatever the query, e.g. `?path=$/docs`: the script reads it).
async fn index() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

/// `GET /ui/app.js`.
async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

/// `GET /ui/drop.js`.
async fn drop_js() -> Response {
    asset(DROP_JS, "text/javascript; charset=utf-8")
}

/// `GET /ui/icon.svg` and `GET /favicon.ico`.
async fn icon() -> Response {
    asset(ICON_SVG, "image/svg+xml")
}

/// `GET /ui/app.css`.
async fn app_css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

/// An embedded file with its type, revalidated on every use (`no-cache`), so a new
/// binary's UI is picked up at once, and the security headers.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ];
    (headers, body).into_response()
}
