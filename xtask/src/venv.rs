//! Python tools of the xtask steps (schemathesis, moto), each pinned in a venv of its own
//! under `target/xtask/`, installed from PyPI once and reused while the pin holds.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::run;

/// Makes `venv` hold `package` (with `extras`, e.g. `[server]`) at `version`: kept when it
/// does, installed afresh when it is missing or holds another version.
pub(crate) fn ensure(venv: &Path, package: &str, extras: &str, version: &str) -> Result<()> {
    if installed_version(venv, package).as_deref() == Some(version) {
        return Ok(());
    }
    let started = Instant::now();
    eprintln!("xtask: installing {package} {version} into {} (once; about a minute)", venv.display());
    let _ = std::fs::remove_dir_all(venv);
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(venv);
    run(create).context("creating a venv needs python3 with its venv module")?;
    let mut pip = Command::new(venv.join("bin").join("pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check", &format!("{package}{extras}=={version}")]);
    run(pip).with_context(|| format!("installing {package} {version} from PyPI"))?;
    eprintln!("xtask: installed {package} {version} in {:.0?}", started.elapsed());
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
