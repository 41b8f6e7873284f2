//! Public links and drop links against the real binary (SQLite + local disk): what curl
//! and a browser's form do, the one 404 for every failure, limits under concurrent
//! requests, Range through a link, the `download` event, and no token in the logs.

use reqwest::header;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::api::{self, Api, User, expect_error, expect_json, sha256_hex};
use crate::harness::{Launch, Server};

async fn server() -> (Server, Api, User) {
    let server = Launch::embedded().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    (server, api, alice)
}

async fn make_link(api: &Api, user: &User, file: &str, options: Value) -> Value {
    let response = api
        .request(Method::POST, &format!("/api/v1/files/{file}/links"), Some(&user.token))
        .json(&options)
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::CREATED).await
}

async fn visit(api: &Api, path: &str) -> Response {
    api.request(Method::GET, path, None).send().await.unwrap()
}

/// What every refusal of a link looks like from outside: 404 and the same code.
async fn expect_link_not_found(response: Response) {
    expect_error(response, StatusCode::NOT_FOUND, "link_not_found").await;
}

fn content(size: usize) -> Vec<u8> {
    drip_testkit::pseudo_random(size, 13)
}

#[tokio::test]
async fn a_public_link_serves_the_file_with_ranges_and_passwords_to_curl_and_browsers() {
    let (server, api, alice) = server().await;
    let data = content(300_000);
    let file = api.upload(&alice, "$/work", "report.pdf", &data).await;
    let id = file["id"].as_str().unwrap();

    // A plain link: anyone downloads, with the authenticated download's headers.
    let link = make_link(&api, &alice, id, json!({})).await;
    let (token, url) = (link["token"].as_str().unwrap(), link["url"].as_str().unwrap());
    assert_eq!(url, format!("/s/{token}"));
    assert_eq!(token.len(), 43);
    let full = visit(&api, &format!("{url}/content")).await;
    assert_eq!(full.status(), StatusCode::OK);
    let etag = full.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&data)));
    assert!(full.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().contains("report.pdf"));
    assert_eq!(full.bytes().await.unwrap(), data);
    let partial = api
        .request(Method::GET, &format!("{url}/content"), None)
        .header(header::RANGE, "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(partial.headers()[header::CONTENT_RANGE], "bytes 100-199/300000");
    assert_eq!(partial.bytes().await.unwrap(), &data[100..200]);
    let page = visit(&api, url).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("report.pdf") && html.contains("/content"), "{html}");

    // A password: HTTP Basic as `curl -u :pw` sends it, or the page's form and its cookie.
    let guarded = make_link(&api, &alice, id, json!({ "password": "open sesame" })).await;
    assert_eq!(guarded["has_password"], true);
    let guarded_url = guarded["url"].as_str().unwrap();
    let challenge = visit(&api, &format!("{guarded_url}/content")).await;
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic"));
    let basic = api
        .request(Method::GET, &format!("{guarded_url}/content"), None)
        .basic_auth("", Some("open sesame"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.bytes().await.unwrap(), data);
    let wrong = api
        .request(Method::GET, &format!("{guarded_url}/content"), None)
        .basic_auth("", Some("open sesamE"))
        .send()
        .await
        .unwrap();
    expect_link_not_found(wrong).await;
    let form_page = visit(&api, guarded_url).await;
    assert_eq!(form_page.status(), StatusCode::UNAUTHORIZED);
    assert!(form_page.text().await.unwrap().contains("type=\"password\""));
    // As a browser posts the form, without following the redirect (to see its cookie).
    let browser =
        reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // A mistyped password gets the form again, saying so (the page has already told that
    // the link exists by asking for its password).
    let mistyped =
        browser.post(server.url(guarded_url)).form(&[("password", "open sesamE")]).send().await.unwrap();
    assert_eq!(mistyped.status(), StatusCode::UNAUTHORIZED);
    let page = mistyped.text().await.unwrap();
    assert!(page.contains("That password is not right") && page.contains("type=\"password\""), "{page}");
    let unlocked =
        browser.post(server.url(guarded_url)).form(&[("password", "open sesame")]).send().await.unwrap();
    assert_eq!(unlocked.status(), StatusCode::SEE_OTHER);
    let cookies = api::set_cookies(&unlocked);
    let cookie = cookies.iter().find(|c| c.starts_with("drip_link=")).expect("a grant cookie").clone();
    assert!(cookie.contains(&format!("Path={guarded_url}")) && cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = api
        .request(Method::GET, &format!("{guarded_url}/content"), None)
        .header(header::COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.bytes().await.unwrap(), data);

    // No token in what the server logged.
    for token in [token, guarded["token"].as_str().unwrap()] {
        assert!(!server.log().contains(token), "a token was logged");
    }
}

#[tokio::test]
async fn every_failure_is_the_same_404_and_the_limits_hold_under_concurrency() {
    // Room for 20 downloads of one owner's file from one address at once (4 and 16 by default).
    let server = Launch::embedded()
        .env("DRIP_LIMITS__MAX_TRANSFERS_PER_USER", "32")
        .env("DRIP_LIMITS__MAX_TRANSFERS_PER_IP", "64")
        .start()
        .await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let file = api.upload(&alice, "$", "a.txt", b"some content").await;
    let id = file["id"].as_str().unwrap();
    let bob = api.register("bob").await;

    let limited = make_link(&api, &alice, id, json!({ "max_downloads": 3 })).await;
    let url = format!("{}/content", limited["url"].as_str().unwrap());
    let attempts = (0..20).map(|_| visit(&api, &url));
    let responses = futures::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = responses.iter().map(Response::status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 3, "{statuses:?}");
    for response in responses.into_iter().filter(|r| r.status() != StatusCode::OK) {
        expect_link_not_found(response).await;
    }
    expect_link_not_found(visit(&api, &url).await).await;

    let links = expect_json(api.get("/api/v1/links", &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(links["links"][0]["downloads"], 3);
    assert!(links["links"][0].get("token").is_none(), "listings never show tokens");

    // Revoked, unknown, malformed: the same answer. Another user cannot revoke or list.
    let revoked = make_link(&api, &alice, id, json!({})).await;
    let revoked_id = revoked["id"].as_str().unwrap();
    let by_bob =
        api.request(Method::DELETE, &format!("/api/v1/links/{revoked_id}"), Some(&bob.token)).send().await;
    expect_error(by_bob.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let by_alice =
        api.request(Method::DELETE, &format!("/api/v1/links/{revoked_id}"), Some(&alice.token)).send().await;
    assert_eq!(by_alice.unwrap().status(), StatusCode::NO_CONTENT);
    let dead = format!("{}/content", revoked["url"].as_str().unwrap());
    for path in [dead.as_str(), "/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/content", "/s/nope/content"] {
        expect_link_not_found(visit(&api, path).await).await;
    }
    let page = visit(&api, revoked["url"].as_str().unwrap()).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);

    // Deleting the file disables its links.
    let alive = make_link(&api, &alice, id, json!({})).await;
    let deleted =
        api.request(Method::DELETE, &format!("/api/v1/files/{id}"), Some(&alice.token)).send().await;
    assert_eq!(deleted.unwrap().status(), StatusCode::NO_CONTENT);
    expect_link_not_found(visit(&api, &format!("{}/content", alive["url"].as_str().unwrap())).await).await;

    // Options out of range are refused; only the creator makes links.
    let other = api.upload(&alice, "$", "b.txt", b"b").await;
    let other_id = other["id"].as_str().unwrap();
    for body in [
        json!({ "max_downloads": 0 }),
        json!({ "expires_at": "2001-01-01T00:00:00Z" }),
        json!({ "password": "short" }),
    ] {
        let response = api
            .request(Method::POST, &format!("/api/v1/files/{other_id}/links"), Some(&alice.token))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let foreign = api
        .request(Method::POST, &format!("/api/v1/files/{other_id}/links"), Some(&bob.token))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(foreign, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn the_creator_hears_of_downloads_when_the_link_asks_for_it() {
    let (_server, api, alice) = server().await;
    let file = api.upload(&alice, "$", "song.mp3", b"la la la").await;
    let id = file["id"].as_str().unwrap();
    let mut events = api.events(&alice, false).await;
    let link = make_link(&api, &alice, id, json!({ "notify": true })).await;
    let fetched = visit(&api, &format!("{}/content", link["url"].as_str().unwrap())).await;
    assert_eq!(fetched.bytes().await.unwrap(), &b"la la la"[..]);
    let event = events.expect("download").await;
    assert_eq!(event["payload"]["message"], "Your link to \"song.mp3\" was downloaded.");
    assert_eq!(event["payload"]["media_id"], id);
    events.close().await;
}

/// A `multipart/form-data` body as a browser sends the drop page's form.
fn form_body(boundary: &str, file_name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

async fn make_drop(api: &Api, user: &User, options: Value) -> Value {
    let response =
        api.request(Method::POST, "/api/v1/drops", Some(&user.token)).json(&options).send().await.unwrap();
    expect_json(response, StatusCode::CREATED).await
}

async fn raw_upload(api: &Api, url: &str, name: &str, data: &[u8]) -> Response {
    api.request(Method::POST, url, None).query(&[("name", name)]).body(data.to_vec()).send().await.unwrap()
}

async fn names_in(api: &Api, user: &User, folder: &str) -> Vec<String> {
    let listing = api.folder(user, folder).await;
    listing["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_drop_takes_files_from_curl_and_the_pages_form_into_the_owners_folder() {
    let (server, api, alice) = server().await;
    api.upload(&alice, "$/inbox", "scan.pdf", b"already there").await;
    let mut events = api.events(&alice, false).await;
    let drop = make_drop(&api, &alice, json!({ "folder": "$/inbox", "max_uploads": 3 })).await;
    let url = drop["url"].as_str().unwrap();

    // The page has a file form and shows nothing of the folder.
    let page = visit(&api, url).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("multipart/form-data") && html.contains("type=\"file\""), "{html}");
    assert!(!html.contains("scan.pdf"), "the page says nothing of what the folder holds");
    assert!(html.contains("src=\"/ui/drop.js\""), "drag and drop comes from this origin's script");
    let script = visit(&api, "/ui/drop.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.text().await.unwrap().contains("dataTransfer"));

    // curl --data-binary @scan.pdf "…?name=scan.pdf": a taken name gets a number.
    let by_curl = raw_upload(&api, url, "scan.pdf", b"from curl").await;
    let answer = expect_json(by_curl, StatusCode::CREATED).await;
    assert_eq!(answer, json!({ "name": "scan.pdf", "size": 9 }), "the uploader learns no stored name or id");
    // The page's form, as a browser posts it.
    let boundary = "----drip-e2e-boundary";
    let by_form = api
        .request(Method::POST, url, None)
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .header(header::ACCEPT, "text/html")
        .body(form_body(boundary, "scan.pdf", b"from the form"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), StatusCode::CREATED);
    assert!(by_form.text().await.unwrap().contains("was received"));
    assert_eq!(names_in(&api, &alice, "$/inbox").await, ["scan (1).pdf", "scan (2).pdf", "scan.pdf"]);
    events.expect("upload").await;
    events.expect("upload").await;
    let files = api.files(&alice).await;
    let from_form = files.iter().find(|f| f["name"] == "scan (2).pdf").unwrap();
    assert_eq!(api.content(&alice, from_form["id"].as_str().unwrap()).await, b"from the form");
    assert_eq!(from_form["creator_id"], alice.id.as_str());

    // The uploader cannot read anything back: the drop's token opens no file, and the
    // third upload used the drop up.
    expect_link_not_found(visit(&api, &format!("/s/{}/content", drop["token"].as_str().unwrap())).await)
        .await;
    assert_eq!(raw_upload(&api, url, "c.txt", b"c").await.status(), StatusCode::CREATED);
    expect_link_not_found(raw_upload(&api, url, "d.txt", b"d").await).await;
    assert!(!server.log().contains(drop["token"].as_str().unwrap()), "a token was logged");
    events.close().await;
}

#[tokio::test]
async fn drop_byte_limits_passwords_and_revocation() {
    let (_server, api, alice) = server().await;
    let drop =
        make_drop(&api, &alice, json!({ "folder": "$/in", "max_bytes": 10, "password": "let me in" })).await;
    let url = drop["url"].as_str().unwrap();
    let challenge = raw_upload(&api, url, "a.txt", b"abc").await;
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    let upload = |name: &'static str, data: &'static [u8]| {
        api.request(Method::POST, url, None)
            .query(&[("name", name)])
            .basic_auth("", Some("let me in"))
            .body(data.to_vec())
            .send()
    };
    expect_error(
        upload("big.txt", b"eleven byte").await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "drop_limit_reached",
    )
    .await;
    assert_eq!(upload("a.txt", b"123456").await.unwrap().status(), StatusCode::CREATED);
    expect_error(
        upload("b.txt", b"12345").await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "drop_limit_reached",
    )
    .await;
    assert_eq!(upload("b.txt", b"1234").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(names_in(&api, &alice, "$/in").await, ["a.txt", "b.txt"]);

    let listed = expect_json(api.get("/api/v1/drops", &alice).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (listed["drops"][0]["uploads"].clone(), listed["drops"][0]["bytes"].clone()),
        (json!(2), json!(10))
    );
    let id = drop["id"].as_str().unwrap();
    let revoked =
        api.request(Method::DELETE, &format!("/api/v1/drops/{id}"), Some(&alice.token)).send().await;
    assert_eq!(revoked.unwrap().status(), StatusCode::NO_CONTENT);
    expect_link_not_found(upload("c.txt", b"").await.unwrap()).await;
}
