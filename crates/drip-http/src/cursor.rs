//! Pagination: opaque cursors, a `FileCursor` (name + id) as base64url JSON (anything that
//! does not decode to a valid name and id, or is not the very text this server makes for
//! them, is refused), and page sizes within their bounds.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use drip_core::MediaId;
use drip_core::storage::model::{FileCursor, FileName, MAX_PAGE_SIZE, PageRequest};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Longest cursor text accepted (a name of 255 bytes and an id fit easily).
pub(crate) const MAX_CURSOR_CHARS: usize = 1024;
/// Page size when the client names none.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 100;

#[derive(Serialize, Deserialize)]
struct Wire {
    n: String,
    i: String,
}

/// The opaque text of a cursor.
pub(crate) fn encode(cursor: &FileCursor) -> String {
    let wire = Wire { n: cursor.name.to_string(), i: cursor.id.to_string() };
    // Serializing two strings into JSON cannot fail; an empty cursor would only restart.
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor made by [`encode`], and only the exact text it makes: JSON that
/// spells the same cursor otherwise (white space, field order, escapes, extra fields) is
/// refused, so each cursor has one text.
pub(crate) fn decode(text: &str) -> Option<FileCursor> {
    if text.len() > MAX_CURSOR_CHARS {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(text).ok()?;
    let wire: Wire = serde_json::from_slice(&json).ok()?;
    let cursor = FileCursor { name: FileName::parse(&wire.n).ok()?, id: MediaId::parse(&wire.i).ok()? };
    (encode(&cursor) == text).then_some(cursor)
}

/// A `limit` query parameter: `default` when absent, else 1 to `max`.
///
/// # Errors
/// 400 `invalid_query` outside 1..=`max`.
pub(crate) fn bounded_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request("invalid_query", format!("`limit` is 1 to {max}"))),
    }
}

/// The page a request asks for: `limit` (default 100, 1 to 1000) after `cursor`.
///
/// # Errors
/// 400 `invalid_cursor` for a cursor this server did not make, `invalid_query` for a
/// `limit` out of range.
pub(crate) fn page(cursor: Option<&str>, limit: Option<u32>) -> Result<PageRequest, ApiError> {
    let limit = bounded_limit(limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(PageRequest::first(limit)),
        Some(text) => decode(text)
            .map(|after| PageRequest::after(limit, after))
            .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the pagination cursor is invalid")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cursor(name: &str) -> FileCursor {
        FileCursor {
            name: FileName::parse(name).unwrap(),
            id: MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap(),
        }
    }

    #[test]
    fn round_trips_and_refuses_garbage() {
        let c = cursor("a \"quoted\" ünï.txt");
        assert_eq!(decode(&encode(&c)), Some(c));
        for bad in ["", "!!!", "e30", "eyJuIjoiLi4iLCJpIjoiMHVqdHNZY2d2U1RsOFBBdUFkcVdZU01uTE92In0"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        assert!(page(Some("garbage"), None).is_err());
        assert_eq!(page(None, None).unwrap().limit(), DEFAULT_PAGE_SIZE);
        assert_eq!(page(Some(""), Some(MAX_PAGE_SIZE)).unwrap().limit(), MAX_PAGE_SIZE);
        assert_eq!(page(None, Some(1)).unwrap().limit(), 1);
        for out_of_range in [0, MAX_PAGE_SIZE + 1, u32::MAX] {
            let refused = page(None, Some(out_of_range)).unwrap_err();
            assert_eq!(refused.status(), axum::http::StatusCode::BAD_REQUEST, "{out_of_range}");
        }
    }

    /// Found by the fuzz target `cursor`: JSON white space after the object (`\r`) made a
    /// second text for the same cursor. Other spellings of the same JSON are refused too.
    #[test]
    fn only_the_text_encode_makes_decodes() {
        let made = encode(&cursor("b.txt"));
        let json = |text: &str| URL_SAFE_NO_PAD.encode(text);
        let spellings = [
            json("{\"n\":\"b.txt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\"}\r"),
            json(" {\"n\":\"b.txt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\"}"),
            json("{\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"n\":\"b.txt\"}"),
            json("{\"n\":\"b\\u002etxt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\"}"),
            json("{\"n\":\"b.txt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"x\":1}"),
        ];
        assert_eq!(decode(&made), Some(cursor("b.txt")));
        for other in spellings {
            assert_ne!(other, made);
            assert_eq!(decode(&other), None, "{other:?}");
        }
    }

    proptest! {
        #[test]
        fn decoding_never_panics(text in "\\PC{0,200}") {
            let _ = decode(&text);
        }

        #[test]
        fn valid_names_round_trip(name in "[a-zA-Z0-9 ._%-]{1,50}") {
            prop_assume!(name != "." && name != "..");
            let c = cursor(&name);
            prop_assert_eq!(decode(&encode(&c)), Some(c));
        }
    }
}
