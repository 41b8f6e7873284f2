//! The `drip` binary: loads the configuration, wires Drip through the facade, and serves
//! the HTTP API (`drip serve`, the default), migrates (`drip migrate`), or runs an admin
//! command (`drip user create`, `drip user delete`, `drip top-users`, `drip rewrap-keys`, `drip jobs list`,
//! `drip jobs retry`), or checks a running server's health (`drip healthcheck`).

mod connections;
mod healthcheck;
mod jobs;
mod logging;
mod serve;
mod shutdown;

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use drip::{Config, Drip};
use drip_core::accounts::model::{RegisterRequest, Username};
use drip_core::jobs::model::JobState;
use drip_core::storage::error::QuotaError;
use drip_core::storage::model::{QuotaSetting, SortOrder, UsageSort};
use tracing::info;

/// mimalloc rather than the system allocator: glibc's per-thread arenas keep what the
/// blocking pool's threads freed, and the server's memory grew with each burst of
/// transfers (issue 11; docs/decisions/0013-allocator.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Inspect and retry the durable background jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Check that a server answers: GET /health over plain HTTP, exit 0 on 200 and 1
    /// otherwise (the container health check; the image has no curl).
    Healthcheck {
        /// What to GET (default: /health of the configured listen address, over loopback
        /// when it is 0.0.0.0 or ::, e.g. http://127.0.0.1:4000/health).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, due first: id, kind, state, attempts, due time and last error.
    List {
        /// Only jobs in this state: queued, running or dead.
        #[arg(long, value_parser = jobs::parse_state)]
        state: Option<JobState>,
        /// How many jobs at most.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue a dead job again, due now, with its attempts reset.
    Retry {
        /// The job's id (as `drip jobs list` shows it).
        id: String,
    },
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
    /// Delete a user: their files (objects removed by the job queue), the shares they
    /// received, their sessions, and the user.
    Delete {
        /// Username.
        username: String,
    },
    /// Set a user's storage quota: a size such as `10GiB` or `500MB`, `unlimited`, or
    /// `default` (`limits.default_quota_mib`). Files over a lowered quota stay; new
    /// uploads are refused until there is room.
    Quota {
        /// Username.
        username: String,
        /// The quota.
        #[arg(value_parser = parse_quota)]
        size: QuotaSetting,
    },
}

fn parse_quota(text: &str) -> Result<QuotaSetting, String> {
    QuotaSetting::parse(text).map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    // What Drip writes (the SQLite database and its journal, objects on local disk,
    // secrets) holds password hashes, emails and wrapped keys: nobody but this user reads
    // it, whatever umask the shell had.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    logging::init();
    let result = match &cli.command {
        // Run every few seconds by a container engine: no runtime, nothing opened.
        Some(Command::Healthcheck { url }) => healthcheck(url.as_deref(), || Ok(load_config(&cli)?.listen)),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime")
            .and_then(|runtime| runtime.block_on(run(cli))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drip: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `drip healthcheck`: checks `url`, or `/health` of the listen address (asked of
/// `listen` only then, so that a check with `--url` reads no configuration).
fn healthcheck(url: Option<&str>, listen: impl FnOnce() -> Result<std::net::SocketAddr>) -> Result<()> {
    let target = match url {
        Some(url) => healthcheck::Target::parse(url)?,
        None => healthcheck::Target::health_of(listen()?),
    };
    println!("{}", healthcheck::check(&target)?);
    Ok(())
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
        Command::Serve => serve::serve(config).await,
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
        Command::User { command: UserCommand::Delete { username } } => {
            let drip = Drip::build(&config).await.context("cannot open Drip")?;
            let name = Username::parse(&username).context("not a valid username")?;
            let owner =
                drip.accounts.owner_named(&name).await?.with_context(|| format!("no user {username}"))?;
            drip.accounts.close_account(&drip.storage, &owner.id, None).await?;
            // The objects go now if the store answers; a failure leaves them to the next
            // `drip serve`, whose job runner retries.
            drip.jobs.run_due().await?;
            println!("deleted user {} ({})", owner.username, owner.id);
            Ok(())
        }
        Command::User { command: UserCommand::Quota { username, size } } => {
            let drip = Drip::build(&config).await.context("cannot open Drip")?;
            let name = Username::parse(&username).context("not a valid username")?;
            let allowance = drip.storage.set_quota(&name, size).await.map_err(|e| match e {
                QuotaError::UnknownUser => anyhow::anyhow!("no user {username}"),
                other => other.into(),
            })?;
            let quota = allowance.quota.map_or_else(|| "unlimited".to_owned(), |q| format!("{q} bytes"));
            println!("quota of {username}: {quota}, {} bytes used", allowance.used);
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
        Command::Jobs { command } => {
            let drip = Drip::build(&config).await.context("cannot open Drip")?;
            match command {
                JobsCommand::List { state, limit } => jobs::list(&drip, state, limit).await,
                JobsCommand::Retry { id } => jobs::retry(&drip, &id).await,
            }
        }
        Command::Healthcheck { url } => healthcheck(url.as_deref(), || Ok(config.listen)),
    }
}
