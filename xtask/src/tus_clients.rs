//! The real tus clients of `cargo xtask test`, installed from the project's own files and
//! kept between runs: tuspy pinned here, in the venv `target/xtask/tus-venv`, and
//! tus-js-client pinned by `tests/tus/package-lock.json`, installed by `npm ci` into
//! `target/xtask/tus-js/` (under `target/`, so the checkout stays clean and `cargo clean`
//! drops it). The e2e tests of `tests/e2e/tus.rs` find them through [`TUSPY_VAR`] and
//! [`TUS_JS_VAR`], and report `SKIPPED` without them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::{node, root, venv};

/// The variable naming the Python interpreter that has tuspy.
pub(crate) const TUSPY_VAR: &str = "DRIP_TEST_TUSPY";

/// The variable naming the directory whose `node_modules` holds tus-js-client.
pub(crate) const TUS_JS_VAR: &str = "DRIP_TEST_TUS_JS";

/// The tuspy release the tests drive (reinstalled when the venv holds another).
const TUSPY_VERSION: &str = "1.1.0";

/// The oldest Node.js tus-js-client 4 supports (its `engines`).
const NODE_MAJOR: u32 = 18;

/// Where each client is, as the tests' variables say.
#[derive(Debug)]
pub(crate) struct TusClients {
    /// The venv's `python`, which imports `tusclient`.
    pub(crate) tuspy: PathBuf,
    /// The directory whose `node_modules` holds the locked tus-js-client.
    pub(crate) tus_js: PathBuf,
}

/// Installs both clients under `work` (`target/xtask`) unless they are there at their pins
/// already.
pub(crate) fn ensure(work: &Path) -> Result<TusClients> {
    let started = Instant::now();
    let venv = work.join("tus-venv");
    venv::ensure(&venv, "tuspy", "", TUSPY_VERSION)?;
    node::ensure(NODE_MAJOR, "tus-js-client").with_context(|| {
        format!("(or set {TUS_JS_VAR} to a directory holding node_modules/tus-js-client)")
    })?;
    let tus_js = work.join("tus-js");
    node::npm_ci(&root().join("tests").join("tus"), &tus_js, "tus-js-client")?;
    eprintln!("xtask: tus clients ready after {:.1?}", started.elapsed());
    Ok(TusClients { tuspy: venv.join("bin").join("python"), tus_js })
}

/// `cargo xtask tus-clients`: installs both and prints the `export` lines for a shell that
/// then runs the tests with `cargo nextest run` directly.
pub(crate) fn print() -> Result<()> {
    let clients = ensure(&root().join("target").join("xtask"))?;
    println!("export {TUSPY_VAR}={}", clients.tuspy.display());
    println!("export {TUS_JS_VAR}={}", clients.tus_js.display());
    Ok(())
}
