//! `drip serve`: wires the HTTP layer over the facade's services, maps the configuration
//! into drip-http's settings, serves, and shuts down gracefully.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use drip::{Component, Config, Drip, ExposeSecret as _};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::connections::{self, Timeouts};
use crate::shutdown::{self, Requests};

/// Readiness of one component, answered by the facade's probe for it.
struct ComponentCheck {
    drip: Drip,
    component: Component,
}

#[async_trait::async_trait]
impl drip_http::Readiness for ComponentCheck {
    fn component(&self) -> &str {
        self.component.name()
    }

    async fn check(&self) -> Result<(), String> {
        self.drip.check_ready(self.component).await
    }
}

/// Serves the HTTP API until SIGINT/SIGTERM, then shuts down: no new connections, in-flight
/// requests get the grace period, the rest are cut off, and the removal of cut-off uploads
/// is waited for.
pub(crate) async fn serve(config: Config) -> Result<()> {
    let drip = Drip::build(&config).await.context("cannot start Drip")?;
    for path in &drip.wiring.generated_secrets {
        warn!(path = %path.display(), "generated a new secret on first run (mode 0600); back it up");
    }
    // Nothing of this process uploads yet: what the store holds of unfinished uploads was
    // left by a process that died.
    let removed = drip.remove_partial_uploads();
    if removed > 0 {
        info!(removed, "removed partial uploads left by a previous process");
    }
    let settings = http_settings(&config)?;
    let checks: Vec<Arc<dyn drip_http::Readiness>> = drip
        .components()
        .into_iter()
        .map(|component| {
            Arc::new(ComponentCheck { drip: drip.clone(), component }) as Arc<dyn drip_http::Readiness>
        })
        .collect();
    let services = drip_http::Services {
        accounts: drip.accounts.clone(),
        storage: drip.storage.clone(),
        links: drip.links.clone(),
        archives: drip.archives.clone(),
        uploads: drip.uploads.clone(),
    };
    let state = drip_http::AppState::new(
        services,
        drip.hub.clone(),
        drip.cluster
            .clone()
            .map_or_else(|| drip_http::NodeView::alone(drip.node.clone()), drip_http::NodeView::of),
        drip_http::Workers {
            queue: Arc::clone(&drip.queue),
            runner: Arc::clone(&drip.jobs),
            restarts: drip.restarts.clone(),
        },
        checks,
        settings,
    );
    let requests = Requests::default();
    let app = requests.track(drip_http::router(state));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    println!("drip listening on http://{address}");
    println!("  database: {}", drip.wiring.database);
    println!("  storage:  {}", drip.wiring.storage);
    println!("  data dir: {}", config.data_dir.display());
    info!(%address, database = %drip.wiring.database, storage = %drip.wiring.storage, "serving");

    let workers_stop = CancellationToken::new();
    let workers = drip.spawn_workers(workers_stop.clone());
    let stop = CancellationToken::new();
    let timeouts =
        Timeouts { header_read: config.http.header_read_timeout, send_idle: config.http.transfer_idle };
    let mut server = tokio::spawn(connections::serve(listener, app, timeouts, stop.clone()));
    tokio::select! {
        result = &mut server => return result.context("the server task failed"),
        () = shutdown::signal() => {}
    }
    info!(grace = ?config.shutdown_grace, "shutting down: no new connections, finishing in-flight requests");
    stop.cancel();
    match tokio::time::timeout(config.shutdown_grace, &mut server).await {
        Ok(result) => result.context("the server task failed")?,
        Err(_) => {
            warn!(
                in_flight = drip.storage.transfers_in_flight(),
                "shutdown deadline passed; cutting off open transfers"
            );
            server.abort();
        }
    }
    // Uploads cut off (or abandoned by their clients) remove what they reserved on tasks
    // of their own: wait for those, at most another grace period.
    let cleanup = async {
        requests.cut_off().await;
        drip.storage.cleanups_finished().await;
    };
    if tokio::time::timeout(config.shutdown_grace, cleanup).await.is_err() {
        warn!("the removal of cut-off uploads did not finish in time; their records may stay behind");
    }
    // Jobs are durable: what is left runs at the next start.
    workers_stop.cancel();
    if tokio::time::timeout(config.shutdown_grace, workers).await.is_err() {
        warn!("a background job did not finish in time; it runs again after its lease");
    }
    info!("stopped");
    Ok(())
}

/// The HTTP layer's settings from the configuration; every field of [`drip_http::HttpSettings`]
/// is named, so a new one cannot go unconfigured (the connection timeouts are the accept
/// loop's).
///
/// # Errors
/// When `http.client_ip_header` is no header name (the configuration checks it already).
fn http_settings(config: &Config) -> Result<drip_http::HttpSettings> {
    let drip::HttpConfig {
        max_json_bytes,
        request_timeout,
        cors_origins,
        max_transfers_per_user,
        max_transfers_per_ip,
        transfer_idle,
        header_read_timeout: _,
        client_ip_header,
        ready_timeout,
        ws_heartbeat,
        retry_after_secs,
        metrics_token,
        cookies,
    } = &config.http;
    let client_ip_header = client_ip_header
        .as_deref()
        .map(axum::http::HeaderName::try_from)
        .transpose()
        .context("http.client_ip_header is no header name")?;
    Ok(drip_http::HttpSettings {
        max_json_bytes: *max_json_bytes,
        request_timeout: *request_timeout,
        cors_origins: cors_origins.clone(),
        cookies: drip_http::CookieSettings {
            access_name: cookies.access_name.clone(),
            refresh_name: cookies.refresh_name.clone(),
            secure: cookies.secure.unwrap_or(!config.listen.ip().is_loopback()),
            domain: cookies.domain.clone(),
        },
        max_transfers_per_user: *max_transfers_per_user,
        max_transfers_per_ip: *max_transfers_per_ip,
        transfer_idle: *transfer_idle,
        client_ip_header,
        ready_timeout: *ready_timeout,
        ws_heartbeat: *ws_heartbeat,
        retry_after_secs: *retry_after_secs,
        metrics_token: metrics_token.as_ref().map(|token| token.expose_secret().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_defaults_are_the_http_layer_defaults() {
        let mut config = Config::embedded("/unused").unwrap();
        config.listen = "0.0.0.0:4000".parse().unwrap();
        assert_eq!(http_settings(&config).unwrap(), drip_http::HttpSettings::default());
    }

    #[test]
    fn cookies_are_secure_unless_on_loopback_or_configured() {
        let mut config = Config::embedded("/unused").unwrap();
        assert!(!http_settings(&config).unwrap().cookies.secure, "the embedded default listens on loopback");
        config.http.cookies.secure = Some(true);
        assert!(http_settings(&config).unwrap().cookies.secure);
    }

    #[test]
    fn the_client_ip_header_reaches_the_http_layer() {
        let mut config = Config::embedded("/unused").unwrap();
        config.http.client_ip_header = Some("X-Forwarded-For".to_owned());
        let header = http_settings(&config).unwrap().client_ip_header;
        assert_eq!(header.as_ref().map(axum::http::HeaderName::as_str), Some("x-forwarded-for"));
    }
}
