//! Graceful shutdown: the signal that starts it, and the in-flight requests it waits for —
//! tracked, so that past the grace period they are cut off while the runtime still runs
//! (a cut-off upload then removes what it reserved; see `StorageService::cleanups_finished`).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The requests being handled, and the switch that cuts them off.
#[derive(Debug, Clone, Default)]
pub(crate) struct Requests {
    running: TaskTracker,
    cut_off: CancellationToken,
}

impl Requests {
    /// `router` with every request's handling tracked (until its response head: a body
    /// streamed afterwards, or an upgraded WebSocket, is not waited for).
    pub(crate) fn track(&self, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), track))
    }

    /// Cuts off the requests still being handled (they answer 503) and waits until their
    /// handlers are dropped.
    pub(crate) async fn cut_off(&self) {
        self.cut_off.cancel();
        self.running.close();
        self.running.wait().await;
    }
}

async fn track(State(requests): State<Requests>, request: Request, next: Next) -> Response {
    requests
        .running
        .track_future(async move {
            tokio::select! {
                response = next.run(request) => response,
                () = requests.cut_off.cancelled() => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        })
        .await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
