//! The double's HTTP surface: one axum handler that recognises each XML API request (and
//! the JSON listing), applies fault rules, serves it and records it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::state::{CompleteError, Object, Shared};
use crate::xml::{self, RangeAsk};
use crate::{Operation, RecordedRequest};

/// Largest page of a listing.
const MAX_KEYS: usize = 1000;

/// Conditional read headers the double does not implement.
const CONDITIONAL_READS: [header::HeaderName; 4] =
    [header::IF_MATCH, header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE];

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).layer(DefaultBodyLimit::disable()).with_state(shared)
}

/// What a request path names.
#[derive(Debug)]
enum Target {
    /// `/{bucket}`.
    Bucket(String),
    /// `/{bucket}/{object}`.
    Object(String, String),
    /// `/storage/v1/b/{bucket}/o`.
    JsonList(String),
    /// Any other JSON API path.
    JsonOther,
    /// A path that does not decode.
    Invalid,
}

fn decode(text: &str) -> Option<String> {
    percent_decode_str(text).decode_utf8().ok().map(|s| s.into_owned())
}

fn target(path: &str) -> Target {
    if let Some(rest) = path.strip_prefix("/storage/v1/b/") {
        return match rest.split_once('/') {
            Some((bucket, "o")) => decode(bucket).map_or(Target::Invalid, Target::JsonList),
            _ => Target::JsonOther,
        };
    }
    if path.starts_with("/upload/") || path.starts_with("/storage/") {
        return Target::JsonOther;
    }
    let rest = path.trim_start_matches('/');
    match rest.split_once('/') {
        None => decode(rest).map_or(Target::Invalid, Target::Bucket),
        Some((bucket, object)) => match (decode(bucket), decode(object)) {
            (Some(bucket), Some(object)) if !object.is_empty() => Target::Object(bucket, object),
            (Some(bucket), Some(_)) => Target::Bucket(bucket),
            _ => Target::Invalid,
        },
    }
}

fn operation(method: &Method, target: &Target, query: &HashMap<String, String>) -> Operation {
    let upload = query.contains_key("uploadId");
    match (target, method.as_str()) {
        (Target::JsonList(_), "GET") | (Target::Bucket(_), "GET") => Operation::ListObjects,
        (Target::Object(..), "PUT") if upload && query.contains_key("partNumber") => Operation::UploadPart,
        (Target::Object(..), "PUT") if !upload => Operation::PutObject,
        (Target::Object(..), "GET") if !upload => Operation::GetObject,
        (Target::Object(..), "HEAD") if !upload => Operation::HeadObject,
        (Target::Object(..), "DELETE") if upload => Operation::AbortUpload,
        (Target::Object(..), "DELETE") => Operation::DeleteObject,
        (Target::Object(..), "POST") if query.contains_key("uploads") => Operation::InitiateUpload,
        (Target::Object(..), "POST") if upload => Operation::CompleteUpload,
        _ => Operation::Unsupported,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = target(uri.path());
    let operation = operation(&method, &target, &query);
    let response = match shared.take_fault(operation) {
        Some(status) => injected(status),
        None => serve(&shared, &method, &target, operation, &query, &headers, body),
    };
    shared.record(RecordedRequest {
        operation,
        method: method.to_string(),
        target: uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        status: response.status().as_u16(),
    });
    response
}

fn serve(
    shared: &Shared,
    method: &Method,
    target: &Target,
    operation: Operation,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let bucket = match target {
        Target::Bucket(b) | Target::Object(b, _) | Target::JsonList(b) => b.as_str(),
        Target::JsonOther => {
            return json_error(StatusCode::NOT_IMPLEMENTED, "not implemented by the gcs double");
        }
        Target::Invalid => {
            return error(StatusCode::BAD_REQUEST, "InvalidURI", "Couldn't parse the specified URI.", "");
        }
    };
    if bucket != shared.bucket() {
        return match target {
            Target::JsonList(_) => json_error(StatusCode::NOT_FOUND, "The specified bucket does not exist."),
            _ => error(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist.", bucket),
        };
    }
    let name = match target {
        Target::Object(_, name) => name.as_str(),
        _ => "",
    };
    let upload_id = query.get("uploadId").map(String::as_str).unwrap_or_default();
    match operation {
        Operation::PutObject => put_object(shared, name, headers, body),
        Operation::GetObject | Operation::HeadObject => {
            get_object(shared, name, *method == Method::HEAD, query, headers)
        }
        Operation::DeleteObject => delete_object(shared, name),
        Operation::InitiateUpload => initiate_upload(shared, name, headers),
        Operation::UploadPart => upload_part(shared, name, upload_id, query, body),
        Operation::CompleteUpload => complete_upload(shared, name, upload_id, body),
        Operation::AbortUpload => abort_upload(shared, name, upload_id),
        Operation::ListObjects => list(shared, target, query),
        Operation::Unsupported => not_implemented(),
    }
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/xml; charset=UTF-8")], body).into_response()
}

fn error(status: StatusCode, code: &str, message: &str, details: &str) -> Response {
    xml_response(status, xml::error(code, message, details))
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": status.as_u16(), "message": message } });
    (status, axum::Json(body)).into_response()
}

fn not_implemented() -> Response {
    error(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        "A header or query you provided implies functionality that is not implemented.",
        "not implemented by the gcs double",
    )
}

fn injected(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "SlowDown",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        s if s.is_server_error() => "InternalError",
        _ => "InjectedFault",
    };
    error(status, code, "Injected fault.", "fault injected by the test")
}

fn no_such_key(shared: &Shared, name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchKey",
        "The specified key does not exist.",
        &format!("No such object: {}/{name}", shared.bucket()),
    )
}

fn no_such_upload(upload_id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The requested upload was not found.",
        &format!("No such upload: {upload_id}"),
    )
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// Headers describing a stored object (on writes and reads).
fn object_headers(object: &Object) -> Vec<(&'static str, String)> {
    vec![
        ("etag", object.etag.clone()),
        ("x-goog-generation", object.generation.to_string()),
        ("x-goog-metageneration", "1".to_owned()),
        ("x-goog-stored-content-length", object.data.len().to_string()),
        ("x-goog-stored-content-encoding", "identity".to_owned()),
    ]
}

fn with_headers(mut response: Response, headers: Vec<(&'static str, String)>) -> Response {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn put_object(shared: &Shared, name: &str, headers: &HeaderMap, body: Bytes) -> Response {
    if headers.contains_key("x-goog-copy-source") {
        return not_implemented();
    }
    let condition = match headers.get("x-goog-if-generation-match").map(|v| v.to_str().map(str::parse::<u64>))
    {
        None => None,
        Some(Ok(Ok(generation))) => Some(generation),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Invalid argument.",
                "x-goog-if-generation-match",
            );
        }
    };
    match shared.put_object(name, body, content_type(headers), condition) {
        Ok(object) => with_headers(StatusCode::OK.into_response(), object_headers(&object)),
        Err(_) => error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
            "x-goog-if-generation-match",
        ),
    }
}

fn get_object(
    shared: &Shared,
    name: &str,
    head: bool,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    if CONDITIONAL_READS.iter().any(|h| headers.contains_key(h)) {
        return not_implemented();
    }
    let wanted_generation = query.get("generation").map(|g| g.parse::<u64>().ok());
    let Some(object) = shared
        .object_meta(name)
        .filter(|o| wanted_generation.is_none_or(|wanted| wanted == Some(o.generation)))
    else {
        let missing = no_such_key(shared, name);
        return if head { StatusCode::NOT_FOUND.into_response() } else { missing };
    };
    let size = object.data.len() as u64;
    let asked = xml::range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), size);
    let (status, data, content_range) = match asked {
        RangeAsk::Whole => (StatusCode::OK, object.data.clone(), None),
        RangeAsk::Part { first, last } => {
            let slice = object.data.slice(usize_of(first)..usize_of(last) + 1);
            (StatusCode::PARTIAL_CONTENT, slice, Some(format!("bytes {first}-{last}/{size}")))
        }
        RangeAsk::Unsatisfiable => {
            let response = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range cannot be satisfied.",
                &format!("bytes */{size}"),
            );
            return with_headers(response, vec![("content-range", format!("bytes */{size}"))]);
        }
    };
    let mut headers = object_headers(&object);
    headers.push(("content-type", object.content_type.clone()));
    headers.push(("content-length", data.len().to_string()));
    headers.push(("last-modified", object.updated.format("%a, %d %b %Y %H:%M:%S GMT").to_string()));
    headers.push(("accept-ranges", "bytes".to_owned()));
    if let Some(content_range) = content_range {
        headers.push(("content-range", content_range));
    }
    let body = if head { Body::empty() } else { Body::from(data) };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    with_headers(response, headers)
}

/// Offsets come from objects held in memory, so they fit in `usize`.
fn usize_of(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

fn delete_object(shared: &Shared, name: &str) -> Response {
    if shared.delete_object(name) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        no_such_key(shared, name)
    }
}

fn initiate_upload(shared: &Shared, name: &str, headers: &HeaderMap) -> Response {
    let id = shared.initiate_upload(name, content_type(headers));
    xml_response(StatusCode::OK, xml::initiate_result(shared.bucket(), name, &id))
}

fn upload_part(
    shared: &Shared,
    name: &str,
    upload_id: &str,
    query: &HashMap<String, String>,
    body: Bytes,
) -> Response {
    let number =
        query.get("partNumber").and_then(|n| n.parse::<u32>().ok()).filter(|n| (1..=10_000).contains(n));
    let Some(number) = number else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive.",
            "partNumber",
        );
    };
    match shared.upload_part(name, upload_id, number, body) {
        Some(etag) => with_headers(StatusCode::OK.into_response(), vec![("etag", etag)]),
        None => no_such_upload(upload_id),
    }
}

fn complete_upload(shared: &Shared, name: &str, upload_id: &str, body: Bytes) -> Response {
    let listed = std::str::from_utf8(&body).ok().and_then(xml::parse_complete);
    let outcome = match listed {
        Some(listed) => shared.complete_upload(name, upload_id, &listed),
        None if shared.in_progress_upload_exists(name, upload_id) => Err(CompleteError::Empty),
        None => Err(CompleteError::NoSuchUpload),
    };
    match outcome {
        Ok(object) => {
            let body = xml::complete_result(shared.base_url(), shared.bucket(), name, &object.etag);
            let response = xml_response(StatusCode::OK, body);
            with_headers(response, vec![("x-goog-generation", object.generation.to_string())])
        }
        Err(CompleteError::NoSuchUpload) => no_such_upload(upload_id),
        Err(CompleteError::Empty) => error(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
            "CompleteMultipartUpload needs at least one part",
        ),
        Err(CompleteError::InvalidPartOrder) => error(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
            "",
        ),
        Err(CompleteError::InvalidPart(number)) => error(
            StatusCode::BAD_REQUEST,
            "InvalidPart",
            "One or more of the specified parts could not be found.",
            &format!("part {number}"),
        ),
        Err(CompleteError::EntityTooSmall(number)) => error(
            StatusCode::BAD_REQUEST,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed object size.",
            &format!("part {number}"),
        ),
    }
}

fn abort_upload(shared: &Shared, name: &str, upload_id: &str) -> Response {
    if shared.abort_upload(name, upload_id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        no_such_upload(upload_id)
    }
}

fn list(shared: &Shared, target: &Target, query: &HashMap<String, String>) -> Response {
    let json = matches!(target, Target::JsonList(_));
    let param = |xml_name: &str, json_name: &str| query.get(if json { json_name } else { xml_name }).cloned();
    let prefix = query.get("prefix").cloned().unwrap_or_default();
    let delimiter = query.get("delimiter").cloned().filter(|d| !d.is_empty());
    let max = param("max-keys", "maxResults").and_then(|m| m.parse::<usize>().ok()).unwrap_or(MAX_KEYS);
    let max = max.clamp(1, MAX_KEYS);
    let token = param("continuation-token", "pageToken");
    let start_after = if json { None } else { query.get("start-after").cloned() };
    let after = match (token, start_after) {
        (Some(token), Some(start)) => Some(token.max(start)),
        (token, start) => token.or(start),
    };
    let objects = shared.objects_with_prefix(&prefix);
    let (entries, truncated) = xml::page(objects, &prefix, delimiter.as_deref(), after.as_deref(), max);
    let next = truncated.then(|| entries.last().map(|e| e.name().to_owned())).flatten();
    if json {
        axum::Json(xml::json_list(shared.bucket(), &entries, next.as_deref())).into_response()
    } else {
        let body =
            xml::list_result(shared.bucket(), &prefix, delimiter.as_deref(), max, &entries, next.as_deref());
        xml_response(StatusCode::OK, body)
    }
}
