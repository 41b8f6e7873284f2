//! The double's wire formats: XML bodies of the XML API (results and errors), the
//! `CompleteMultipartUpload` request, the JSON listing, and `Range` headers.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;
use serde::Deserialize;

use crate::state::Object;

/// The XML declaration Google's answers start with.
const DECLARATION: &str = "<?xml version='1.0' encoding='UTF-8'?>";

/// An error body: `<Error><Code>..</Code><Message>..</Message><Details>..</Details></Error>`.
pub(crate) fn error(code: &str, message: &str, details: &str) -> String {
    format!(
        "{DECLARATION}<Error><Code>{}</Code><Message>{}</Message><Details>{}</Details></Error>",
        escape(code),
        escape(message),
        escape(details)
    )
}

pub(crate) fn initiate_result(bucket: &str, key: &str, upload_id: &str) -> String {
    format!(
        "{DECLARATION}<InitiateMultipartUploadResult xmlns='http://s3.amazonaws.com/doc/2006-03-01/'>\
         <Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
        escape(bucket),
        escape(key),
        escape(upload_id)
    )
}

pub(crate) fn complete_result(base_url: &str, bucket: &str, key: &str, etag: &str) -> String {
    format!(
        "{DECLARATION}<CompleteMultipartUploadResult xmlns='http://s3.amazonaws.com/doc/2006-03-01/'>\
         <Location>{}/{}/{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag>\
         </CompleteMultipartUploadResult>",
        escape(base_url),
        escape(bucket),
        escape(key),
        escape(bucket),
        escape(key),
        escape(etag)
    )
}

/// The body of `CompleteMultipartUpload`.
#[derive(Debug, Deserialize)]
struct CompleteRequest {
    #[serde(default, rename = "Part")]
    parts: Vec<CompletePart>,
}

#[derive(Debug, Deserialize)]
struct CompletePart {
    #[serde(rename = "PartNumber")]
    number: u32,
    #[serde(rename = "ETag")]
    etag: String,
}

/// The `(part number, etag)` pairs of a `CompleteMultipartUpload` body, as listed.
pub(crate) fn parse_complete(body: &str) -> Option<Vec<(u32, String)>> {
    if !body.contains("<CompleteMultipartUpload") {
        return None;
    }
    let request: CompleteRequest = quick_xml::de::from_str(body).ok()?;
    Some(request.parts.into_iter().map(|p| (p.number, p.etag)).collect())
}

/// One entry of a listing: an object, or a common prefix (delimiter listings).
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Object(String, Object),
    Prefix(String),
}

impl Entry {
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Object(name, _) | Self::Prefix(name) => name,
        }
    }
}

/// Objects under `prefix`, rolled up at the first `delimiter` after it, by name, after
/// `after`, at most `max`; answers the page and whether more follow.
pub(crate) fn page(
    objects: Vec<(String, Object)>,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
) -> (Vec<Entry>, bool) {
    let mut entries: Vec<Entry> = Vec::new();
    for (name, object) in objects {
        let rolled = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            name[prefix.len()..].find(d).map(|at| name[..prefix.len() + at + d.len()].to_owned())
        });
        match rolled {
            Some(common) => {
                if !matches!(entries.last(), Some(Entry::Prefix(last)) if *last == common) {
                    entries.push(Entry::Prefix(common));
                }
            }
            None => entries.push(Entry::Object(name, object)),
        }
    }
    let mut remaining = entries.into_iter().filter(|e| after.is_none_or(|a| e.name() > a));
    let page: Vec<Entry> = remaining.by_ref().take(max).collect();
    let truncated = remaining.next().is_some();
    (page, truncated)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `ListBucketResult` (list-type 2).
pub(crate) fn list_result(
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max: usize,
    entries: &[Entry],
    next_token: Option<&str>,
) -> String {
    let mut body = format!(
        "{DECLARATION}<ListBucketResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'>\
         <Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max}</MaxKeys>",
        escape(bucket),
        escape(prefix),
        entries.len()
    );
    if let Some(delimiter) = delimiter {
        let _ = write!(body, "<Delimiter>{}</Delimiter>", escape(delimiter));
    }
    let _ = write!(body, "<IsTruncated>{}</IsTruncated>", next_token.is_some());
    for entry in entries {
        match entry {
            Entry::Object(name, object) => {
                let _ = write!(
                    body,
                    "<Contents><Key>{}</Key><Generation>{}</Generation><MetaGeneration>1</MetaGeneration>\
                     <LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size></Contents>",
                    escape(name.as_str()),
                    object.generation,
                    rfc3339(object.updated),
                    escape(object.etag.as_str()),
                    object.data.len()
                );
            }
            Entry::Prefix(name) => {
                let _ = write!(
                    body,
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    escape(name.as_str())
                );
            }
        }
    }
    if let Some(token) = next_token {
        let _ = write!(body, "<NextContinuationToken>{}</NextContinuationToken>", escape(token));
    }
    body.push_str("</ListBucketResult>");
    body
}

/// The JSON API's `storage#objects` listing.
pub(crate) fn json_list(bucket: &str, entries: &[Entry], next_token: Option<&str>) -> serde_json::Value {
    let items: Vec<serde_json::Value> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Object(name, object) => Some(serde_json::json!({
                "kind": "storage#object",
                "id": format!("{bucket}/{name}/{}", object.generation),
                "name": name,
                "bucket": bucket,
                "generation": object.generation.to_string(),
                "metageneration": "1",
                "contentType": object.content_type,
                "size": object.data.len().to_string(),
                "etag": object.etag.trim_matches('"'),
                "timeCreated": rfc3339(object.updated),
                "updated": rfc3339(object.updated),
            })),
            Entry::Prefix(_) => None,
        })
        .collect();
    let prefixes: Vec<&str> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Prefix(name) => Some(name.as_str()),
            Entry::Object(..) => None,
        })
        .collect();
    let mut listing = serde_json::json!({ "kind": "storage#objects" });
    if !items.is_empty() {
        listing["items"] = items.into();
    }
    if !prefixes.is_empty() {
        listing["prefixes"] = prefixes.into();
    }
    if let Some(token) = next_token {
        listing["nextPageToken"] = token.into();
    }
    listing
}

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAsk {
    /// No usable range: the whole object (200).
    Whole,
    /// Bytes `first..=last` (206).
    Part { first: u64, last: u64 },
    /// No byte of the object is in the range (416).
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 §14.1.2): one `bytes=` range; anything else is ignored.
pub(crate) fn range(header: Option<&str>, size: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match suffix.parse::<u64>() {
            Ok(0) => RangeAsk::Unsatisfiable,
            Ok(_) if size == 0 => RangeAsk::Unsatisfiable,
            Ok(n) => RangeAsk::Part { first: size - n.min(size), last: size - 1 },
            Err(_) => RangeAsk::Whole,
        },
        (first, "") => match first.parse::<u64>() {
            Ok(first) if first >= size => RangeAsk::Unsatisfiable,
            Ok(first) => RangeAsk::Part { first, last: size - 1 },
            Err(_) => RangeAsk::Whole,
        },
        (first, last) => match (first.parse::<u64>(), last.parse::<u64>()) {
            (Ok(first), Ok(last)) if first > last => RangeAsk::Whole,
            (Ok(first), Ok(_)) if first >= size => RangeAsk::Unsatisfiable,
            (Ok(first), Ok(last)) => RangeAsk::Part { first, last: last.min(size - 1) },
            _ => RangeAsk::Whole,
        },
    }
}
