//! Node.js for the test tools that run on it (tus-js-client, playwright-core): `node` and
//! `npm` from Debian's packages when missing, and `npm ci` of a locked project into a
//! directory under `target/xtask`, kept between runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::run;

/// Makes `node` and `npm` available: as they are, else what is missing from Debian's
/// packages (`nodejs`, `npm`).
pub(crate) fn ensure(min_major: u32, user: &str) -> Result<()> {
    let missing: Vec<&str> = [("nodejs", node_major().is_some()), ("npm", answers("npm"))]
        .into_iter()
        .filter_map(|(package, present)| (!present).then_some(package))
        .collect();
    if missing.is_empty() {
        return check_version(min_major, user);
    }
    eprintln!("xtask: {user} needs node and npm; installing Debian's {} (once)", missing.join(" and "));
    if let Err(e) = apt_install(&missing) {
        bail!(
            "{user} needs node (>= {min_major}) and npm on PATH, and installing them with apt-get failed \
             ({e:#}); install Node.js and npm"
        );
    }
    if node_major().is_none() || !answers("npm") {
        bail!(
            "apt-get installed {}, but `node --version` or `npm --version` still fails",
            missing.join(" and ")
        );
    }
    check_version(min_major, user)
}

fn check_version(min_major: u32, user: &str) -> Result<()> {
    match node_major() {
        Some(major) if major >= min_major => Ok(()),
        Some(major) => bail!("{user} needs Node.js >= {min_major}; this node is {major}"),
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
