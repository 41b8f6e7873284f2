//! Where a storage key lives in the object store: validation of keys and prefixes, and the
//! mapping of a key to an object_store [`Path`].

use object_store::path::{Path, PathPart};

/// How a key becomes the last segment of an object path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyStyle {
    /// The key is the object name as is (GCS and memory: what the original deployment wrote).
    Verbatim,
    /// Characters object_store deems unsafe (`#`, `%`, `\`, `*`, ...) are percent-escaped
    /// (local disk: the escaped name can never end like a staging file, `<name>#<n>`).
    Escaped,
}

/// Why a key or prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyError {
    /// The key is not one plain file name inside the store's root.
    #[error("key {0:?} is not a plain object name inside the store")]
    Key(String),
    /// The prefix has an empty, relative or otherwise unusable segment.
    #[error("prefix {0:?} is not a relative path of plain segments")]
    Prefix(String),
}

/// Whether `segment` is one plain path segment: non-empty, not `.` or `..`, no separator
/// (`/` or `\`), no control character.
fn is_plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && !segment.contains(['/', '\\'])
        && !segment.chars().any(char::is_control)
}

/// Parses an object prefix such as `media` or `drip/prod` (surrounding slashes are ignored;
/// an empty prefix is no prefix).
pub(crate) fn parse_prefix(text: &str) -> Result<Option<Path>, KeyError> {
    let trimmed = text.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    if !trimmed.split('/').all(is_plain_segment) {
        return Err(KeyError::Prefix(text.to_owned()));
    }
    Path::parse(trimmed).map(Some).map_err(|_| KeyError::Prefix(text.to_owned()))
}

/// The object path of `key` under `prefix`.
///
/// Storage keys are already validated by the domain (`StorageKey` holds no `/`); this checks
/// again, so that no key can ever name something outside the store's root or prefix.
pub(crate) fn object_path(prefix: Option<&Path>, key: &str, style: KeyStyle) -> Result<Path, KeyError> {
    if !is_plain_segment(key) {
        return Err(KeyError::Key(key.to_owned()));
    }
    let part = match style {
        KeyStyle::Verbatim => PathPart::parse(key).map_err(|_| KeyError::Key(key.to_owned()))?,
        KeyStyle::Escaped => PathPart::from(key),
    };
    let path = match prefix {
        Some(prefix) => prefix.clone().join(part),
        None => Path::from_iter([part]),
    };
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "/abs", "a\\..\\b", "..\\x", "a\u{0}b", "a\nb"] {
            for style in [KeyStyle::Verbatim, KeyStyle::Escaped] {
                assert_eq!(object_path(None, bad, style), Err(KeyError::Key(bad.to_owned())), "{bad:?}");
            }
        }
    }

    #[test]
    fn verbatim_keys_keep_their_text() {
        let prefix = parse_prefix("/drip/media/").unwrap();
        let path = object_path(prefix.as_ref(), "id_20240101T000000.#1", KeyStyle::Verbatim).unwrap();
        assert_eq!(path.as_ref(), "drip/media/id_20240101T000000.#1");
        let bare = object_path(None, "id_20240101T000000.tar.gz", KeyStyle::Verbatim).unwrap();
        assert_eq!(bare.as_ref(), "id_20240101T000000.tar.gz");
    }

    #[test]
    fn escaped_keys_never_look_like_staging_files() {
        let path = object_path(None, "id_20240101T000000.#12", KeyStyle::Escaped).unwrap();
        assert_eq!(path.as_ref(), "id_20240101T000000.%2312");
        let percent = object_path(None, "id_20240101T000000.%41", KeyStyle::Escaped).unwrap();
        assert_eq!(percent.as_ref(), "id_20240101T000000.%2541", "escaping is injective");
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("").unwrap(), None);
        assert_eq!(parse_prefix("/").unwrap(), None);
        assert_eq!(parse_prefix("a/b").unwrap().unwrap().as_ref(), "a/b");
        for bad in ["a//b", "../a", "a/..", "a/./b", "a\\b", "a\u{7}"] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
