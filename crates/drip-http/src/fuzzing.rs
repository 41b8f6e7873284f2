//! Property checks of the HTTP parsers (`Range`, listing cursors, the legacy `?path=`),
//! shared by the `cargo fuzz` targets (`fuzz/`) and the replay of their seed corpora in
//! this crate's tests. Each takes the fuzzer's raw bytes and panics when a property
//! breaks; compiled only for tests and with the `fuzzing` feature, so the parsers
//! themselves stay private.

// A broken property is reported the way a fuzzer and a test both understand: a panic.
#![allow(clippy::expect_used, clippy::panic)]

use std::ops::Range;

use axum::http::Uri;
use chrono::DateTime;
use drip_core::MediaId;
use drip_core::storage::model::{CursorKey, FileCursor, FileName, ListingOrder, SortOrder};

use crate::range::{RangeSpec, Resolved};
use crate::{cursor, range};

/// `Range` parsing and resolution. The first 8 bytes (little-endian) are the size of the
/// representation, the rest the header. A parsed range re-parses from its canonical text
/// (`bytes=a-b`, `a <= b`), and resolves exactly as RFC 9110 §14.1.2 says: never out of
/// bounds, never empty or inverted.
pub fn range(data: &[u8]) {
    let (size, header) = data.split_at(data.len().min(8));
    let mut size_bytes = [0u8; 8];
    size_bytes[..size.len()].copy_from_slice(size);
    let size = u64::from_le_bytes(size_bytes);
    let Ok(header) = std::str::from_utf8(header) else { return };
    let Some(spec) = range::parse(header) else { return };
    let canonical = match spec {
        RangeSpec::FromTo(a, b) => {
            assert!(a <= b, "inverted range {a}-{b} from {header:?}");
            format!("bytes={a}-{b}")
        }
        RangeSpec::From(a) => format!("bytes={a}-"),
        RangeSpec::Suffix(n) => format!("bytes=-{n}"),
    };
    assert_eq!(range::parse(&canonical), Some(spec), "{canonical:?} from {header:?}");
    let resolved = range::resolve(spec, size);
    if let Resolved::Partial(r) = &resolved {
        assert!(r.start < r.end && r.end <= size, "{r:?} of {size} bytes from {header:?}");
    }
    assert_eq!(resolved, rfc_resolution(spec, size), "{header:?} against {size} bytes");
}

/// RFC 9110 §14.1.2 in wide integers: a first position at or past the end, a zero-length
/// suffix or an empty representation is unsatisfiable; the last position is clamped to
/// the end; a suffix longer than the representation is all of it.
fn rfc_resolution(spec: RangeSpec, size: u64) -> Resolved {
    let size = u128::from(size);
    let (first, end) = match spec {
        RangeSpec::FromTo(a, b) => (u128::from(a), (u128::from(b) + 1).min(size)),
        RangeSpec::From(a) => (u128::from(a), size),
        RangeSpec::Suffix(n) => (size - u128::from(n).min(size), size),
    };
    let narrow = |n: u128| u64::try_from(n).expect("at most the size");
    if size == 0 || first >= size || first >= end {
        Resolved::Unsatisfiable
    } else {
        Resolved::Partial(Range { start: narrow(first), end: narrow(end) })
    }
}

/// Listing cursors: a cursor that decodes re-encodes to exactly the text it came from
/// (one text per cursor, anything else refused), `page` agrees with the decoding (a page
/// by name takes only cursors by name; a listing in the cursor's own order takes it), and
/// the cursor of any valid name round-trips, in every order.
pub fn cursor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let decoded = cursor::decode(text);
    if let Some(after) = &decoded {
        assert_eq!(cursor::encode(after), text, "{after:?} decoded from another text");
    }
    let page = cursor::page(Some(text), None).ok();
    match (&decoded, text.is_empty()) {
        (_, true) => assert!(page.is_some_and(|p| p.cursor().is_none()), "an empty cursor starts over"),
        (None, false) => assert!(page.is_none(), "{text:?} refused by decode, accepted by page"),
        (Some(after), false) => {
            let by_name = after.order() == ListingOrder::default();
            assert_eq!(page.is_some(), by_name, "{after:?}: a page by name takes cursors by name only");
            let own = cursor::ordered_page(Some(text), None, after.order()).ok();
            assert_eq!(own.and_then(|p| p.cursor().cloned()).as_ref(), Some(after));
        }
    }
    if let Ok(name) = FileName::parse(text) {
        let id = MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").expect("a fixed id");
        let at = DateTime::from_timestamp_nanos(i64::try_from(data.len()).unwrap_or(0) * 1_000_003);
        for (key, direction) in [
            (CursorKey::Name, SortOrder::Asc),
            (CursorKey::Size(data.len() as u64), SortOrder::Desc),
            (CursorKey::Modified(at), SortOrder::Asc),
        ] {
            let made = FileCursor { key, direction, ..FileCursor::by_name(name.clone(), id) };
            assert_eq!(cursor::decode(&cursor::encode(&made)), Some(made), "the cursor of {text:?}");
        }
    }
}

/// The legacy `GET /api/files?path=...` (the input is the query string): a folder the
/// handler accepts is a valid folder path (every property of
/// [`drip_core::fuzzing::folder_path`]) and exactly the strict form-urlencoded decoding
/// of the query's one `path` parameter: no byte of the query is lost or replaced.
pub fn legacy_path(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let Ok(uri) = format!("/api/files?{query}").parse::<Uri>() else { return };
    let Ok(folder) = crate::routes::legacy::requested_folder(&uri) else { return };
    drip_core::fuzzing::folder_path(folder.as_str().as_bytes());
    let raw = uri.query().unwrap_or_default();
    let mut paths = raw
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .filter(|(key, _)| form_decode(key).as_deref() == Ok("path"))
        .map(|(_, value)| form_decode(value));
    let path = paths.next().expect("an accepted query names a path");
    assert!(paths.next().is_none(), "{raw:?} names several paths");
    assert_eq!(path.as_deref(), Ok(folder.as_str()), "the folder of {raw:?}");
}

/// `application/x-www-form-urlencoded` decoding of one key or value, refusing what is not
/// UTF-8 once decoded (`+` is a space, `%XY` a byte, a `%` without two hex digits itself).
fn form_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    // A hex digit's value fits a byte.
    let hex = |digit: &u8| char::from(*digit).to_digit(16).map(|value| value as u8);
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    loop {
        let (byte, tail) = match rest {
            [b'%', high, low, tail @ ..] if hex(high).is_some() && hex(low).is_some() => {
                (hex(high).unwrap_or_default() * 16 + hex(low).unwrap_or_default(), tail)
            }
            [b'+', tail @ ..] => (b' ', tail),
            [other, tail @ ..] => (*other, tail),
            [] => break,
        };
        bytes.push(byte);
        rest = tail;
    }
    String::from_utf8(bytes)
}

#[cfg(test)]
mod tests {
    use drip_testkit::corpus::replay;

    #[test]
    fn range_seeds_hold() {
        replay("range", super::range);
    }

    #[test]
    fn cursor_seeds_hold() {
        replay("cursor", super::cursor);
    }

    #[test]
    fn legacy_path_seeds_hold() {
        replay("legacy_path", super::legacy_path);
    }

    #[test]
    fn form_decoding_is_strict() {
        assert_eq!(super::form_decode("%24%2Fa+b%2").as_deref(), Ok("$/a b%2"));
        assert_eq!(super::form_decode("%+1%zz").as_deref(), Ok("% 1%zz"));
        assert!(super::form_decode("%FF").is_err());
    }
}
