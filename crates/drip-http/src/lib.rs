//! Drip's inbound HTTP adapter (axum): the JSON API under `/api/v1`, the original
//! ElixirDrip endpoints under `/api`, real-time events over a WebSocket, and the
//! operational endpoints `/health`, `/ready` and `/metrics`.
//!
//! The crate depends on `drip-core` only: it drives [`AccountService`] and
//! [`StorageService`], subscribes connections to the [`Hub`], asks the facade's
//! [`Readiness`] checks whether the database and the object store answer, and reads the
//! job queue, the job runner and the workers' restarts ([`Workers`]) for `/metrics`. It owns its
//! DTOs and its error type; domain types never see serde.
//!
//! Serve it with connect info, so that the limits kept per client address see each
//! client's (without it, every request counts as from 127.0.0.1); `drip serve` runs its
//! own accept loop with connection timeouts on top of this:
//!
//! ```no_run
//! # async fn serve(state: drip_http::AppState) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! let app = drip_http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! [`AccountService`]: drip_core::accounts::AccountService
//! [`StorageService`]: drip_core::storage::StorageService
//! [`Hub`]: drip_core::events::Hub

mod client_ip;
mod cursor;
mod dto;
mod error;
mod extract;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod idle;
mod metrics;
mod middleware;
mod openapi;
mod range;
mod routes;
mod schemas;
mod state;
mod transfers;

pub use openapi::openapi_json;
pub use routes::{api_v1_routes, documented_routes, router};
pub use state::{AppState, CookieSettings, HttpSettings, NodeView, Readiness, Services, Workers};
