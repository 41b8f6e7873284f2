//! `cargo xtask browser`: Drip's web UI driven in headless Chromium (Debian's `chromium`,
//! installed with apt-get when missing) by `playwright-core` (pinned by
//! `tests/browser/package-lock.json`, installed by `npm ci` into `target/xtask/browser-js`),
//! against a spawned `drip serve` on the embedded defaults. `tests/browser/run.mjs` runs
//! the scenarios of `tests/browser/scenarios/`; they write screenshots of the main screens
//! to `docs/screenshots/`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::node::{apt_install, npm_ci};
use crate::schemathesis::Server;
use crate::{cargo, root, run};

/// Where Debian's package puts the browser.
const CHROMIUM_PATHS: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/// Installs what the browser suite needs, starts drip and runs the suite.
pub(crate) fn check() -> Result<()> {
    if std::env::var_os("DRIP_SKIP_BROWSER").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("xtask: browser suite skipped (DRIP_SKIP_BROWSER)");
        return Ok(());
    }
    let started = Instant::now();
    let chromium = ensure_chromium()?;
    // playwright-core's `engines`.
    crate::node::ensure(20, "playwright-core")?;
    let work = root().join("target").join("xtask");
    let modules = work.join("browser-js");
    npm_ci(&root().join("tests").join("browser"), &modules, "playwright-core")?;
    let mut build = cargo();
    build.args(["build", "-q", "-p", "drip-server", "--bin", "drip"]);
    run(build)?;
    // A quota, so that the usage display shows one.
    let server = Server::start_with(
        &work.join(format!("browser-run-{}", std::process::id())),
        &[("DRIP_LIMITS__DEFAULT_QUOTA_MIB", "100")],
    )?;
    let mut node = Command::new("node");
    node.arg(root().join("tests").join("browser").join("run.mjs"))
        .env("DRIP_BROWSER_BASE", format!("http://{}", server.addr))
        .env("DRIP_BROWSER_CHROMIUM", &chromium)
        .env("DRIP_BROWSER_MODULES", modules.join("node_modules"))
        .env("DRIP_BROWSER_SCREENSHOTS", root().join("docs").join("screenshots"));
    let result = run(node);
    if result.is_err() {
        eprintln!("xtask: last lines of drip's stderr:\n{}", crate::schemathesis::tail(&server.log(), 40));
    }
    drop(server);
    eprintln!("xtask: browser suite took {:.0?}", started.elapsed());
    result
}

/// The Chromium to drive: Debian's, installed when it is missing.
fn ensure_chromium() -> Result<PathBuf> {
    let found = || CHROMIUM_PATHS.iter().map(PathBuf::from).find(|p| p.is_file());
    if let Some(path) = found() {
        return Ok(path);
    }
    eprintln!("xtask: the browser suite needs Chromium; installing Debian's chromium (once)");
    apt_install(&["chromium"]).context("installing chromium with apt-get")?;
    match found() {
        Some(path) => {
            let mut version = Command::new(&path);
            version.arg("--version");
            run(version).context("running the installed chromium")?;
            Ok(path)
        }
        None => bail!("apt-get installed chromium, but none of {CHROMIUM_PATHS:?} exists"),
    }
}
