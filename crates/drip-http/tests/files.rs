//! File routes of `/api/v1`: upload (raw and multipart), download with ranges and entity
//! tags, metadata, move/rename, delete, listings, limits and integrity failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, Method, Request, Response, StatusCode, header};
use common::{app, app_with, app_with_storage, app_with_users, assert_error, body_bytes, body_json, code};
use drip_core::storage::StorageSettings;
use drip_http::HttpSettings;
use futures::StreamExt as _;
use serde_json::json;

#[tokio::test]
async fn upload_info_and_download_round_trip() {
    let app = app();
    let token = app.register("alice").await;
    let content = b"hello, encrypted world\n".repeat(10);
    let uri = "/api/v1/files?folder=%24%2Fdocs&name=hello%20w%C3%B6rld.txt";
    let response = app.post_as(&token, uri, Some("text/markdown"), content.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let file = body_json(response).await;
    let id = file["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/files/{id}"));
    assert_eq!(file["name"], "hello wörld.txt");
    assert_eq!(file["folder"], "$/docs");
    assert_eq!(file["size"], content.len());
    assert_eq!(file["content_type"], "text/markdown");
    assert_eq!(file["sha256"].as_str().unwrap().len(), 64);

    let (status, info) = app.get(&location, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info, file);

    let response = app.download(&token, id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/markdown");
    assert_eq!(headers[header::CONTENT_LENGTH], content.len().to_string().as_str());
    assert_eq!(headers[header::ETAG], format!("\"{}\"", file["sha256"].as_str().unwrap()).as_str());
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"hello w_rld.txt\"; filename*=UTF-8''hello%20w%C3%B6rld.txt"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let cache_control = headers[header::CACHE_CONTROL].to_str().unwrap();
    let mut directives: Vec<&str> = cache_control.split(',').map(str::trim).collect();
    directives.sort_unstable();
    assert_eq!(directives, ["no-cache", "private"], "kept by the user's browser only, revalidated");
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], "default-src 'none'; sandbox");
    assert_eq!(body_bytes(response).await, content);
}

#[tokio::test]
async fn content_type_is_guessed_when_generic_or_absent() {
    let app = app();
    let token = app.register("alice").await;
    let generic = Some("application/x-www-form-urlencoded");
    let response = app.post_as(&token, "/api/v1/files?name=a.png", generic, "png").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body = body_json(response).await;
    assert_eq!(body["content_type"], "image/png");
    assert_eq!(body["folder"], "$", "the folder defaults to the root");

    let response = app.post_as(&token, "/api/v1/files?name=b.txt", Some("not a type"), "x").await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_content_type").await;
}

#[tokio::test]
async fn ranges_and_conditional_downloads() {
    let app = app_with_storage(StorageSettings { chunk_size: 16, ..StorageSettings::default() });
    let token = app.register("alice").await;
    let content: Vec<u8> = (0..100u8).collect();
    let id = app.upload_ok(&token, "$", "bytes.bin", &content).await;

    for (range, expected, content_range) in [
        ("bytes=10-19", 10..20, "bytes 10-19/100"),
        ("bytes=90-", 90..100, "bytes 90-99/100"),
        ("bytes=-5", 95..100, "bytes 95-99/100"),
        ("bytes=95-1000", 95..100, "bytes 95-99/100"),
        ("bytes=0-0", 0..1, "bytes 0-0/100"),
        ("bytes=-1000", 0..100, "bytes 0-99/100"),
    ] {
        let response = app.download(&token, &id, &[("range", range)]).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(response.headers()[header::CONTENT_RANGE], content_range);
        assert_eq!(response.headers()[header::CONTENT_LENGTH], expected.len().to_string().as_str());
        assert_eq!(body_bytes(response).await, content[expected].to_vec(), "{range}");
    }

    for range in ["bytes=100-", "bytes=100-200", "bytes=-0"] {
        let response = app.download(&token, &id, &[("range", range)]).await;
        assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes */100", "{range}");
        assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable").await;
    }

    for ignored in ["bytes=0-1,5-6", "bytes=5-2", "lines=1-2"] {
        let response = app.download(&token, &id, &[("range", ignored)]).await;
        assert_eq!(response.status(), StatusCode::OK, "{ignored}");
        assert_eq!(body_bytes(response).await, content);
    }

    let etag = app.download(&token, &id, &[]).await.headers()[header::ETAG].to_str().unwrap().to_owned();
    let response = app.download(&token, &id, &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()[header::ETAG], etag.as_str());
    assert!(body_bytes(response).await.is_empty());
    let response = app.download(&token, &id, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app.download(&token, &id, &[("range", "bytes=0-1"), ("if-range", &etag)]).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let response = app.download(&token, &id, &[("range", "bytes=0-1"), ("if-range", "\"stale\"")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_bytes(response).await, content);
}

#[tokio::test]
async fn empty_files_download_and_refuse_ranges() {
    let app = app();
    let token = app.register("alice").await;
    let id = app.upload_ok(&token, "$", "empty.txt", b"").await;
    let response = app.download(&token, &id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "0");
    assert!(body_bytes(response).await.is_empty());
    let response = app.download(&token, &id, &[("range", "bytes=0-")]).await;
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes */0");
}

/// The content type of the forms `multipart` builds with the boundary `b`.
const FORM: Option<&str> = Some("multipart/form-data; boundary=b");

/// A form part: field name, file name, content type, content.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

fn multipart(boundary: &str, parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content_type, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(filename) = filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(format!("{disposition}\r\n").as_bytes());
        if let Some(content_type) = content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn multipart_uploads_stream_the_file_part() {
    let app = app();
    let token = app.register("alice").await;
    let body = multipart(
        "XyZ",
        &[
            ("folder", None, None, b"$/forms"),
            ("ignored", None, None, b"whatever"),
            ("file", Some("report.csv"), Some("text/csv"), b"a,b\n1,2\n"),
        ],
    );
    for uri in ["/api/v1/files/form", "/api/v1/files"] {
        let response =
            app.post_as(&token, uri, Some("multipart/form-data; boundary=XyZ"), body.clone()).await;
        if uri == "/api/v1/files" {
            assert_eq!(response.status(), StatusCode::CONFLICT, "same name, same folder");
            continue;
        }
        assert_eq!(response.status(), StatusCode::CREATED);
        let file = body_json(response).await;
        assert_eq!(file["name"], "report.csv");
        assert_eq!(file["folder"], "$/forms");
        assert_eq!(file["content_type"], "text/csv");
        let response = app.download(&token, file["id"].as_str().unwrap(), &[]).await;
        assert_eq!(body_bytes(response).await, &b"a,b\n1,2\n"[..]);
    }

    let named = multipart("b", &[("name", None, None, b"renamed.txt"), ("file", Some("x.bin"), None, b"1")]);
    let response = app.post_as(&token, "/api/v1/files/form?folder=%24", FORM, named).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body_json(response).await["name"], "renamed.txt");

    let no_file = multipart("b", &[("name", None, None, b"x.txt")]);
    let response = app.post_as(&token, "/api/v1/files/form", FORM, no_file).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;

    let response = app.post_as(&token, "/api/v1/files/form?name=a.txt", Some("text/plain"), "x").await;
    assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

fn chunked(pieces: usize, size: usize) -> Body {
    let chunks = (0..pieces).map(move |_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; size])));
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn oversized_uploads_are_413() {
    let app = app_with_storage(StorageSettings { max_upload_bytes: 100, ..StorageSettings::default() });
    let token = app.register("alice").await;

    let declared = Request::post("/api/v1/files?name=big.bin")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_LENGTH, "101")
        .body(Body::from(vec![0u8; 101]))
        .unwrap();
    let body =
        assert_error(app.send(declared).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(body["error"]["details"]["limit"], 100);

    let response = app.post_as(&token, "/api/v1/files?name=big.bin", None, chunked(11, 10)).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let form = multipart("b", &[("file", Some("big.bin"), None, &[7u8; 150])]);
    let response = app.post_as(&token, "/api/v1/files/form", FORM, form).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A form whose other parts outgrow the room around the file (1 MiB), streamed without
    // a length: cut by the form's own limit, with the upload limit in the answer.
    let padding = vec![b'p'; 1024 * 1024 + 1];
    let form = multipart("b", &[("padding", None, None, &padding), ("file", Some("a.bin"), None, b"tiny")]);
    let streamed = Body::from_stream(futures::stream::iter(
        form.chunks(4096)
            .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    ));
    let response = app.post_as(&token, "/api/v1/files/form", FORM, streamed).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(response).await["error"]["details"]["limit"], 100);

    let fits = app.post_as(&token, "/api/v1/files?name=ok.bin", None, chunked(10, 10)).await;
    assert_eq!(fits.status(), StatusCode::CREATED);
    assert_eq!(app.fakes.repositories.all_media().unwrap().len(), 1, "nothing left of the refused uploads");
}

#[tokio::test]
async fn the_storage_limit_applies_mid_stream() {
    let app = app_with_storage(StorageSettings { max_upload_bytes: 50, ..StorageSettings::default() });
    let token = app.register("alice").await;
    let response = app.post_as(&token, "/api/v1/files?name=big.bin", None, chunked(8, 10)).await;
    let body = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(body["error"]["details"]["limit"], 50);
}

#[tokio::test]
async fn upload_validation_and_conflicts() {
    let app = app();
    let token = app.register("alice").await;
    for (uri, expected) in [
        ("/api/v1/files", "invalid_request"),
        ("/api/v1/files?name=..", "invalid_name"),
        ("/api/v1/files?name=a&folder=%24%2Fa%2F", "invalid_path"),
    ] {
        let response = app.post_as(&token, uri, None, "x").await;
        assert_error(response, StatusCode::BAD_REQUEST, expected).await;
    }

    app.upload_ok(&token, "$", "a.txt", b"1").await;
    let (status, body) = app.upload(&token, "$", "a.txt", b"2").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "already_exists");

    let response = app.send(Request::post("/api/v1/files?name=b.txt").body(Body::from("x")).unwrap()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn files_of_others_are_not_found() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    let id = app.upload_ok(&alice, "$", "secret.txt", b"s").await;
    for uri in [
        format!("/api/v1/files/{id}"),
        format!("/api/v1/files/{id}/content"),
        "/api/v1/files/nope".to_owned(),
    ] {
        let (status, body) = app.get(&uri, &bob).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(code(&body), "not_found");
    }
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/files/{id}"), Some(&bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn move_rename_and_delete() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    let id = app.upload_ok(&alice, "$", "a.txt", b"aaa").await;
    app.upload_ok(&alice, "$/x", "taken.txt", b"t").await;
    let uri = format!("/api/v1/files/{id}");

    let (status, file) = app.call(Method::PATCH, &uri, Some(&alice), Some(json!({"folder": "$/x"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((file["folder"].as_str(), file["name"].as_str()), (Some("$/x"), Some("a.txt")));
    let (status, file) = app.call(Method::PATCH, &uri, Some(&alice), Some(json!({"name": "b.txt"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(file["name"], "b.txt");
    let (status, file) =
        app.call(Method::PATCH, &uri, Some(&alice), Some(json!({"folder": "$/y", "name": "c.txt"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((file["folder"].as_str(), file["name"].as_str()), (Some("$/y"), Some("c.txt")));
    // Moving to $/x as taken.txt conflicts; nothing changes.
    let (status, body) = app
        .call(Method::PATCH, &uri, Some(&alice), Some(json!({"folder": "$/x", "name": "taken.txt"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "already_exists");
    let (_, file) = app.get(&uri, &alice).await;
    assert_eq!((file["folder"].as_str(), file["name"].as_str()), (Some("$/y"), Some("c.txt")));
    // Renaming to its own name is a conflict, as in the original.
    let (status, _) = app.call(Method::PATCH, &uri, Some(&alice), Some(json!({"name": "c.txt"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, body) = app.call(Method::PATCH, &uri, Some(&alice), Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_request");
    let (status, body) = app.call(Method::PATCH, &uri, Some(&alice), Some(json!({"folder": "nope"}))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_path"));
    let (status, body) = app.call(Method::PATCH, &uri, Some(&alice), Some(json!({"name": "a/b"}))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_name"));

    let (status, _) = app.share(&alice, &id, "bob").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app.call(Method::PATCH, &uri, Some(&bob), Some(json!({"name": "mine.txt"}))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = app.call(Method::DELETE, &uri, Some(&bob), None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));

    let permanently = format!("{uri}?permanent=true");
    let (status, body) = app.call(Method::DELETE, &permanently, Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, serde_json::Value::Null);
    let (status, _) = app.get(&uri, &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.fakes.objects.len(), 2, "the object goes by a job");
    assert_eq!(app.fakes.run_jobs().await, 1);
    assert_eq!(app.fakes.objects.len(), 1, "the stored object went with it");
}

#[tokio::test]
async fn folder_listing_pages_with_cursors() {
    let app = app();
    let token = app.register("alice").await;
    for name in ["c.txt", "a.txt", "b.txt"] {
        app.upload_ok(&token, "$", name, b"12").await;
    }
    app.upload_ok(&token, "$/sub", "x.txt", b"12345").await;
    app.upload_ok(&token, "$/sub/deeper", "y.txt", b"1").await;

    let (status, page) = app.get("/api/v1/folders?path=%24&limit=2", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["path"], "$");
    let names: Vec<&str> =
        page["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a.txt", "b.txt"]);
    assert_eq!(page["folders"], json!([{"name": "sub", "files": 2, "size": 6}]));
    let cursor = page["next_cursor"].as_str().unwrap();

    let (status, next) = app.get(&format!("/api/v1/folders?path=%24&limit=2&cursor={cursor}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next["files"][0]["name"], "c.txt");
    assert!(next["next_cursor"].is_null());

    let (status, sub) = app.get("/api/v1/folders?path=%24%2Fsub", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sub["files"][0]["name"], "x.txt");
    assert_eq!(sub["folders"], json!([{"name": "deeper", "files": 1, "size": 1}]));

    let (status, body) = app.get("/api/v1/folders?cursor=garbage", &token).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_cursor"));
    let (status, body) = app.get("/api/v1/folders?path=%24%2F", &token).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_path"));
    let (status, body) = app.get("/api/v1/folders?limit=many", &token).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_query"));
}

#[tokio::test]
async fn folder_listing_sorts_by_size_or_upload_time_across_pages() {
    let app = app();
    let token = app.register("alice").await;
    for (name, body) in [("b.txt", &b"1234"[..]), ("a.txt", b"1"), ("c.txt", b"12"), ("d.txt", b"1234")] {
        app.upload_ok(&token, "$", name, body).await;
    }
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect()
    };
    let all_pages = |query: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let (mut listed, mut cursor) = (Vec::new(), String::new());
            loop {
                let (status, page) =
                    app.get(&format!("/api/v1/folders?{query}&limit=1&cursor={cursor}"), token).await;
                assert_eq!(status, StatusCode::OK, "{query}: {page}");
                listed.extend(names(&page));
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = next.to_owned(),
                    None => return listed,
                }
            }
        }
    };
    // Ties go by name in the same direction.
    assert_eq!(
        all_pages("sort=size&order=desc").await,
        ["d.txt", "b.txt", "c.txt", "a.txt"].map(String::from)
    );
    assert_eq!(all_pages("sort=size").await, ["a.txt", "c.txt", "b.txt", "d.txt"].map(String::from));
    // The fakes' clock stands still: one upload time, so by name, either way.
    assert_eq!(
        all_pages("sort=modified&order=desc").await,
        ["d.txt", "c.txt", "b.txt", "a.txt"].map(String::from)
    );
    assert_eq!(all_pages("order=desc").await, ["d.txt", "c.txt", "b.txt", "a.txt"].map(String::from));

    // A cursor continues the order it was made in; with another order asked it is refused.
    let (_, page) = app.get("/api/v1/folders?sort=size&limit=1", &token).await;
    let by_size = page["next_cursor"].as_str().unwrap().to_owned();
    let (status, rest) =
        app.get(&format!("/api/v1/folders?sort=size&limit=1&cursor={by_size}"), &token).await;
    assert_eq!((status, names(&rest)), (StatusCode::OK, vec!["c.txt".to_owned()]));
    for other in ["", "&sort=size&order=desc", "&sort=name", "&sort=modified"] {
        let (status, body) =
            app.get(&format!("/api/v1/folders?limit=1&cursor={by_size}{other}"), &token).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_cursor"), "{other:?}");
    }
    let (status, body) = app.get(&format!("/api/v1/files?cursor={by_size}"), &token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_cursor"),
        "/files lists by name only"
    );
    let (status, body) = app.get("/api/v1/folders?sort=type", &token).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_sort"));
    let (status, body) = app.get("/api/v1/folders?order=up", &token).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_order"));
}

/// The document gives `limit` as 1 to 1000: the server refuses what the document does
/// not allow (it used to clamp, and to accept `2147483648` while documenting an int32).
#[tokio::test]
async fn listing_limits_outside_the_documented_range_are_refused() {
    let app = app();
    let token = app.register("alice").await;
    app.upload_ok(&token, "$", "a.txt", b"1").await;
    for listing in ["/api/v1/files", "/api/v1/folders"] {
        for limit in ["1", "1000"] {
            let (status, _) = app.get(&format!("{listing}?limit={limit}"), &token).await;
            assert_eq!(status, StatusCode::OK, "{listing} limit={limit}");
        }
        for limit in ["0", "1001", "2147483648", "-1"] {
            let (status, body) = app.get(&format!("{listing}?limit={limit}"), &token).await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::BAD_REQUEST, "invalid_query"),
                "{listing} limit={limit}"
            );
        }
    }
}

/// A move names a folder, a name or both, as strings: `null` and unknown fields are
/// refused as the document says (`additionalProperties: false`, non-nullable fields),
/// rather than ignored.
#[tokio::test]
async fn moves_refuse_nulls_and_unknown_fields() {
    let app = app();
    let token = app.register("alice").await;
    let id = app.upload_ok(&token, "$", "a.txt", b"1").await;
    let uri = format!("/api/v1/files/{id}");
    for body in [
        json!({"name": null}),
        json!({"name": "b.txt", "folder": null}),
        json!({"name": "b.txt", "colour": "red"}),
    ] {
        let (status, answer) = app.call(Method::PATCH, &uri, Some(&token), Some(body.clone())).await;
        assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, "invalid_request"), "{body}");
    }
    let (_, file) = app.get(&uri, &token).await;
    assert_eq!(file["name"], "a.txt", "nothing changed");
}

#[tokio::test]
async fn list_all_includes_shared_files() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    let shared = app.upload_ok(&alice, "$/a", "shared.txt", b"1").await;
    app.upload_ok(&alice, "$", "private.txt", b"1").await;
    app.upload_ok(&bob, "$", "own.txt", b"1").await;
    app.share(&alice, &shared, "bob").await;

    let (status, page) = app.get("/api/v1/files?limit=1", &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["name"], "own.txt");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = app.get(&format!("/api/v1/files?limit=1&cursor={cursor}"), &bob).await;
    assert_eq!(page["items"][0]["name"], "shared.txt");
    assert_eq!(page["items"][0]["id"], shared.as_str());
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn integrity_failures_never_deliver_unverified_bytes() {
    let app = app_with_storage(StorageSettings { chunk_size: 16, ..StorageSettings::default() });
    let token = app.register("alice").await;
    let early = app.upload_ok(&token, "$", "early.bin", &[1u8; 100]).await;
    let late = app.upload_ok(&token, "$", "late.bin", &[2u8; 100]).await;
    for media in app.fakes.repositories.all_media().unwrap() {
        let key = media.storage_key().clone();
        let mut bytes = app.fakes.objects.object(&key).unwrap().to_vec();
        let at = if media.id().to_string() == early { 0 } else { bytes.len() - 1 };
        bytes[at] ^= 0xFF;
        app.fakes.objects.insert(key, bytes.into());
    }

    let response = app.download(&token, &early, &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = body_json(response).await;
    assert_eq!(code(&body), "integrity");
    assert!(!body.to_string().contains("chunk"), "no internal detail: {body}");

    let response = app.download(&token, &late, &[]).await;
    assert_eq!(response.status(), StatusCode::OK, "the first chunks were good");
    assert!(axum::body::to_bytes(response.into_body(), usize::MAX).await.is_err(), "the body is cut short");
}

/// Asserts a refusal with `status` and `expected_code` that says when to retry (7 s).
async fn assert_retry_later(response: Response<Body>, status: StatusCode, expected_code: &str) {
    assert_eq!(response.headers()[header::RETRY_AFTER], "7", "{expected_code}");
    assert_error(response, status, expected_code).await;
}

/// alice, bob and carol with a file each (`aaa`, `bbb`, `ccc`): their tokens and file ids.
async fn three_users_with_a_file_each(app: &common::TestApp) -> [(String, String); 3] {
    let tokens = app.register_all(["alice", "bob", "carol"]).await;
    let mut owned = Vec::new();
    for (token, content) in tokens.into_iter().zip([b"aaa", b"bbb", b"ccc"]) {
        let id = app.upload_ok(&token, "$", &format!("{}.txt", content[0] as char), content).await;
        owned.push((token, id));
    }
    owned.try_into().unwrap()
}

#[tokio::test]
async fn busy_servers_and_greedy_users_are_told_to_retry() {
    let app = app_with(
        HttpSettings { max_transfers_per_user: 1, retry_after_secs: 7, ..HttpSettings::default() },
        StorageSettings {
            max_concurrent_transfers: 2,
            transfer_wait: Duration::from_millis(20),
            ..StorageSettings::default()
        },
        Vec::new(),
    );
    let [(alice, a), (bob, b), (carol, c)] = three_users_with_a_file_each(&app).await;

    let held = app.download(&alice, &a, &[]).await;
    assert_eq!(held.status(), StatusCode::OK);
    let response = app.download(&alice, &a, &[]).await;
    assert_retry_later(response, StatusCode::TOO_MANY_REQUESTS, "too_many_transfers").await;

    let held_too = app.download(&bob, &b, &[]).await;
    assert_eq!(held_too.status(), StatusCode::OK);
    assert_retry_later(app.download(&carol, &c, &[]).await, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
    let (status, body) = app.upload(&carol, "$", "d.txt", b"d").await;
    assert_eq!((status, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "busy"));

    assert_eq!(body_bytes(held).await, &b"aaa"[..]);
    drop(held_too);
    let response = app.download(&carol, &c, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_bytes(response).await, &b"ccc"[..]);
}

#[tokio::test]
async fn one_address_cannot_take_every_slot_with_many_accounts() {
    let app = app_with(
        HttpSettings {
            max_transfers_per_user: 0,
            max_transfers_per_ip: 2,
            retry_after_secs: 7,
            client_ip_header: Some(HeaderName::from_static("x-forwarded-for")),
            ..HttpSettings::default()
        },
        StorageSettings::default(),
        Vec::new(),
    );
    let [(alice, a), (bob, b), (carol, c)] = three_users_with_a_file_each(&app).await;

    // In-process requests carry no peer address: they all come from one client.
    let held = app.download(&alice, &a, &[]).await;
    let held_too = app.download(&bob, &b, &[]).await;
    assert_eq!((held.status(), held_too.status()), (StatusCode::OK, StatusCode::OK));
    let response = app.download(&carol, &c, &[]).await;
    assert_retry_later(response, StatusCode::TOO_MANY_REQUESTS, "too_many_transfers").await;
    let (status, body) = app.upload(&carol, "$", "d.txt", b"d").await;
    assert_eq!((status, code(&body)), (StatusCode::TOO_MANY_REQUESTS, "too_many_transfers"));
    // A client elsewhere, as the trusted proxy says in its last hop, is served...
    let response = app.download(&carol, &c, &[("x-forwarded-for", "203.0.113.5")]).await;
    assert_eq!(body_bytes(response).await, &b"ccc"[..]);
    // ...but a first hop the client wrote itself changes nothing.
    let forged = app.download(&carol, &c, &[("x-forwarded-for", "203.0.113.5, 127.0.0.1")]).await;
    assert_retry_later(forged, StatusCode::TOO_MANY_REQUESTS, "too_many_transfers").await;

    drop((held, held_too));
    assert_eq!(body_bytes(app.download(&carol, &c, &[]).await).await, &b"ccc"[..]);
}

/// A request body that sends `first` and then nothing, without ending.
fn stalling(first: Vec<u8>) -> Body {
    let first = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(first))]);
    Body::from_stream(first.chain(futures::stream::pending()))
}

// On the real clock: the upload's body is read on the blocking pool (the encryption
// stages), which keeps a paused clock from advancing. The test waits for the answers only.
#[tokio::test]
async fn uploads_that_stall_are_cut_and_leave_nothing_behind() {
    let app = app_with(
        HttpSettings { transfer_idle: Duration::from_secs(1), ..HttpSettings::default() },
        StorageSettings::default(),
        Vec::new(),
    );
    let token = app.register("alice").await;
    let raw = app.post_as(&token, "/api/v1/files?name=stall.bin", None, stalling(b"partial".to_vec())).await;
    let body = assert_error(raw, StatusCode::REQUEST_TIMEOUT, "transfer_idle").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("1 s"), "{body}");
    // A form stalling in its file part, and one stalling before it.
    let mut in_file = multipart("b", &[("file", Some("stall.bin"), None, b"12345")]);
    in_file.truncate(in_file.len() - 10);
    let before_file = b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nstall".to_vec();
    for form in [in_file, before_file] {
        let response = app.post_as(&token, "/api/v1/files/form", FORM, stalling(form)).await;
        assert_error(response, StatusCode::REQUEST_TIMEOUT, "transfer_idle").await;
    }
    let (status, page) = app.get("/api/v1/files", &token).await;
    assert_eq!((status, page["items"].as_array().unwrap().len()), (StatusCode::OK, 0), "nothing was stored");
    // The name and the user's slots are free again.
    app.upload_ok(&token, "$", "stall.bin", b"whole").await;
}

#[tokio::test]
async fn backend_failures_are_503_or_opaque_500() {
    let app = app();
    let token = app.register("alice").await;
    let id = app.upload_ok(&token, "$", "a.txt", b"abc").await;

    app.fakes.objects.set_failing(true);
    let (status, body) = app.upload(&token, "$", "b.txt", b"b").await;
    assert_eq!((status, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
    let response = app.download(&token, &id, &[]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    app.fakes.objects.set_failing(false);

    app.fakes.keys.forget("k1");
    let response = app.download(&token, &id, &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = body_json(response).await;
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["message"], "internal error");
    // The request id is random, and may contain "k1" by chance.
    body["error"].as_object_mut().unwrap().remove("request_id");
    assert!(!body.to_string().contains("k1"), "internal details never leak: {body}");
}

#[tokio::test]
async fn names_that_are_not_utf8_or_reorder_text_are_refused() {
    let app = app();
    let token = app.register("alice").await;
    for (uri, expected) in [
        ("/api/v1/files?name=%FF.txt", "invalid_query"),
        ("/api/v1/files?name=a.txt&folder=%24%2F%FE", "invalid_query"),
        ("/api/v1/files?name=invoice%E2%80%AEtxt.exe", "invalid_name"),
    ] {
        let response = app.post_as(&token, uri, None, "x").await;
        assert_error(response, StatusCode::BAD_REQUEST, expected).await;
    }
    let response = app
        .send(
            Request::get("/api/v1/folders?path=%24%2F%FF")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn names_with_odd_extensions_store_and_download() {
    let app = app();
    let token = app.register("alice").await;
    let cjk = format!("文件.{}", "漢".repeat(70));
    for name in ["a.\\x", "..\\..\\etc\\passwd", &format!("x.{}", "b".repeat(230)), &cjk] {
        let id = app.upload_ok(&token, "$", name, name.as_bytes()).await;
        let response = app.download(&token, &id, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{name:?}");
        assert_eq!(body_bytes(response).await, name.as_bytes());
    }
}

/// A raw request with a body, as `token`.
async fn send_body(
    app: &common::TestApp,
    method: Method,
    uri: &str,
    token: &str,
    body: &[u8],
) -> Response<Body> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body.to_vec()))
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn an_upload_onto_its_name_with_conflict_replace_is_the_files_new_version() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    let id = app.upload_ok(&alice, "$/d", "f.txt", b"v1").await;
    assert_eq!(app.share(&alice, &id, "bob").await.0, StatusCode::CREATED);
    let first_etag = app.download(&bob, &id, &[]).await.headers()[header::ETAG].clone();

    let replace = "/api/v1/files?folder=%24%2Fd&name=f.txt&conflict=replace";
    let response = send_body(&app, Method::POST, replace, &alice, b"version two").await;
    assert_eq!(response.status(), StatusCode::OK);
    let file = body_json(response).await;
    assert_eq!((file["id"].as_str(), file["size"].as_u64()), (Some(&*id), Some(11)), "{file}");
    let seen = app.download(&bob, &id, &[]).await;
    assert_ne!(seen.headers()[header::ETAG], first_etag, "a new entity tag");
    assert_eq!(&body_bytes(seen).await[..], b"version two", "the sharee reads the new version");
    let (_, usage) = app.get("/api/v1/me/usage", &alice).await;
    assert_eq!((usage["media_count"].as_u64(), usage["disk_usage"].as_u64()), (Some(1), Some(11)));

    let (status, body) = app.upload(&alice, "$/d", "f.txt", b"no").await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "already_exists"), "the default refuses");
    let response =
        send_body(&app, Method::POST, "/api/v1/files?name=f.txt&conflict=merge", &alice, b"x").await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_conflict").await;
    let response =
        send_body(&app, Method::POST, "/api/v1/files?name=new.txt&conflict=replace", &alice, b"x").await;
    assert_eq!(response.status(), StatusCode::CREATED, "nothing to replace: a new file");
    let response =
        send_body(&app, Method::POST, "/api/v1/files?folder=%24%2Fd&name=f.txt&conflict=replace", &bob, b"b")
            .await;
    assert_eq!(response.status(), StatusCode::CREATED, "bob's own name, not alice's file (decision 0012)");
    assert_eq!(&body_bytes(app.download(&alice, &id, &[]).await).await[..], b"version two");
}

#[tokio::test]
async fn put_content_stores_a_new_version_by_id_for_its_creator_only() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    let id = app.upload_ok(&alice, "$", "notes.md", b"# one").await;
    assert_eq!(app.share(&alice, &id, "bob").await.0, StatusCode::CREATED);
    let content = format!("/api/v1/files/{id}/content");

    let response = send_body(&app, Method::PUT, &content, &alice, b"# two, longer").await;
    assert_eq!(response.status(), StatusCode::OK);
    let file = body_json(response).await;
    assert_eq!(
        (file["id"].as_str(), file["name"].as_str(), file["size"].as_u64()),
        (Some(&*id), Some("notes.md"), Some(13))
    );
    assert_eq!(&body_bytes(app.download(&alice, &id, &[]).await).await[..], b"# two, longer");

    assert_error(
        send_body(&app, Method::PUT, &content, &bob, b"mine now").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let unknown = "/api/v1/files/2CZf8nJ8KQxlj0Qn5nZbW7t1v9a/content";
    assert_error(
        send_body(&app, Method::PUT, unknown, &alice, b"x").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        &body_bytes(app.download(&bob, &id, &[]).await).await[..],
        b"# two, longer",
        "bob changed nothing"
    );
}
