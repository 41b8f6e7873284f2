//! Share, search and ranking routes of `/api/v1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use axum::http::{Method, StatusCode};
use common::{app_with_users, code};
use serde_json::json;

#[tokio::test]
async fn shares_are_created_listed_and_withdrawn() {
    let (app, [alice, bob, _carol]) = app_with_users(["alice", "bob", "carol"]).await;
    let id = app.upload_ok(&alice, "$", "a.txt", b"hello").await;
    let shares = format!("/api/v1/files/{id}/shares");

    let (status, share) = app.share(&alice, &id, "bob").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(share["username"], "bob");
    assert_eq!(share["shared_at"], "2024-01-01T00:00:00Z");

    let (status, body) = app.get(&format!("/api/v1/files/{id}"), &bob).await;
    assert_eq!((status, body["name"].as_str()), (StatusCode::OK, Some("a.txt")), "the sharee sees it");

    let (status, list) = app.get(&shares, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["shares"].as_array().unwrap().len(), 1);
    assert_eq!(list["shares"][0]["username"], "bob");

    for (username, expected_status, expected_code) in [
        ("bob", StatusCode::CONFLICT, "already_shared"),
        ("nobody", StatusCode::NOT_FOUND, "user_not_found"),
        ("not a name!", StatusCode::NOT_FOUND, "user_not_found"),
        ("alice", StatusCode::BAD_REQUEST, "self_share"),
    ] {
        let (status, body) = app.share(&alice, &id, username).await;
        assert_eq!((status, code(&body)), (expected_status, expected_code), "{username}");
    }
    let (status, body) = app.share(&bob, &id, "carol").await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = app.get(&shares, &bob).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));

    let (status, body) = app.call(Method::DELETE, &format!("{shares}/carol"), Some(&alice), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_shared"));
    let (status, _) = app.call(Method::DELETE, &format!("{shares}/bob"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/api/v1/files/{id}"), &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "withdrawn");
}

#[tokio::test]
async fn share_partners_are_those_one_shares_with_both_ways_and_no_one_else() {
    let (app, [alice, bob, carol, _dave]) = app_with_users(["alice", "bob", "carol", "dave"]).await;
    let (status, body) = app.get("/api/v1/me/share-partners", &alice).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"users": []})), "dave is never suggested");

    let mine = app.upload_ok(&alice, "$", "a.txt", b"hello").await;
    let carols = app.upload_ok(&carol, "$", "c.txt", b"hi").await;
    assert_eq!(app.share(&alice, &mine, "bob").await.0, StatusCode::CREATED);
    assert_eq!(app.share(&carol, &carols, "alice").await.0, StatusCode::CREATED);
    let (status, body) = app.get("/api/v1/me/share-partners", &alice).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = body["users"].as_array().unwrap().iter().map(|u| u["username"].clone()).collect();
    assert_eq!(names, [json!("bob"), json!("carol")], "the fakes' clock stands still: by username");
    assert_eq!(body["users"][0]["user_id"].as_str().map(str::len), Some(27), "a KSUID");
    let (_, body) = app.get("/api/v1/me/share-partners", &bob).await;
    assert_eq!(body["users"][0]["username"], "alice", "the sharee sees the sharer");
    assert_eq!(body["users"].as_array().unwrap().len(), 1);

    let (status, body) = app.call(Method::GET, "/api/v1/me/share-partners", None, None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
}

#[tokio::test]
async fn search_finds_lines_in_visible_files() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    app.upload_ok(&alice, "$/notes", "todo.txt", b"buy milk\ncall bob\nmilk again\n").await;
    app.upload_ok(&alice, "$", "other.txt", b"no match here\n").await;
    app.upload_ok(&bob, "$", "bobs.txt", b"milk of bob\n").await;

    let (status, found) = app.get("/api/v1/search?q=milk", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["matches"].as_array().unwrap().len(), 1, "only alice's files: {found}");
    assert_eq!(found["matches"][0]["file"]["name"], "todo.txt");
    assert_eq!(
        found["matches"][0]["lines"],
        json!([{"line_no": 1, "line": "buy milk"}, {"line_no": 3, "line": "milk again"}])
    );
    assert_eq!(found["timed_out"], json!([]));

    let (_, found) = app.get("/api/v1/search?q=match&folder=%24%2Fnotes", &alice).await;
    assert_eq!(found["matches"], json!([]));

    let (status, body) = app.get("/api/v1/search?q=(unclosed", &alice).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_pattern"));
    let (status, body) = app.get(&format!("/api/v1/search?q={}", "a".repeat(2000)), &alice).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "pattern_too_large"));
    let (status, body) = app.get("/api/v1/search", &alice).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_query"));
}

#[tokio::test]
async fn a_name_search_finds_visible_files_by_part_of_their_name() {
    let (app, [alice, bob]) = app_with_users(["alice", "bob"]).await;
    app.upload_ok(&alice, "$/notes", "Budget 2026.ods", b"1").await;
    app.upload_ok(&alice, "$", "other.txt", b"2").await;
    let shared = app.upload_ok(&bob, "$/team", "budget-plan.txt", b"3").await;
    assert_eq!(app.share(&bob, &shared, "alice").await.0, StatusCode::CREATED);
    app.upload_ok(&bob, "$", "budget-secret.txt", b"4").await;

    let (status, found) = app.get("/api/v1/search/names?q=BUDGET", &alice).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let hits: Vec<(&str, &str, Option<&str>)> = found["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["folder"].as_str().unwrap(), f["name"].as_str().unwrap(), f["shared_by"].as_str()))
        .collect();
    assert_eq!(hits, vec![("$/notes", "Budget 2026.ods", None), ("$/team", "budget-plan.txt", Some("bob"))]);
    assert_eq!(found["truncated"], false);
    let (_, found) = app.get("/api/v1/search/names?q=budget&folder=%24%2Fteam", &alice).await;
    assert_eq!(found["files"].as_array().unwrap().len(), 1, "{found}");
    for uri in ["/api/v1/search/names", "/api/v1/search/names?q="] {
        let (status, body) = app.get(uri, &alice).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_query"), "{uri}");
    }
    let (status, body) = app.get("/api/v1/search/names?q=a&folder=x", &alice).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_path"));
}

#[tokio::test]
async fn the_sharing_overview_lists_what_one_shares_and_what_is_shared_with_one() {
    let (app, [alice, bob, carol]) = app_with_users(["alice", "bob", "carol"]).await;
    let plan = app.upload_ok(&alice, "$/trip", "plan.txt", b"plan").await;
    let notes = app.upload_ok(&alice, "$", "notes.txt", b"notes").await;
    app.upload_ok(&alice, "$", "private.txt", b"mine").await;
    for (id, with) in [(&plan, "bob"), (&plan, "carol"), (&notes, "bob")] {
        assert_eq!(app.share(&alice, id, with).await.0, StatusCode::CREATED);
    }
    let bobs = app.upload_ok(&bob, "$", "bob.txt", b"bob").await;
    assert_eq!(app.share(&bob, &bobs, "alice").await.0, StatusCode::CREATED);

    let (status, overview) = app.get("/api/v1/me/shares", &alice).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let outgoing: Vec<(&str, Vec<&str>)> = overview["outgoing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["file"]["name"].as_str().unwrap(),
                o["with"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(outgoing.len(), 2, "{overview}");
    assert_eq!(outgoing[0], ("notes.txt", vec!["bob"]));
    let mut plan_with = outgoing[1].1.clone();
    plan_with.sort_unstable();
    assert_eq!((outgoing[1].0, plan_with), ("plan.txt", vec!["bob", "carol"]));
    assert_eq!(overview["incoming"][0]["file"]["name"], "bob.txt");
    assert_eq!(overview["incoming"][0]["by"], "bob");
    assert_eq!(overview["incoming"][0]["file"]["shared_by"], "bob");
    assert_eq!(overview["truncated"], false);

    let (_, carols) = app.get("/api/v1/me/shares", &carol).await;
    assert_eq!(carols["outgoing"], json!([]));
    assert_eq!(carols["incoming"].as_array().unwrap().len(), 1);
    let (status, _) =
        app.call(axum::http::Method::DELETE, &format!("/api/v1/files/{plan}"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, carols) = app.get("/api/v1/me/shares", &carol).await;
    assert_eq!(carols["incoming"], json!([]), "a trashed file is shared no more");
}

#[tokio::test]
async fn top_users_rank_by_usage() {
    let (app, [alice, bob, _carol]) = app_with_users(["alice", "bob", "carol"]).await;
    app.upload_ok(&alice, "$", "a.txt", b"1").await;
    app.upload_ok(&alice, "$", "b.txt", b"1").await;
    app.upload_ok(&bob, "$", "c.txt", b"123456").await;

    let (status, top) = app.get("/api/v1/users/top", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        top["users"],
        json!([
            {"username": "alice", "media_count": 2, "disk_usage": 2},
            {"username": "bob", "media_count": 1, "disk_usage": 6},
            {"username": "carol", "media_count": 0, "disk_usage": 0},
        ])
    );
    let (_, top) = app.get("/api/v1/users/top?sort=disk_usage&order=desc&limit=1", &alice).await;
    assert_eq!(top["users"], json!([{"username": "bob", "media_count": 1, "disk_usage": 6}]));
    let (_, top) = app.get("/api/v1/users/top?sort=username&order=asc&limit=2", &alice).await;
    assert_eq!(top["users"][1]["username"], "bob");

    let (status, body) = app.get("/api/v1/users/top?sort=password", &alice).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_sort"));
    let (status, body) = app.get("/api/v1/users/top?order=sideways", &alice).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_order"));
    // `limit` is 1 to 100, as documented (it used to be clamped).
    let (status, _) = app.get("/api/v1/users/top?limit=100", &alice).await;
    assert_eq!(status, StatusCode::OK);
    for limit in ["0", "101", "2147483648"] {
        let (status, body) = app.get(&format!("/api/v1/users/top?limit={limit}"), &alice).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_query"), "limit={limit}");
    }
    let (status, _) = app.call(Method::GET, "/api/v1/users/top", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The squatting attack: alice shares files at bob's paths, before and after he uploads
/// there. Bob's names stay his own, listings say who shared what, and bob can leave a share.
#[tokio::test]
async fn shares_never_squat_the_sharees_names_and_a_sharee_can_leave() {
    let (app, [alice, bob, carol]) = app_with_users(["alice", "bob", "carol"]).await;
    let hers = app.upload_ok(&alice, "$/docs", "report.pdf", b"alice's").await;
    assert_eq!(app.share(&alice, &hers, "bob").await.0, StatusCode::CREATED);
    app.share(&alice, &hers, "carol").await;
    let planted = app.upload_ok(&alice, "$/future", "plan.txt", b"squat").await;
    app.share(&alice, &planted, "bob").await;

    let his = app.upload_ok(&bob, "$/docs", "report.pdf", b"bob's").await;
    app.upload_ok(&bob, "$/future", "plan.txt", b"his own plan").await;
    let (status, listing) = app.get("/api/v1/folders?path=%24%2Fdocs", &bob).await;
    assert_eq!(status, StatusCode::OK);
    let files = listing["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{listing}");
    let by_id = |id: &str| files.iter().find(|f| f["id"] == id).unwrap().clone();
    assert_eq!(by_id(&hers)["shared_by"], "alice");
    assert!(by_id(&his).get("shared_by").is_none(), "his own file names no sharer");
    let (_, info) = app.get(&format!("/api/v1/files/{hers}"), &bob).await;
    assert_eq!(info["shared_by"], "alice");
    let (_, all) = app.get("/api/v1/files", &bob).await;
    assert!(all["items"].as_array().unwrap().iter().any(|f| f["shared_by"] == "alice"), "{all}");

    // He renames his away and back.
    let rename = |name: &str| json!({ "name": name });
    let uri = format!("/api/v1/files/{his}");
    assert_eq!(app.call(Method::PATCH, &uri, Some(&bob), Some(rename("mine.pdf"))).await.0, StatusCode::OK);
    assert_eq!(app.call(Method::PATCH, &uri, Some(&bob), Some(rename("report.pdf"))).await.0, StatusCode::OK);

    // A sharee leaves their own share only.
    let shares = format!("/api/v1/files/{hers}/shares");
    let (status, body) = app.call(Method::DELETE, &format!("{shares}/carol"), Some(&bob), None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "not carol's share to drop");
    let (status, _) = app.call(Method::DELETE, &format!("{shares}/bob"), Some(&bob), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/v1/files/{hers}"), &bob).await.0, StatusCode::NOT_FOUND);
    let (_, list) = app.get(&shares, &alice).await;
    let left: Vec<&str> =
        list["shares"].as_array().unwrap().iter().map(|s| s["username"].as_str().unwrap()).collect();
    assert_eq!(left, ["carol"]);
    assert_eq!(app.get(&format!("/api/v1/files/{hers}"), &carol).await.0, StatusCode::OK, "carol keeps hers");
}
