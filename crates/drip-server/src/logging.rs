//! Logging to stderr: a `RUST_LOG`-style filter from `DRIP_LOG` (default `info`), JSON lines
//! when `DRIP_LOG_FORMAT=json`, and ANSI colours only when stderr is a terminal (and
//! `NO_COLOR` is unset), so a log file or a pipe gets plain text.

use std::io::IsTerminal as _;

/// Installs the global subscriber.
pub(crate) fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DRIP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color);
    if std::env::var("DRIP_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
