//! The web UI: the page at `/` and its script and style under `/ui/`, served without
//! authentication, with their types, `no-cache` and a strict Content-Security-Policy; the
//! page loads nothing from another origin and nothing inline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use common::{app, body_bytes, body_json, code};

/// The directives the UI's policy must hold, each exactly.
const REQUIRED_CSP: [&str; 5] = [
    "default-src 'self'",
    "connect-src 'self' ws: wss:",
    "img-src 'self' data:",
    "style-src 'self'",
    "script-src 'self'",
];

async fn fetch(method: Method, uri: &str) -> Response<Body> {
    app().send(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()).await
}

/// Status, headers checked for the UI's policy, and the body as text.
async fn asset(uri: &str, content_type: &str) -> String {
    let response = fetch(Method::GET, uri).await;
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let headers = response.headers();
    assert_eq!(headers[header::CONTENT_TYPE], content_type, "{uri}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{uri}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for required in REQUIRED_CSP {
        assert!(directives.contains(&required), "{uri}: `{required}` missing from `{policy}`");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
    let text = String::from_utf8(body_bytes(response).await.to_vec()).unwrap();
    assert!(!text.trim().is_empty(), "{uri} is empty");
    text
}

async fn page() -> String {
    asset("/", "text/html; charset=utf-8").await
}

async fn script() -> String {
    asset("/ui/app.js", "text/javascript; charset=utf-8").await
}

/// The values of every `name="..."` attribute in `html`.
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!("{name}=\"");
    let mut values = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&needle) {
        let preceded_by_space = rest[..at].chars().next_back().is_some_and(char::is_whitespace);
        let after = &rest[at + needle.len()..];
        let end = after.find('"').expect("an unterminated attribute");
        if preceded_by_space {
            values.push(&after[..end]);
        }
        rest = &after[end..];
    }
    values
}

/// Inline event-handler attributes (` onclick=`...), which the policy would block.
fn inline_handlers(html: &str) -> Vec<String> {
    let bytes = html.as_bytes();
    let mut found = Vec::new();
    for (i, window) in bytes.windows(3).enumerate() {
        if window[0].is_ascii_whitespace() && &window[1..] == b"on" {
            let name: String = html[i + 1..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect::<String>()
                .to_lowercase();
            if name.len() > 2 && html[i + 1 + name.len()..].starts_with('=') {
                found.push(name);
            }
        }
    }
    found
}

#[tokio::test]
async fn the_page_is_served_at_the_root_without_authentication() {
    let html = page().await;
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("id=\"app\""), "the app's root element is missing");
    for part in ["id=\"login-form\"", "id=\"signup-form\"", "id=\"files-view\"", "id=\"online\""] {
        assert!(html.contains(part), "{part} missing");
    }
    assert!(html.contains("This folder is empty!"));
    // The folder is the script's business: any `?path=` gets the same page.
    let response = fetch(Method::GET, "/?path=$/docs").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(String::from_utf8(body_bytes(response).await.to_vec()).unwrap(), html);
}

#[tokio::test]
async fn script_and_style_are_served_with_their_types() {
    let js = script().await;
    assert!(js.contains("/api/v1/sessions"));
    let css = asset("/ui/app.css", "text/css; charset=utf-8").await;
    assert!(css.contains("[hidden]"));
    let head = fetch(Method::HEAD, "/ui/app.js").await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
}

#[tokio::test]
async fn the_icon_is_served_where_browsers_look_for_it() {
    for uri in ["/ui/icon.svg", "/favicon.ico"] {
        let icon = asset(uri, "image/svg+xml").await;
        assert!(icon.starts_with("<svg") && icon.contains("<title>Drip</title>"), "{uri}");
    }
    assert!(page().await.contains(r#"<link rel="icon" href="/ui/icon.svg" type="image/svg+xml">"#));
}

#[tokio::test]
async fn unknown_ui_paths_are_not_found() {
    for uri in ["/ui/x", "/ui/", "/ui", "/ui/app.js.map", "/ui/../Cargo.toml", "/index.html"] {
        let response = fetch(Method::GET, uri).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(code(&body_json(response).await), "not_found", "{uri}");
    }
    let response = fetch(Method::POST, "/").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_page_loads_only_same_origin_assets_and_nothing_inline() {
    let html = page().await;
    let mut urls = attribute_values(&html, "src");
    urls.extend(attribute_values(&html, "href"));
    assert!(urls.contains(&"/ui/app.js") && urls.contains(&"/ui/app.css"), "{urls:?}");
    for url in &urls {
        // A fragment (the skip link's `#folder-nav`) loads nothing: it stays in the page.
        let in_page = url.starts_with('#') && url.len() > 1;
        assert!(
            in_page || (url.starts_with('/') && !url.starts_with("//")),
            "`{url}` is not a same-origin path"
        );
    }
    // Every script is a file: the policy allows no inline code.
    for tag in html.split("<script").skip(1) {
        let open_end = tag.find('>').unwrap();
        assert!(tag[..open_end].contains("src=\""), "an inline script: <script{}", &tag[..open_end]);
        assert!(tag[open_end + 1..].starts_with("</script>"), "a script element with content");
    }
    assert!(!html.contains("<style") && !html.contains(" style="), "inline style");
    assert_eq!(inline_handlers(&html), Vec::<String>::new(), "inline event handlers");
    let css = asset("/ui/app.css", "text/css; charset=utf-8").await;
    assert!(!css.contains("@import") && !css.contains("url("), "the style sheet loads other files");
    let js = script().await;
    assert!(!js.contains("http://") && !js.contains("https://"), "the script names another origin");
}

#[tokio::test]
async fn the_script_never_turns_strings_into_markup_or_code_and_keeps_no_credential_in_local_storage() {
    let js = script().await;
    for banned in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"]
    {
        assert!(!js.contains(banned), "app.js uses {banned}");
    }
    assert!(js.contains("sessionStorage"));
    // The session lives in sessionStorage only: local storage holds nothing but the
    // addresses of unfinished resumable uploads, under their own keys.
    let uses: Vec<&str> = js.lines().filter(|line| line.contains("localStorage")).collect();
    assert_eq!(uses.len(), 4, "list, get, set and remove of upload addresses: {uses:#?}");
    let allowed = [
        "localStorage.setItem(uploadMemoryKey(item), item.upload)",
        "localStorage.getItem(key)",
        "localStorage.removeItem(key)",
        "Object.keys(localStorage).filter((key) => key.startsWith(UPLOAD_MEMORY_PREFIX))",
    ];
    for line in uses {
        assert!(allowed.iter().any(|use_| line.contains(use_)), "{line}");
    }
    assert!(js.contains("return `${UPLOAD_MEMORY_PREFIX}${JSON.stringify(["), "the keys of upload addresses");
    assert!(js.contains("const UPLOAD_MEMORY_PREFIX = 'drip.upload:';"));
}

#[tokio::test]
async fn the_ui_is_not_part_of_api_v1() {
    for (_, path) in drip_http::api_v1_routes() {
        assert!(path.starts_with("/api/v1/"), "{path}");
    }
}

#[tokio::test]
async fn the_script_parses_as_an_es_module() {
    let js = script().await;
    let dir = std::env::temp_dir().join(format!("drip-http-ui-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.mjs");
    std::fs::write(&file, js).unwrap();
    let outcome = std::process::Command::new("node").arg("--check").arg(&file).output();
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => eprintln!("node is not on PATH: not checked"),
        Err(e) => panic!("running node failed: {e}"),
        Ok(output) => {
            assert!(output.status.success(), "node --check: {}", String::from_utf8_lossy(&output.stderr));
        }
    }
}
