//! The tus protocol's edge cases against the real binary, with raw HTTP requests: the
//! capabilities, 412 without `Tus-Resumable: 1.0.0`, 409 at a wrong offset, 413 and 507 at
//! creation, 415, 404 for someone else's upload, creation-with-upload, termination, and two
//! PATCHes at one offset of which one wins.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::json;

use crate::api::{Api, User, expect_error};
use crate::harness::Launch;

const TUS: &str = "1.0.0";

fn metadata(name: &str, folder: &str) -> String {
    format!("filename {},folder {}", STANDARD.encode(name), STANDARD.encode(folder))
}

fn tus(api: &Api, method: Method, path: &str, user: &User) -> RequestBuilder {
    api.request(method, path, Some(&user.token)).header("Tus-Resumable", TUS)
}

async fn create(api: &Api, user: &User, name: &str, length: u64) -> Response {
    tus(api, Method::POST, "/api/v1/uploads", user)
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", metadata(name, "$/tus"))
        .send()
        .await
        .unwrap()
}

async fn created(api: &Api, user: &User, name: &str, length: u64) -> String {
    let response = create(api, user, name, length).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["tus-resumable"], TUS);
    assert!(response.headers().contains_key("upload-expires"));
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn patch(api: &Api, user: &User, location: &str, offset: u64, body: Vec<u8>) -> RequestBuilder {
    tus(api, Method::PATCH, location, user)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(body)
}

fn header(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_refuses_what_it_must_and_continues_where_it_should() {
    let server = Launch::embedded()
        .env("DRIP_LIMITS__MAX_UPLOAD_MIB", "1")
        .env("DRIP_LIMITS__DEFAULT_QUOTA_MIB", "2")
        .env("DRIP_LIMITS__MAX_TRANSFERS_PER_USER", "0")
        .start()
        .await;
    let api = Api::new(&server);
    let (alice, bob) = (api.register("alice").await, api.register("bob").await);

    // Capabilities, without authentication.
    let options = api.request(Method::OPTIONS, "/api/v1/uploads", None).send().await.unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&options, "tus-version"), TUS);
    assert_eq!(header(&options, "tus-extension"), "creation,creation-with-upload,termination,expiration");
    assert_eq!(header(&options, "tus-max-size"), (1024 * 1024).to_string());

    // No or another protocol version: 412 naming the one spoken.
    for version in [None, Some("0.2.2")] {
        let mut request = api
            .request(Method::POST, "/api/v1/uploads", Some(&alice.token))
            .header("Upload-Length", "10")
            .header("Upload-Metadata", metadata("a.bin", "$"));
        if let Some(version) = version {
            request = request.header("Tus-Resumable", version);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["tus-version"], TUS);
        expect_error(response, StatusCode::PRECONDITION_FAILED, "unsupported_tus_version").await;
    }
    // Over the upload limit, and over the quota (after a first 1 MiB upload).
    expect_error(
        create(&api, &alice, "huge.bin", 1024 * 1024 + 1).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let first = created(&api, &alice, "first.bin", 1024 * 1024).await;
    let second = created(&api, &alice, "second.bin", 1024 * 1024).await;
    let over = expect_error(
        create(&api, &alice, "third.bin", 1).await,
        StatusCode::INSUFFICIENT_STORAGE,
        "quota_exceeded",
    )
    .await;
    assert_eq!(over["details"], json!({"quota": 2 * 1024 * 1024, "used": 2 * 1024 * 1024}));
    // Metadata and lengths that are not.
    let bad = tus(&api, Method::POST, "/api/v1/uploads", &alice)
        .header("Upload-Length", "-1")
        .header("Upload-Metadata", metadata("x", "$"))
        .send()
        .await
        .unwrap();
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_upload_length").await;
    let bad = tus(&api, Method::POST, "/api/v1/uploads", &alice)
        .header("Upload-Length", "1")
        .header("Upload-Metadata", "folder JA==")
        .send()
        .await
        .unwrap();
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_metadata").await;
    expect_error(create(&api, &alice, "first.bin", 1).await, StatusCode::CONFLICT, "already_exists").await;

    // A wrong offset is 409 with the upload's; the wrong content type 415.
    let ok = patch(&api, &alice, &first, 0, vec![1; 1000]).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&ok, "upload-offset"), "1000");
    let wrong = expect_error(
        patch(&api, &alice, &first, 0, vec![1; 10]).send().await.unwrap(),
        StatusCode::CONFLICT,
        "offset_mismatch",
    )
    .await;
    assert_eq!(wrong["details"]["offset"], 1000);
    let plain = tus(&api, Method::PATCH, &first, &alice)
        .header("Upload-Offset", "1000")
        .body(vec![0u8; 3])
        .send()
        .await
        .unwrap();
    expect_error(plain, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    // Someone else's upload is unknown to them; an unknown id too.
    let head = tus(&api, Method::HEAD, &first, &bob).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    expect_error(
        patch(&api, &bob, &first, 1000, vec![1; 10]).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown =
        tus(&api, Method::HEAD, "/api/v1/uploads/2VGjNCQk3Lq3TuHqP8bHZ0oTaGq", &alice).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // More than announced: 413, nothing of it kept.
    let long = patch(&api, &alice, &first, 1000, vec![2; 1024 * 1024]).send().await.unwrap();
    expect_error(long, StatusCode::PAYLOAD_TOO_LARGE, "upload_too_long").await;
    let head = tus(&api, Method::HEAD, &first, &alice).send().await.unwrap();
    assert_eq!((head.status(), header(&head, "upload-offset")), (StatusCode::OK, "1000".to_owned()));
    assert_eq!(header(&head, "upload-length"), (1024 * 1024).to_string());
    assert_eq!(header(&head, "cache-control"), "no-store");

    // Termination frees the name and the quota.
    let gone = tus(&api, Method::DELETE, &second, &alice).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        tus(&api, Method::HEAD, &second, &alice).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        tus(&api, Method::DELETE, &second, &alice).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Creation with upload: the whole small file in the POST.
    let small = tus(&api, Method::POST, "/api/v1/uploads", &alice)
        .header("Upload-Length", "5")
        .header("Upload-Metadata", metadata("hello.txt", "$/tus"))
        .header("Content-Type", "application/offset+octet-stream")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), StatusCode::CREATED);
    assert_eq!(header(&small, "upload-offset"), "5");
    let id = header(&small, "drip-file-id");
    assert_eq!(api.content(&alice, &id).await, b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_patches_at_one_offset_one_wins() {
    let server = Launch::embedded().env("DRIP_LIMITS__MAX_TRANSFERS_PER_USER", "0").start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let location = created(&api, &alice, "race.bin", 600_000).await;
    let racers = (0..4u8).map(|n| {
        let request = patch(&api, &alice, &location, 0, vec![n; 300_000]);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(racers).await;
    let won = statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let head = tus(&api, Method::HEAD, &location, &alice).send().await.unwrap();
    assert_eq!(header(&head, "upload-offset"), "300000");
    let last = patch(&api, &alice, &location, 300_000, vec![9; 300_000]).send().await.unwrap();
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    let id = header(&last, "drip-file-id");
    let content = api.content(&alice, &id).await;
    assert_eq!(content.len(), 600_000);
    assert!(
        content[..300_000].iter().all(|b| *b == content[0]) && content[300_000..].iter().all(|b| *b == 9)
    );
}
