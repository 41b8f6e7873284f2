//! The OpenAPI document: it describes exactly the `/api/v1` routes the router serves (and
//! the public link routes, `/s/…` and `/d/…`), and
//! `docs/openapi.json` is what is served (`UPDATE_OPENAPI=1` rewrites it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, body_bytes};

fn docs_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

async fn served() -> String {
    let app = app();
    let response = app.send(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    String::from_utf8(body_bytes(response).await.to_vec()).unwrap()
}

#[tokio::test]
async fn the_document_lists_every_api_v1_and_link_route_and_nothing_else() {
    let document: serde_json::Value = serde_json::from_str(&served().await).unwrap();
    let routed: BTreeSet<(String, String)> = drip_http::documented_routes()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_ascii_lowercase(), path.to_owned()))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    assert_eq!(routed, documented, "router and OpenAPI document drifted apart");
    assert!(routed.len() >= 20);
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

/// Every `"$ref"` string anywhere in `value`.
fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", serde_json::Value::String(target)) => out.push(target.clone()),
                    _ => refs(item, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_resolves() {
    let document: serde_json::Value = serde_json::from_str(&served().await).unwrap();
    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("not a local reference: {target}"));
        assert!(document.pointer(pointer).is_some(), "{target} does not resolve");
    }
}

#[tokio::test]
async fn docs_openapi_json_is_what_is_served() {
    let served = served().await;
    assert_eq!(served, drip_http::openapi_json());
    let path = docs_file();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == served,
        "{} is stale: run `UPDATE_OPENAPI=1 cargo test -p drip-http --test openapi`",
        path.display()
    );
}
