//! HTTP download headers: the conditional request (`If-None-Match`, `If-Range`, with the
//! `headers` crate's entity-tag comparisons), `Range` parsing and resolution, and
//! `Content-Disposition` with the original file name.

use std::ops::Range;

use axum::http::{HeaderMap, header};
use headers::{ETag, HeaderMapExt, IfNoneMatch, IfRange};

/// One byte range as a client wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    /// `bytes=a-b` (both inclusive).
    FromTo(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// What a `Range` header asks of a representation of a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// The whole content, 200.
    Full,
    /// A part, 206.
    Partial(Range<u64>),
    /// Nothing that exists, 416.
    Unsatisfiable,
}

/// Parses a `Range` header holding a single byte range. Anything else — another unit,
/// bad syntax, several ranges — answers `None`, and the header is ignored (the full
/// content is sent, which RFC 9110 allows).
pub(crate) fn parse(header: &str) -> Option<RangeSpec> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) { None } else { s.parse().ok() }
    };
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, true) => None,
        (true, false) => number(end).map(RangeSpec::Suffix),
        (false, true) => number(start).map(RangeSpec::From),
        (false, false) => {
            let (a, b) = (number(start)?, number(end)?);
            (a <= b).then_some(RangeSpec::FromTo(a, b))
        }
    }
}

/// Resolves a range against a representation of `size` bytes.
pub(crate) fn resolve(spec: RangeSpec, size: u64) -> Resolved {
    if size == 0 {
        return Resolved::Unsatisfiable;
    }
    let range = match spec {
        RangeSpec::FromTo(a, _) | RangeSpec::From(a) if a >= size => return Resolved::Unsatisfiable,
        RangeSpec::FromTo(a, b) => a..b.saturating_add(1).min(size),
        RangeSpec::From(a) => a..size,
        RangeSpec::Suffix(0) => return Resolved::Unsatisfiable,
        RangeSpec::Suffix(n) => size.saturating_sub(n)..size,
    };
    Resolved::Partial(range)
}

/// The strong entity tag of a content digest: `"<hex>"`.
pub(crate) fn etag(digest_hex: &str) -> Option<ETag> {
    format!("\"{digest_hex}\"").parse().ok()
}

/// Whether `If-None-Match` matches `etag` (weak comparison, `*` matches all), so the
/// answer is 304. A header that does not parse matches nothing.
pub(crate) fn not_modified(headers: &HeaderMap, etag: Option<&ETag>) -> bool {
    match (headers.typed_try_get::<IfNoneMatch>(), etag) {
        (Ok(Some(condition)), Some(etag)) => !condition.precondition_passes(etag),
        _ => false,
    }
}

/// What the request asks for, once `If-Range` had its say: only a strong entity tag
/// equal to ours keeps `Range` (a date, another tag, or a header that does not parse gets
/// the full content).
pub(crate) fn requested(headers: &HeaderMap, etag: Option<&ETag>, size: u64) -> Resolved {
    let range_allowed = match headers.typed_try_get::<IfRange>() {
        Ok(None) => true,
        Ok(Some(condition)) => !condition.is_modified(etag, None),
        Err(_) => false,
    };
    let spec =
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| range_allowed).and_then(parse);
    spec.map_or(Resolved::Full, |spec| resolve(spec, size))
}

/// `attachment; filename="..."; filename*=UTF-8''...`: an ASCII fallback for old clients
/// and the exact name, percent-encoded (RFC 6266 / RFC 8187).
pub(crate) fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_single_ranges() {
        assert_eq!(parse("bytes=0-499"), Some(RangeSpec::FromTo(0, 499)));
        assert_eq!(parse("bytes=500-"), Some(RangeSpec::From(500)));
        assert_eq!(parse("bytes=-500"), Some(RangeSpec::Suffix(500)));
        assert_eq!(parse(" bytes= 1 - 2 "), Some(RangeSpec::FromTo(1, 2)));
        for ignored in
            ["", "bytes=", "bytes=-", "bytes=5-3", "items=0-1", "bytes=0-1,4-5", "bytes=a-b", "bytes=+1-2"]
        {
            assert_eq!(parse(ignored), None, "{ignored:?}");
        }
    }

    #[test]
    fn resolves_against_the_size() {
        assert_eq!(resolve(RangeSpec::FromTo(0, 9), 100), Resolved::Partial(0..10));
        assert_eq!(resolve(RangeSpec::FromTo(90, 200), 100), Resolved::Partial(90..100));
        assert_eq!(resolve(RangeSpec::From(99), 100), Resolved::Partial(99..100));
        assert_eq!(resolve(RangeSpec::From(100), 100), Resolved::Unsatisfiable);
        assert_eq!(resolve(RangeSpec::Suffix(10), 100), Resolved::Partial(90..100));
        assert_eq!(resolve(RangeSpec::Suffix(1000), 100), Resolved::Partial(0..100));
        assert_eq!(resolve(RangeSpec::Suffix(0), 100), Resolved::Unsatisfiable);
        assert_eq!(resolve(RangeSpec::FromTo(0, 0), 0), Resolved::Unsatisfiable);
    }

    fn with(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, axum::http::HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn entity_tags() {
        let tag = etag("abc").unwrap();
        let none_match = |value| not_modified(&with(header::IF_NONE_MATCH, value), Some(&tag));
        assert!(none_match("\"abc\""));
        assert!(none_match("\"x\", W/\"abc\""));
        assert!(none_match("*"));
        assert!(!none_match("\"abd\""));
        assert!(!none_match("abc"), "not a tag");
        assert!(!not_modified(&HeaderMap::new(), Some(&tag)));
        assert!(!not_modified(&with(header::IF_NONE_MATCH, "*"), None), "no tag (yet): nothing matches");

        let if_range_holds = |value| {
            let mut headers = with(header::IF_RANGE, value);
            headers.insert(header::RANGE, axum::http::HeaderValue::from_static("bytes=0-0"));
            requested(&headers, Some(&tag), 10) == Resolved::Partial(0..1)
        };
        assert!(if_range_holds("\"abc\""));
        assert!(!if_range_holds("W/\"abc\""));
        assert!(!if_range_holds("\"abd\""));
        assert!(!if_range_holds("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert!(!if_range_holds("garbage"));
        assert_eq!(requested(&with(header::RANGE, "bytes=2-"), Some(&tag), 10), Resolved::Partial(2..10));
        assert_eq!(requested(&with(header::RANGE, "bytes=20-"), None, 10), Resolved::Unsatisfiable);
        assert_eq!(requested(&HeaderMap::new(), Some(&tag), 10), Resolved::Full);
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            content_disposition("a b.txt"),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        assert_eq!(
            content_disposition("ü\"\\.txt"),
            "attachment; filename=\"___.txt\"; filename*=UTF-8''%C3%BC%22%5C.txt"
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }

        #[test]
        fn resolved_ranges_stay_inside(a in 0u64..2000, b in 0u64..2000, size in 0u64..1000, kind in 0u8..3) {
            let spec = match kind {
                0 => RangeSpec::FromTo(a.min(b), a.max(b)),
                1 => RangeSpec::From(a),
                _ => RangeSpec::Suffix(a),
            };
            if let Resolved::Partial(r) = resolve(spec, size) {
                prop_assert!(r.start < r.end && r.end <= size);
            }
        }

        #[test]
        fn dispositions_are_header_safe(name in "\\PC{1,60}") {
            let value = content_disposition(&name);
            prop_assert!(axum::http::HeaderValue::from_str(&value).is_ok());
        }
    }
}
