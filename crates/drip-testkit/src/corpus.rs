//! Replays the seed corpora of the `cargo fuzz` targets (`fuzz/corpus/<target>/`) through
//! their property checks, so the ordinary test suite runs them without cargo-fuzz.

use std::path::PathBuf;

/// The seed corpus of fuzz target `target`, at the repository root.
#[must_use]
pub fn dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

/// Runs `check` on every file of `target`'s seed corpus (there is at least one); the
/// check panics on a broken property, and the panic names the file.
pub fn replay(target: &str, check: fn(&[u8])) {
    let dir = dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no seed", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            eprintln!("seed {} breaks a property", file.display());
            std::panic::resume_unwind(panic);
        }
    }
}
