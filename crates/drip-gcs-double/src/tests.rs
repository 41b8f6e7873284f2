//! Unit tests of the double: each request of its scope against the router, without a socket.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use crate::state::Shared;
use crate::{Fault, GcsDoubleOptions, Operation, api};

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

struct Fixture {
    shared: Arc<Shared>,
}

impl Fixture {
    fn new(min_part_size: usize) -> Self {
        let options = GcsDoubleOptions { bucket: "b".into(), min_part_size };
        Self { shared: Arc::new(Shared::new(options, "http://double".into())) }
    }

    async fn send(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response =
            api::router(Arc::clone(&self.shared)).oneshot(request.body(body.into()).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Answer { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
    }

    async fn initiate(&self, object: &str) -> String {
        let answer = self.send("POST", &format!("/b/{object}?uploads="), &[], Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let start = answer.body.find("<UploadId>").unwrap() + "<UploadId>".len();
        let end = answer.body.find("</UploadId>").unwrap();
        answer.body[start..end].to_owned()
    }

    async fn part(&self, object: &str, id: &str, number: u32, data: &'static str) -> String {
        let uri = format!("/b/{object}?partNumber={number}&uploadId={id}");
        let answer = self.send("PUT", &uri, &[], data).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.header("etag").to_owned()
    }
}

fn complete_body(parts: &[(u32, &str)]) -> String {
    let parts: String = parts
        .iter()
        .map(|(n, e)| format!("<Part><ETag>{e}</ETag><PartNumber>{n}</PartNumber></Part>"))
        .collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
}

#[tokio::test]
async fn put_get_head_delete() {
    let f = Fixture::new(1);
    let put = f.send("PUT", "/b/dir%2Fa%23b", &[("content-type", "text/plain")], "0123456789").await;
    assert_eq!(put.status, StatusCode::OK);
    let etag = put.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert!(!put.header("x-goog-generation").is_empty());
    assert_eq!(f.shared.object_names(), ["dir/a#b"]);

    let get = f.send("GET", "/b/dir%2Fa%23b", &[], Body::empty()).await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(get.body, "0123456789");
    assert_eq!(get.header("etag"), etag);
    assert_eq!(get.header("content-type"), "text/plain");
    assert_eq!(get.header("content-length"), "10");
    chrono::DateTime::parse_from_rfc2822(get.header("last-modified")).unwrap();

    let head = f.send("HEAD", "/b/dir%2Fa%23b", &[], Body::empty()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), "10");
    assert_eq!(head.body, "");

    assert_eq!(f.send("DELETE", "/b/dir%2Fa%23b", &[], Body::empty()).await.status, StatusCode::NO_CONTENT);
    let missing = f.send("GET", "/b/dir%2Fa%23b", &[], Body::empty()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<Error><Code>NoSuchKey</Code>"), "{}", missing.body);
    assert_eq!(f.send("HEAD", "/b/dir%2Fa%23b", &[], Body::empty()).await.status, StatusCode::NOT_FOUND);
    let again = f.send("DELETE", "/b/dir%2Fa%23b", &[], Body::empty()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains("NoSuchKey"));
}

#[tokio::test]
async fn ranges() {
    let f = Fixture::new(1);
    f.send("PUT", "/b/o", &[], "0123456789").await;
    for (range, status, body, content_range) in [
        ("bytes=2-4", StatusCode::PARTIAL_CONTENT, "234", "bytes 2-4/10"),
        ("bytes=5-100", StatusCode::PARTIAL_CONTENT, "56789", "bytes 5-9/10"),
        ("bytes=7-", StatusCode::PARTIAL_CONTENT, "789", "bytes 7-9/10"),
        ("bytes=-3", StatusCode::PARTIAL_CONTENT, "789", "bytes 7-9/10"),
        ("bytes=4-2", StatusCode::OK, "0123456789", ""),
        ("items=1-2", StatusCode::OK, "0123456789", ""),
    ] {
        let answer = f.send("GET", "/b/o", &[("range", range)], Body::empty()).await;
        assert_eq!((answer.status, answer.body.as_str()), (status, body), "{range}");
        assert_eq!(answer.header("content-range"), content_range, "{range}");
    }
    for range in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
        let answer = f.send("GET", "/b/o", &[("range", range)], Body::empty()).await;
        assert_eq!(answer.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(answer.header("content-range"), "bytes */10");
        assert!(answer.body.contains("<Code>InvalidRange</Code>"));
    }
}

#[tokio::test]
async fn conditional_put_and_generations() {
    let f = Fixture::new(1);
    let first = f.send("PUT", "/b/o", &[("x-goog-if-generation-match", "0")], "a").await;
    assert_eq!(first.status, StatusCode::OK);
    let refused = f.send("PUT", "/b/o", &[("x-goog-if-generation-match", "0")], "b").await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    let generation = first.header("x-goog-generation").to_owned();
    let current = f.send("GET", &format!("/b/o?generation={generation}"), &[], Body::empty()).await;
    assert_eq!(current.body, "a");
    let old = f.send("GET", "/b/o?generation=1", &[], Body::empty()).await;
    assert_eq!(old.status, StatusCode::NOT_FOUND);
    let unsupported = f.send("GET", "/b/o", &[("if-none-match", "\"x\"")], Body::empty()).await;
    assert_eq!(unsupported.status, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn multipart_upload_appears_only_on_completion() {
    let f = Fixture::new(3);
    let id = f.initiate("big").await;
    assert_eq!(f.shared.in_progress_uploads(), 1);
    let e2 = f.part("big", &id, 2, "def").await;
    let e1 = f.part("big", &id, 1, "abc").await;
    let e3 = f.part("big", &id, 3, "g").await;
    assert_eq!(f.send("GET", "/b/big", &[], Body::empty()).await.status, StatusCode::NOT_FOUND);

    let done = f
        .send("POST", &format!("/b/big?uploadId={id}"), &[], complete_body(&[(1, &e1), (2, &e2), (3, &e3)]))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("<CompleteMultipartUploadResult"));
    assert!(done.body.contains("<ETag>"));
    assert_eq!(f.send("GET", "/b/big", &[], Body::empty()).await.body, "abcdefg");
    assert_eq!(f.shared.in_progress_uploads(), 0);

    let gone = f.send("POST", &format!("/b/big?uploadId={id}"), &[], complete_body(&[(1, &e1)])).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.body.contains("<Code>NoSuchUpload</Code>"));
}

#[tokio::test]
async fn multipart_validation() {
    let f = Fixture::new(3);
    let id = f.initiate("o").await;
    let small = f.part("o", &id, 1, "ab").await;
    let last = f.part("o", &id, 2, "cde").await;
    let uri = format!("/b/o?uploadId={id}");
    for (body, code) in [
        (complete_body(&[(1, &small), (2, &last)]), "EntityTooSmall"),
        (complete_body(&[(2, &last), (1, &small)]), "InvalidPartOrder"),
        (complete_body(&[(1, "\"nope\"")]), "InvalidPart"),
        (complete_body(&[(3, &last)]), "InvalidPart"),
        (complete_body(&[]), "MalformedXML"),
        ("garbage".to_owned(), "MalformedXML"),
    ] {
        let answer = f.send("POST", &uri, &[], body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{code}");
        assert!(answer.body.contains(&format!("<Code>{code}</Code>")), "{code}: {}", answer.body);
    }
    let bad_number = f.send("PUT", &format!("/b/o?partNumber=0&uploadId={id}"), &[], "x").await;
    assert_eq!(bad_number.status, StatusCode::BAD_REQUEST);
    let other_object = f.send("PUT", &format!("/b/other?partNumber=1&uploadId={id}"), &[], "x").await;
    assert_eq!(other_object.status, StatusCode::NOT_FOUND);
    let unknown = f.send("PUT", "/b/o?partNumber=1&uploadId=nope", &[], "x").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("NoSuchUpload"));

    assert_eq!(f.send("DELETE", &uri, &[], Body::empty()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(f.shared.in_progress_uploads(), 0);
    assert!(f.shared.object_names().is_empty());
    let again = f.send("DELETE", &uri, &[], Body::empty()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains("NoSuchUpload"));
}

#[tokio::test]
async fn listings() {
    let f = Fixture::new(1);
    for name in ["a%2F1", "a%2F2", "a%2Fsub%2Fx", "b", "c%26d"] {
        f.send("PUT", &format!("/b/{name}"), &[], "xy").await;
    }
    let all = f.send("GET", "/b?list-type=2", &[], Body::empty()).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body.matches("<Contents>").count(), 5);
    assert!(all.body.contains("<Key>c&amp;d</Key>"));

    let rolled = f.send("GET", "/b?list-type=2&prefix=a%2F&delimiter=%2F", &[], Body::empty()).await;
    assert_eq!(rolled.body.matches("<Contents>").count(), 2);
    assert!(rolled.body.contains("<CommonPrefixes><Prefix>a/sub/</Prefix></CommonPrefixes>"));

    let first = f.send("GET", "/b?list-type=2&max-keys=2", &[], Body::empty()).await;
    assert!(first.body.contains("<IsTruncated>true</IsTruncated>"));
    assert!(first.body.contains("<NextContinuationToken>a/2</NextContinuationToken>"));
    let second =
        f.send("GET", "/b?list-type=2&max-keys=2&continuation-token=a%2F2", &[], Body::empty()).await;
    assert!(second.body.contains("<Key>a/sub/x</Key>") && second.body.contains("<Key>b</Key>"));

    let json = f.send("GET", "/storage/v1/b/b/o?prefix=a%2F&delimiter=%2F", &[], Body::empty()).await;
    let value: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(value["kind"], "storage#objects");
    assert_eq!(value["items"].as_array().unwrap().len(), 2);
    assert_eq!(value["items"][0]["name"], "a/1");
    assert_eq!(value["items"][0]["size"], "2");
    assert_eq!(value["prefixes"][0], "a/sub/");
    let paged = f.send("GET", "/storage/v1/b/b/o?maxResults=4", &[], Body::empty()).await;
    let value: serde_json::Value = serde_json::from_str(&paged.body).unwrap();
    assert_eq!(value["nextPageToken"], "b");
}

#[tokio::test]
async fn unknown_buckets_and_requests() {
    let f = Fixture::new(1);
    let other = f.send("GET", "/nope/o", &[], Body::empty()).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(other.body.contains("NoSuchBucket"));
    // JSON-API uploads and copies are outside the double's scope.
    for (method, uri, headers, body) in [
        ("POST", "/upload/storage/v1/b/b/o?uploadType=media&name=x", &[][..], "x"),
        ("PUT", "/b/o", &[("x-goog-copy-source", "b/x")][..], ""),
    ] {
        let answer = f.send(method, uri, headers, body).await;
        assert_eq!(answer.status, StatusCode::NOT_IMPLEMENTED, "{method} {uri}");
    }
}

#[tokio::test]
async fn faults_and_log() {
    let f = Fixture::new(1);
    f.shared.inject(Fault::next(2, 503));
    assert_eq!(f.send("PUT", "/b/o", &[], "x").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(f.send("PUT", "/b/o", &[], "x").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(f.send("PUT", "/b/o", &[], "x").await.status, StatusCode::OK);

    f.shared.inject(Fault::always(500).on(Operation::UploadPart));
    let id = f.initiate("o").await;
    let part = f.send("PUT", &format!("/b/o?partNumber=1&uploadId={id}"), &[], "x").await;
    assert_eq!(part.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(f.send("GET", "/b/o", &[], Body::empty()).await.status, StatusCode::OK);
    f.shared.clear_faults();
    f.part("o", &id, 1, "x").await;

    let log = f.shared.requests();
    let statuses: Vec<(Operation, u16)> = log.iter().map(|r| (r.operation, r.status)).collect();
    assert_eq!(
        statuses,
        [
            (Operation::PutObject, 503),
            (Operation::PutObject, 503),
            (Operation::PutObject, 200),
            (Operation::InitiateUpload, 200),
            (Operation::UploadPart, 500),
            (Operation::GetObject, 200),
            (Operation::UploadPart, 200),
        ]
    );
    assert_eq!(log[4].target, format!("/b/o?partNumber=1&uploadId={id}"));
}
