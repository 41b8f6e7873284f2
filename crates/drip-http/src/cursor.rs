//! Pagination: opaque cursors, a `FileCursor` (name + id, and for a folder sorted another
//! way its key and direction) as base64url JSON (anything that does not decode to a valid
//! cursor, or is not the very text this server makes for it, is refused), and page sizes
//! within their bounds.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use drip_core::MediaId;
use drip_core::storage::model::{
    CursorKey, FileCursor, FileName, FileOrder, ListingOrder, MAX_PAGE_SIZE, PageRequest, SortOrder,
};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Longest cursor text accepted (a name of 255 bytes and an id fit easily).
pub(crate) const MAX_CURSOR_CHARS: usize = 1024;
/// Page size when the client names none.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 100;

/// A cursor on the wire: the name and id, then, for another order than by name, what it is
/// ordered by (`k`) and the value (`v`: bytes, or nanoseconds since 1970), and `d` for
/// descending. A cursor by name, A to Z, is the same text as before sorting existed.
#[derive(Serialize, Deserialize)]
struct Wire {
    n: String,
    i: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    d: bool,
}

/// The opaque text of a cursor.
pub(crate) fn encode(cursor: &FileCursor) -> String {
    let (k, v) = match cursor.key {
        CursorKey::Name => (None, None),
        CursorKey::Size(size) => (Some("size"), Some(i64::try_from(size).unwrap_or(i64::MAX))),
        CursorKey::Modified(at) => (Some("modified"), Some(at.timestamp_nanos_opt().unwrap_or(i64::MAX))),
    };
    let wire = Wire {
        n: cursor.name.to_string(),
        i: cursor.id.to_string(),
        k: k.map(str::to_owned),
        v,
        d: cursor.direction == SortOrder::Desc,
    };
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
    let key = match (wire.k.as_deref(), wire.v) {
        (None, None) => CursorKey::Name,
        (Some("size"), Some(size)) => CursorKey::Size(u64::try_from(size).ok()?),
        (Some("modified"), Some(nanos)) => CursorKey::Modified(DateTime::from_timestamp_nanos(nanos)),
        _ => return None,
    };
    let cursor = FileCursor {
        name: FileName::parse(&wire.n).ok()?,
        id: MediaId::parse(&wire.i).ok()?,
        key,
        direction: if wire.d { SortOrder::Desc } else { SortOrder::Asc },
    };
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

/// The page a request asks for: `limit` (default 100, 1 to 1000) after `cursor`, by name.
///
/// # Errors
/// 400 `invalid_cursor` for a cursor this server did not make (or made for a folder
/// sorted otherwise), `invalid_query` for a `limit` out of range.
pub(crate) fn page(cursor: Option<&str>, limit: Option<u32>) -> Result<PageRequest, ApiError> {
    ordered_page(cursor, limit, ListingOrder::default())
}

/// The page of a listing in `order` a request asks for: `limit` (default 100, 1 to 1000)
/// after `cursor`, which must have been made for a listing in that order.
///
/// # Errors
/// 400 `invalid_cursor` for a cursor this server did not make or made for another order,
/// `invalid_query` for a `limit` out of range.
pub(crate) fn ordered_page(
    cursor: Option<&str>,
    limit: Option<u32>,
    order: ListingOrder,
) -> Result<PageRequest, ApiError> {
    let limit = bounded_limit(limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(PageRequest::first_in(limit, order)),
        Some(text) => decode(text)
            .filter(|after| after.order() == order)
            .map(|after| PageRequest::after(limit, after))
            .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the pagination cursor is invalid")),
    }
}

/// The order of a folder listing from its `sort` (`name`, `size`, `modified`; default
/// `name`) and `order` (`asc`, `desc`; default `asc`) parameters.
///
/// # Errors
/// 400 `invalid_sort` / `invalid_order` for other values.
pub(crate) fn listing_order(sort: Option<&str>, order: Option<&str>) -> Result<ListingOrder, ApiError> {
    let by = match sort {
        None => FileOrder::Name,
        Some(text) => FileOrder::parse(text)
            .ok_or_else(|| ApiError::bad_request("invalid_sort", "sort by `name`, `size` or `modified`"))?,
    };
    Ok(ListingOrder { by, direction: sort_order(order, SortOrder::Asc)? })
}

/// An `order` parameter (`asc` or `desc`), `default` when absent.
///
/// # Errors
/// 400 `invalid_order` for another value.
pub(crate) fn sort_order(order: Option<&str>, default: SortOrder) -> Result<SortOrder, ApiError> {
    match order {
        None => Ok(default),
        Some(text) => SortOrder::parse(text)
            .ok_or_else(|| ApiError::bad_request("invalid_order", "order is `asc` or `desc`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cursor(name: &str) -> FileCursor {
        FileCursor::by_name(
            FileName::parse(name).unwrap(),
            MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap(),
        )
    }

    #[test]
    fn cursors_of_other_orders_round_trip_and_belong_to_their_order() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        let by_size = FileCursor { key: CursorKey::Size(42), direction: SortOrder::Desc, ..cursor("b.txt") };
        let by_time = FileCursor { key: CursorKey::Modified(at), ..cursor("b.txt") };
        for made in [&by_size, &by_time] {
            assert_eq!(decode(&encode(made)).as_ref(), Some(made));
            let text = encode(made);
            assert!(page(Some(&text), None).is_err(), "not a cursor of a listing by name");
            let page = ordered_page(Some(&text), None, made.order()).unwrap();
            assert_eq!(page.order(), made.order());
            let other = ListingOrder { by: FileOrder::Name, direction: made.direction };
            assert!(ordered_page(Some(&text), None, other).is_err(), "another order");
        }
        let name_text = encode(&cursor("b.txt"));
        assert!(
            !URL_SAFE_NO_PAD.decode(&name_text).map(|j| j.contains(&b'k')).unwrap_or(true),
            "no `k` by name"
        );
        let json = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for bad in [
            json("{\"n\":\"b.txt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"k\":\"size\"}"),
            json("{\"n\":\"b.txt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"v\":1}"),
            json("{\"n\":\"b.txt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"k\":\"size\",\"v\":-1}"),
            json("{\"n\":\"b.txt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"k\":\"type\",\"v\":1}"),
            json("{\"n\":\"b.txt\",\"i\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"d\":false}"),
        ] {
            assert_eq!(decode(&bad), None, "{bad:?}");
        }
        assert_eq!(listing_order(None, None).unwrap(), ListingOrder::default());
        assert!(listing_order(Some("type"), None).is_err());
        assert!(listing_order(None, Some("up")).is_err());
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
