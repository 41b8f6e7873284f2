//! Property checks of the domain parsers, shared by the `cargo fuzz` targets (`fuzz/`) and
//! the replay of their seed corpora in this crate's tests. Each check takes the fuzzer's
//! raw bytes and panics when a parser breaks a rule its type promises; compiled only for
//! tests and with the `fuzzing` feature.

// A broken property is reported the way a fuzzer and a test both understand: a panic.
#![allow(clippy::expect_used, clippy::panic)]

use chrono::DateTime;

use crate::ids::{Ksuid, MediaId};
use crate::storage::model::{
    ContentType, FileName, FolderPath, MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_PATH_DEPTH, StorageKey,
};

/// `FolderPath::parse`: an accepted path keeps its text and re-parses to itself, stays
/// within the length and depth bounds, is made of valid file names, and walks up through
/// its parents to `$`, each parent containing it and leading back to it by one segment.
pub fn folder_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(path) = FolderPath::parse(text) else { return };
    assert_eq!(path.as_str(), text, "a path keeps its text");
    assert_eq!(FolderPath::parse(path.as_str()), Ok(path.clone()), "a path re-parses to itself");
    assert!(text.len() <= MAX_PATH_BYTES, "{} bytes", text.len());
    assert!(path.depth() <= MAX_PATH_DEPTH, "{} segments", path.depth());
    assert_eq!(path.is_root(), path.depth() == 0);
    for segment in path.segments() {
        assert!(FileName::parse(segment).is_ok(), "segment {segment:?} is not a file name");
    }
    assert!(FolderPath::root().contains(&path));
    let mut below = path;
    while let Some(parent) = below.parent() {
        let last = below.segments().last().expect("a path with a parent has a segment");
        assert!(parent.contains(&below) && !below.contains(&parent), "{parent} / {below}");
        assert_eq!(parent.child_towards(&below), Some(last));
        let name = FileName::parse(last).expect("segments are file names");
        assert_eq!(parent.child(&name), Ok(below.clone()), "{parent} + {last}");
        below = parent;
    }
    assert!(below.is_root(), "{below} has no parent but is not `$`");
}

/// `FileName::parse`: an accepted name keeps its text, obeys every rule of the type, has
/// a proper extension if any, is a folder segment, and gives a storage key that parses
/// back, is short and plain ASCII (any backend stores it), and a content type that
/// parses; a refused name (without `/`) is no folder segment.
pub fn file_name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(name) = FileName::parse(text) else {
        if !text.contains('/') {
            assert!(FolderPath::parse(&format!("$/{text}")).is_err(), "refused {text:?} is a segment");
        }
        return;
    };
    assert_eq!(name.as_str(), text, "a name keeps its text");
    assert_eq!(FileName::parse(name.as_str()), Ok(name.clone()), "a name re-parses to itself");
    assert!(!text.is_empty() && text.len() <= MAX_NAME_BYTES, "{} bytes", text.len());
    assert!(text != "." && text != ".." && !text.contains('/'), "{text:?}");
    assert!(!text.chars().any(char::is_control), "{text:?} holds a control character");
    if let Some(ext) = name.extension() {
        assert!(ext.len() >= 2 && ext.len() < text.len(), "extension {ext:?} of {text:?}");
        assert!(ext.starts_with('.') && !ext[1..].contains('.') && text.ends_with(ext), "{ext:?}");
    }
    let folder = FolderPath::root().child(&name).expect("a name is a segment of `$`");
    assert_eq!(folder.segments().collect::<Vec<_>>(), [text]);
    let at = DateTime::from_timestamp(1_525_020_935, 0).expect("a fixed time");
    let id = MediaId::from_ksuid(Ksuid::from_parts(at, [7; 16]));
    let key = StorageKey::new(id, at, &name);
    assert_eq!(StorageKey::parse(key.as_str()), Ok(key.clone()), "the key of {text:?}");
    let longest = format!("{id}_20180429T165535.{}", "x".repeat(16)).len();
    let plain = key.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    assert!(key.as_str().len() <= longest && plain, "the key of {text:?} is {key}");
    let guess = ContentType::guess(&name);
    assert!(ContentType::parse(guess.as_str()).is_ok(), "{}", guess.as_str());
}

#[cfg(test)]
mod tests {
    use drip_testkit::corpus::replay;

    #[test]
    fn folder_path_seeds_hold() {
        replay("folder_path", super::folder_path);
    }

    #[test]
    fn file_name_seeds_hold() {
        replay("file_name", super::file_name);
    }
}
