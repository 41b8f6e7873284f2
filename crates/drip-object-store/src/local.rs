//! Local-disk store: opening the root directory and sweeping the staging files that a crash
//! left behind.
//!
//! object_store's `LocalFileSystem` writes each object to `<dest>#<n>` (a "staging file",
//! created with `create_new`) and renames it to `<dest>` once complete; with fsync on, it
//! syncs the file and the directory first. A reader therefore sees the old object or the new
//! one, never a partial one; `LocalFileSystem` never lists staging files. What a crash leaves
//! is only a staging file, which this module deletes when the store is next opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use object_store::local::LocalFileSystem;

use crate::provider::ConfigError;

/// Staging files older than this are left-overs of a crash (no upload runs this long).
pub(crate) const STALE_STAGING_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Opens (creating it if needed) the store rooted at `root`, sweeping stale staging files.
pub(crate) fn open(root: &Path) -> Result<(Arc<LocalFileSystem>, PathBuf), ConfigError> {
    std::fs::create_dir_all(root).map_err(|source| ConfigError::Root { path: root.to_owned(), source })?;
    let canonical =
        std::fs::canonicalize(root).map_err(|source| ConfigError::Root { path: root.to_owned(), source })?;
    let removed = sweep_staging_files(&canonical, STALE_STAGING_AGE);
    if removed > 0 {
        tracing::info!(removed, root = %canonical.display(), "removed stale partial uploads");
    }
    let store = LocalFileSystem::new_with_prefix(&canonical)
        .map_err(|err| ConfigError::Build(Box::new(err)))?
        .with_fsync(true);
    Ok((Arc::new(store), canonical))
}

/// Whether a file name is a `LocalFileSystem` staging name (`<name>#<digits>`).
pub(crate) fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
}

/// Deletes staging files under `dir` last modified longer than `age` ago; answers how many.
/// Failures are logged and skipped: sweeping is housekeeping, never a reason not to start.
pub(crate) fn sweep_staging_files(dir: &Path, age: Duration) -> usize {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            tracing::warn!(error = %err, dir = %dir.display(), "cannot scan for partial uploads");
            return 0;
        }
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else { continue };
        if file_type.is_dir() {
            removed += sweep_staging_files(&path, age);
        } else if file_type.is_file()
            && entry.file_name().to_str().is_some_and(is_staging_name)
            && is_older_than(&entry, age)
        {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(err) => {
                    tracing::warn!(error = %err, file = %path.display(), "cannot remove partial upload")
                }
            }
        }
    }
    removed
}

/// Deletes the staging files of the object at `file` (`<file>#<n>` in its directory);
/// answers how many.
pub(crate) fn remove_staging_files_of(file: &Path) -> std::io::Result<usize> {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str())) else {
        return Ok(0);
    };
    let prefix = format!("{name}#");
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let staging =
            entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix) && is_staging_name(n));
        if staging {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
    }
    Ok(removed)
}

fn is_older_than(entry: &std::fs::DirEntry, age: Duration) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|elapsed| elapsed >= age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        assert!(is_staging_name("key#1"));
        assert!(is_staging_name("a#b#12"));
        assert!(!is_staging_name("key"));
        assert!(!is_staging_name("key#"));
        assert!(!is_staging_name("key#1a"));
        assert!(!is_staging_name("key.%231"));
    }

    #[test]
    fn sweep_removes_only_old_staging_files() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("prefix");
        std::fs::create_dir(&nested).unwrap();
        for name in ["obj", "obj#1"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
            std::fs::write(nested.join(name), b"x").unwrap();
        }
        assert_eq!(sweep_staging_files(dir.path(), Duration::from_secs(3600)), 0, "fresh ones stay");
        assert_eq!(sweep_staging_files(dir.path(), Duration::ZERO), 2);
        assert!(dir.path().join("obj").exists() && nested.join("obj").exists());
        assert!(!dir.path().join("obj#1").exists() && !nested.join("obj#1").exists());
    }
}
