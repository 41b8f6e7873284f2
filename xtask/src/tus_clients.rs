//! The real tus clients of `cargo xtask test`, installed from the project's own files and
//! kept between runs: tuspy pinned here, in the venv `target/xtask/tus-venv`, and
//! tus-js-client pinned by `tests/tus/package-lock.json`, installed by `npm ci` into
//! `target/xtask/tus-js/` (under `target/`, so the checkout stays clean and `cargo clean`
//! drops it). The e2e tests of `tests/e2e/tus.rs` find them through [`TUSPY_VAR`] and
//! [`TUS_JS_VAR`], and report `SKIPPED` without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{root, run, venv};

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
    ensure_node()?;
    let tus_js = work.join("tus-js");
    npm_ci(&root().join("tests").join("tus"), &tus_js, "tus-js-client")?;
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

/// Makes `node` and `npm` available: as they are, else what is missing from Debian's
/// packages (`nodejs`, `npm`).
pub(crate) fn ensure_node() -> Result<()> {
    let missing: Vec<&str> = [("nodejs", node_major().is_some()), ("npm", answers("npm"))]
        .into_iter()
        .filter_map(|(package, present)| (!present).then_some(package))
        .collect();
    if missing.is_empty() {
        return check_node_version();
    }
    eprintln!(
        "xtask: tus-js-client needs node and npm; installing Debian's {} (once)",
        missing.join(" and ")
    );
    if let Err(e) = apt_install(&missing) {
        bail!(
            "tus-js-client needs node (>= {NODE_MAJOR}) and npm on PATH, and installing them with apt-get failed \
             ({e:#}); install Node.js and npm, or set {TUS_JS_VAR} to a directory holding node_modules/tus-js-client"
        );
    }
    if node_major().is_none() || !answers("npm") {
        bail!(
            "apt-get installed {}, but `node --version` or `npm --version` still fails",
            missing.join(" and ")
        );
    }
    check_node_version()
}

fn check_node_version() -> Result<()> {
    match node_major() {
        Some(major) if major >= NODE_MAJOR => Ok(()),
        Some(major) => bail!("tus-js-client needs Node.js >= {NODE_MAJOR}; this node is {major}"),
        None => bail!("`node --version` fails"),
    }
}

/// `apt-get update`, then `apt-get install -y` of `packages`.
pub(crate) fn apt_install(packages: &[&str]) -> Result<()> {
    let mut update = Command::new("apt-get");
    update.arg("update").env("DEBIAN_FRONTEND", "noninteractive");
    run(update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(install)
}

/// The major version `node --version` reports (`v20.11.1` → 20).
fn node_major() -> Option<u32> {
    let output = Command::new("node").arg("--version").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().trim_start_matches('v').split('.').next()?.parse().ok()
}

/// Whether `program --version` runs and succeeds.
fn answers(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Makes `dir/node_modules` hold exactly what `project`'s lockfile pins (`module` among
/// them): kept when the last install there was of the same `package.json` and lockfile,
/// else installed afresh by `npm ci` (which fails if the lockfile does not match
/// `package.json`).
pub(crate) fn npm_ci(project: &Path, dir: &Path, module: &str) -> Result<()> {
    let read = |path: PathBuf| std::fs::read(&path).with_context(|| format!("reading {}", path.display()));
    let manifest = read(project.join("package.json"))?;
    let lock = read(project.join("package-lock.json"))?;
    // Written after a successful install: the lockfile it installed.
    let stamp = dir.join(".installed-lock.json");
    let installed = std::fs::read(dir.join("package.json")).ok().as_ref() == Some(&manifest)
        && std::fs::read(&stamp).ok().as_ref() == Some(&lock)
        && dir.join("node_modules").join(module).join("package.json").is_file();
    if installed {
        return Ok(());
    }
    let started = Instant::now();
    eprintln!("xtask: installing {module} from {} into {} (once)", project.display(), dir.display());
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("package.json"), &manifest)?;
    std::fs::write(dir.join("package-lock.json"), &lock)?;
    let mut npm = Command::new("npm");
    npm.current_dir(dir).args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"]);
    run(npm).with_context(|| format!("installing {module} with npm ci"))?;
    std::fs::write(&stamp, &lock)?;
    eprintln!("xtask: installed {module} in {:.0?}", started.elapsed());
    Ok(())
}
