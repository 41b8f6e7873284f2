//! The `drip` binary: loads the configuration, wires Drip through the facade, and serves
//! the HTTP API (`drip serve`, the default), migrates (`drip migrate`), or runs an admin
//! command (`drip user create`, `drip top-users`, `drip rewrap-keys`).

mod logging;

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use drip::{Component, Config, Drip, ExposeSecret as _};
use drip_core::accounts::model::RegisterRequest;
use drip_core::storage::model::{SortOrder, UsageSort};
use tracing::{info, warn};

/// Drip: encrypted file storage and sharing.
#[derive(Debug, Parser)]
#[command(name = "drip", version)]
struct Cli {
    /// Configuration file (default: ./drip.toml when present). Environment variables
    /// `DRIP_SECTION__KEY` override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory of the embedded defaults (overrides `data_dir`).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (overrides `server.listen`).
    #[arg(long, global = true)]
    listen: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API, events and metrics (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Show the users with the most files or bytes.
    TopUsers {
        /// media_count, disk_usage or username.
        #[arg(long, default_value = "media_count")]
        sort: String,
        /// asc or desc.
        #[arg(long, default_value = "desc")]
        order: String,
        /// How many users (at most 100).
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Re-wrap every data key with the current master key (after adding a new one).
    RewrapKeys,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        /// Username.
        #[arg(long)]
        username: String,
        /// Email address.
        #[arg(long)]
        email: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("drip: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drip: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The configuration's layers (defaults < file < `DRIP_*` environment) with the flags on
/// top.
fn load_config(cli: &Cli) -> Result<Config> {
    if let Some(path) = &cli.config
        && !path.exists()
    {
        bail!("configuration file {} does not exist", path.display());
    }
    let default_file = PathBuf::from("drip.toml");
    let file = cli.config.clone().or_else(|| default_file.exists().then_some(default_file));
    let mut figment = Config::figment(file.as_deref());
    if let Some(dir) = &cli.data_dir {
        // Paths derived from the data dir follow it unless configured explicitly.
        figment = figment.merge(("data_dir", dir));
    }
    if let Some(listen) = cli.listen {
        figment = figment.merge(("server.listen", listen));
    }
    Ok(Config::from_figment(&figment)?)
}

async fn run(cli: Cli) -> Result<()> {
    let config = load_config(&cli)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let drip = Drip::build(&config).await.context("cannot open Drip")?;
            info!(database = %drip.wiring.database, "migrations applied");
            println!("migrations applied to {}", drip.wiring.database);
            Ok(())
        }
        Command::User { command: UserCommand::Create { username, email } } => {
            let drip = Drip::build(&config).await.context("cannot open Drip")?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password).context("cannot read the password from stdin")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let request = RegisterRequest::parse(&username, &email, password)?;
            let session = drip.accounts.register(request).await?;
            println!("created user {} ({})", session.owner.username, session.owner.id);
            Ok(())
        }
        Command::TopUsers { sort, order, limit } => {
            let sort = UsageSort::parse(&sort).context("sort is one of media_count, disk_usage, username")?;
            let order = SortOrder::parse(&order).context("order is asc or desc")?;
            let drip = Drip::build(&config).await.context("cannot open Drip")?;
            println!("{:<30} {:>12} {:>16}", "username", "media_count", "disk_usage");
            for row in drip.storage.top_users(sort, order, limit).await? {
                println!("{:<30} {:>12} {:>16}", row.username, row.usage.media_count, row.usage.disk_usage);
            }
            Ok(())
        }
        Command::RewrapKeys => {
            let drip = Drip::build(&config).await.context("cannot open Drip")?;
            let mut total = 0;
            loop {
                let done = drip.storage.rewrap_keys(500).await?;
                if done == 0 {
                    break;
                }
                total += done;
            }
            println!("re-wrapped {total} data keys");
            Ok(())
        }
    }
}

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

async fn serve(config: Config) -> Result<()> {
    let drip = Drip::build(&config).await.context("cannot start Drip")?;
    for path in &drip.wiring.generated_secrets {
        warn!(path = %path.display(), "generated a new secret on first run (mode 0600); back it up");
    }
    let settings = http_settings(&config);
    let checks: Vec<Arc<dyn drip_http::Readiness>> = Component::ALL
        .into_iter()
        .map(|component| {
            Arc::new(ComponentCheck { drip: drip.clone(), component }) as Arc<dyn drip_http::Readiness>
        })
        .collect();
    let state = drip_http::AppState::new(
        drip.accounts.clone(),
        drip.storage.clone(),
        drip.hub.clone(),
        checks,
        settings,
    );
    let app = drip_http::router(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    println!("drip listening on http://{address}");
    println!("  database: {}", drip.wiring.database);
    println!("  storage:  {}", drip.wiring.storage);
    println!("  data dir: {}", config.data_dir.display());
    info!(%address, database = %drip.wiring.database, storage = %drip.wiring.storage, "serving");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server = tokio::spawn(async move {
        let mut stop_rx = stop_rx;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    tokio::select! {
        result = &mut server => return result.context("the server task failed")?.context("the server failed"),
        () = shutdown_signal() => {}
    }
    info!(grace = ?config.shutdown_grace, "shutting down: no new connections, finishing in-flight requests");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(config.shutdown_grace, &mut server).await {
        Ok(result) => result.context("the server task failed")?.context("the server failed")?,
        Err(_) => {
            warn!(
                in_flight = drip.storage.transfers_in_flight(),
                "shutdown deadline passed; aborting open transfers"
            );
            server.abort();
        }
    }
    // Give aborted uploads' cleanup tasks a moment to remove what they reserved.
    tokio::time::sleep(Duration::from_millis(100)).await;
    info!("stopped");
    Ok(())
}

/// The HTTP layer's settings from the configuration; every field of [`drip_http::HttpSettings`]
/// is named, so a new one cannot go unconfigured.
fn http_settings(config: &Config) -> drip_http::HttpSettings {
    let drip::HttpConfig {
        max_json_bytes,
        request_timeout,
        cors_origins,
        max_transfers_per_user,
        ready_timeout,
        ws_heartbeat,
        retry_after_secs,
        metrics_token,
        cookies,
    } = &config.http;
    drip_http::HttpSettings {
        max_json_bytes: *max_json_bytes,
        max_upload_bytes: config.max_upload_bytes,
        request_timeout: *request_timeout,
        cors_origins: cors_origins.clone(),
        cookies: drip_http::CookieSettings {
            access_name: cookies.access_name.clone(),
            refresh_name: cookies.refresh_name.clone(),
            secure: cookies.secure.unwrap_or(!config.listen.ip().is_loopback()),
            domain: cookies.domain.clone(),
        },
        max_transfers_per_user: *max_transfers_per_user,
        ready_timeout: *ready_timeout,
        ws_heartbeat: *ws_heartbeat,
        retry_after_secs: *retry_after_secs,
        metrics_token: metrics_token.as_ref().map(|token| token.expose_secret().to_owned()),
    }
}

async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_defaults_are_the_http_layer_defaults() {
        let mut config = Config::embedded("/unused").unwrap();
        config.listen = "0.0.0.0:4000".parse().unwrap();
        assert_eq!(http_settings(&config), drip_http::HttpSettings::default());
    }

    #[test]
    fn cookies_are_secure_unless_on_loopback_or_configured() {
        let mut config = Config::embedded("/unused").unwrap();
        assert!(!http_settings(&config).cookies.secure, "the embedded default listens on loopback");
        config.http.cookies.secure = Some(true);
        assert!(http_settings(&config).cookies.secure);
    }
}
