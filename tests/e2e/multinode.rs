//! Several `drip` processes on one PostgreSQL database and one bucket (the GCS double), as
//! a deployment scales out: events and presence reach users on every node, a node killed
//! with `kill -9` leaves the others' presence and `/health`, a job enqueued through one
//! node runs once although every node polls, and a delete or an unshare on one node is
//! honoured by another at once, also for content that node has cached.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Api, User, expect_json, refused};
use crate::harness::{FreshDatabase, Launch, Server};

/// Beats fast, so that a dead node is dropped within a second.
const BEAT_MS: &str = "200";
/// How long the test waits for something the cluster must do (a guard against hanging,
/// not a bound under test: the bounds are checked on virtual time in drip-core's tests).
const PATIENCE: Duration = Duration::from_secs(20);

/// `n` nodes of [`stack`].
async fn nodes(database: &FreshDatabase, gcs: &drip_gcs_double::GcsDouble, n: usize) -> Vec<Server> {
    nodes_of(stack(database, gcs), n).await
}

/// The production stack (the same secrets for every node) with a fast beat and fast job
/// polling.
fn stack(database: &FreshDatabase, gcs: &drip_gcs_double::GcsDouble) -> Launch {
    crate::production(database, gcs)
        .env("DRIP_EVENTS__HEARTBEAT_MS", BEAT_MS)
        .env("DRIP_JOBS__POLL_SECS", "1")
}

/// `n` nodes of `stack` named `node1`…, started one after the other (each migrates first).
async fn nodes_of(stack: Launch, n: usize) -> Vec<Server> {
    let mut servers = Vec::new();
    for i in 1..=n {
        servers.push(stack.clone().env("DRIP_EVENTS__NODE", format!("node{i}")).start().await);
    }
    servers
}

async fn health(api: &Api) -> Value {
    let response = api.request(Method::GET, "/health", None).send().await.expect("health");
    expect_json(response, StatusCode::OK).await
}

/// The peers a node last logged it sees (none before its first such line).
fn logged_peers(lines: &[String]) -> Vec<String> {
    let Some(line) = lines.iter().rev().find(|l| l.contains("the nodes this node sees changed")) else {
        return Vec::new();
    };
    let list = line.split("peers=").nth(1).unwrap_or_default().split_whitespace().next().unwrap_or_default();
    list.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

/// Waits until the peers `server` logs it sees satisfy `done`, then checks its `/health`
/// says the same.
async fn until_peers(server: &Server, done: impl Fn(&[String]) -> bool) -> Value {
    server.wait_for_log("the peers it sees", PATIENCE, |lines| done(&logged_peers(lines))).await;
    let body = health(&Api::new(server)).await;
    let peers: Vec<String> = body["connected_to"]
        .as_array()
        .expect("connected_to is a list")
        .iter()
        .map(|p| p.as_str().expect("a node name").to_owned())
        .collect();
    assert!(done(&peers), "/health disagrees with the log: {body}");
    body
}

async fn share(api: &Api, owner: &User, id: &str, with: &str) {
    let response = api
        .request(Method::POST, &format!("/api/v1/files/{id}/shares"), Some(&owner.token))
        .json(&json!({ "username": with }))
        .send()
        .await
        .expect("share");
    expect_json(response, StatusCode::CREATED).await;
}

/// A user on node 1 receives the `share` event of a share made through node 2 and the
/// `upload` event of an upload through node 3, each once; another user on node 1 gets
/// neither; presence on node 1 counts connections on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_presence_reach_every_node() {
    let Some((database, gcs)) = crate::production_services().await else { return };
    let servers = nodes(&database, &gcs, 3).await;
    let apis: Vec<Api> = servers.iter().map(Api::new).collect();
    let alice = apis[0].register("alice").await;
    let bob = apis[1].register("bob").await;
    let carol = apis[2].register("carol").await;

    let mut alice_on_1 = apis[0].events(&alice, true).await;
    let mut carol_on_1 = apis[0].events(&carol, false).await;
    let bob_on_2 = [apis[1].events(&bob, true).await, apis[1].events(&bob, false).await];
    alice_on_1.until_online("bob", 2).await;
    alice_on_1.until_online("carol", 1).await;
    let mut alice_on_3 = apis[2].events(&alice, true).await;
    alice_on_1.until_online("alice", 2).await;
    alice_on_3.until_online("bob", 2).await;

    let file = apis[1].upload(&bob, "$", "report.txt", b"bob's report").await;
    let id = file["id"].as_str().expect("an id").to_owned();
    share(&apis[1], &bob, &id, "alice").await;
    for connection in [&mut alice_on_1, &mut alice_on_3] {
        let received = connection.expect("share").await;
        assert_eq!(received["payload"]["message"], "bob has just shared a file with you!");
        assert_eq!(received["payload"]["media_id"], id.as_str());
    }
    apis[2].upload(&alice, "$", "notes.txt", b"alice's notes").await;
    for connection in [&mut alice_on_1, &mut alice_on_3] {
        let uploaded = connection.expect("upload").await;
        assert_eq!(uploaded["payload"]["message"], "The file \"notes.txt\" was successfully uploaded.");
    }
    // Once each: the next event on both connections is the one after.
    apis[0].upload(&alice, "$", "marker.txt", b"m").await;
    for connection in [&mut alice_on_1, &mut alice_on_3] {
        let next = connection.expect_next().await;
        assert_eq!(next["event"], "upload", "{next}");
        assert_eq!(
            next["payload"]["message"], "The file \"marker.txt\" was successfully uploaded.",
            "{next}"
        );
    }
    // Carol heard none of it: her first event is her own.
    apis[1].upload(&carol, "$", "carol.txt", b"c").await;
    let first = carol_on_1.expect_next().await;
    assert_eq!(first["payload"]["message"], "The file \"carol.txt\" was successfully uploaded.", "{first}");

    // Bob leaves node 2; node 1 sees his count drop to zero.
    for connection in bob_on_2 {
        connection.close().await;
    }
    alice_on_1.until_online("bob", 0).await;
    drop(servers);
    drop(database);
}

/// `kill -9` of node 2: its users leave node 1's presence, and node 1's `/health` stops
/// listing it, within a few beats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_presence_and_health() {
    let Some((database, gcs)) = crate::production_services().await else { return };
    let mut servers = nodes(&database, &gcs, 2).await;
    let apis: Vec<Api> = servers.iter().map(Api::new).collect();
    let alice = apis[0].register("alice").await;
    let bob = apis[1].register("bob").await;
    let mut alice_on_1 = apis[0].events(&alice, true).await;
    let _bob_on_2 = apis[1].events(&bob, true).await;
    alice_on_1.until_online("bob", 1).await;
    let body = until_peers(&servers[0], |peers| peers == ["node2"]).await;
    assert_eq!(body["node"], "node1", "{body}");
    assert!(body["hostname"].as_str().is_some_and(|h| !h.is_empty()), "{body}");
    until_peers(&servers[1], |peers| peers == ["node1"]).await;

    servers[1].kill();
    alice_on_1.until_online("bob", 0).await;
    until_peers(&servers[0], <[String]>::is_empty).await;
    let ready = apis[0].request(Method::GET, "/ready", None).send().await.expect("ready");
    let ready = expect_json(ready, StatusCode::OK).await;
    assert_eq!(ready["checks"]["events"], "ok", "{ready}");
    drop(servers);
    drop(database);
}

/// Deletes through node 1 enqueue one object removal each; all three nodes poll the
/// queue, and each removal runs exactly once: one success logged across the nodes, one
/// delete request for its object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_enqueued_through_one_node_runs_once() {
    const FILES: usize = 12;
    let Some((database, gcs)) = crate::production_services().await else { return };
    let servers = nodes(&database, &gcs, 3).await;
    let api = Api::new(&servers[0]);
    let alice = api.register("alice").await;
    let mut ids = Vec::new();
    for n in 0..FILES {
        let file = api.upload(&alice, "$", &format!("f{n}.txt"), format!("content {n}").as_bytes()).await;
        ids.push(file["id"].as_str().expect("an id").to_owned());
    }
    let objects: Vec<String> = ids
        .iter()
        .map(|id| {
            gcs.object_names().into_iter().find(|o| o.contains(id.as_str())).expect("the file's object")
        })
        .collect();
    for id in &ids {
        let response = api
            .request(Method::DELETE, &format!("/api/v1/files/{id}?permanent=true"), Some(&alice.token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let succeeded = |id: &str| servers.iter().map(|s| s.logged(&["a job succeeded", id])).sum::<usize>();
    Server::wait_for_any_log(&servers, "every removal's success", PATIENCE, || {
        ids.iter().all(|id| succeeded(id) > 0)
    })
    .await;
    let deletes = gcs.requests();
    for (id, object) in ids.iter().zip(&objects) {
        assert_eq!(succeeded(id), 1, "the removal of {id} succeeded once across the nodes");
        assert!(gcs.object(object).is_none(), "{object} is gone");
        let sent = deletes
            .iter()
            .filter(|r| {
                r.operation == drip_gcs_double::Operation::DeleteObject && r.target.contains(id.as_str())
            })
            .count();
        assert_eq!(sent, 1, "one delete request for {object}");
    }
    let ran_on: Vec<usize> = servers.iter().map(|s| s.logged(&["a job succeeded"])).collect();
    assert_eq!(ran_on.iter().sum::<usize>(), FILES, "{ran_on:?}");
    drop(servers);
    drop(database);
}

/// Content node 2 has cached stops being served by node 2 the moment node 1 unshares or
/// deletes it: visibility is read from the database on every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_or_unshare_on_one_node_is_honoured_on_another_at_once() {
    let Some((database, gcs)) = crate::production_services().await else { return };
    let servers = nodes(&database, &gcs, 2).await;
    let (one, two) = (Api::new(&servers[0]), Api::new(&servers[1]));
    let alice = one.register("alice").await;
    let bob = one.register("bob").await;
    let content = b"cached on node two";
    let file = one.upload(&alice, "$", "cached.txt", content).await;
    let id = file["id"].as_str().expect("an id").to_owned();
    share(&one, &alice, &id, "bob").await;
    // Node 2 serves (and caches) it for both; the second read is a cache hit.
    for _ in 0..2 {
        assert_eq!(two.content(&alice, &id).await, content);
        assert_eq!(two.content(&bob, &id).await, content);
    }
    assert!(
        two.metrics().await.lines().any(|l| l.starts_with("drip_cache_hits")
            && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v > 0.0)),
        "node 2 served from its cache"
    );

    let unshare = one
        .request(Method::DELETE, &format!("/api/v1/files/{id}/shares/bob"), Some(&alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(unshare.status(), StatusCode::NO_CONTENT);
    refused(two.get(&format!("/api/v1/files/{id}/content"), &bob), StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(two.content(&alice, &id).await, content, "the owner still reads it");

    let delete =
        one.request(Method::DELETE, &format!("/api/v1/files/{id}"), Some(&alice.token)).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    refused(two.get(&format!("/api/v1/files/{id}/content"), &alice), StatusCode::NOT_FOUND, "not_found")
        .await;
    refused(two.get(&format!("/api/v1/files/{id}"), &alice), StatusCode::NOT_FOUND, "not_found").await;
    assert!(two.files(&alice).await.is_empty(), "node 2 lists nothing");
    drop(servers);
    drop(database);
}

/// A logout through node 1 closes the session's event connection on node 2 at once
/// (4001), long before node 2's own token check would (its heartbeat is an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_node_closes_the_sessions_connections_on_another() {
    let Some((database, gcs)) = crate::production_services().await else { return };
    let servers = nodes_of(stack(&database, &gcs).env("DRIP_HTTP__WS_HEARTBEAT_SECS", "3600"), 2).await;
    let (one, two) = (Api::new(&servers[0]), Api::new(&servers[1]));
    let alice = one.register("alice").await;
    let bob = one.register("bob").await;
    let mut bob_on_2 = two.events(&bob, true).await;
    let alice_on_2 = two.events(&alice, true).await;
    // Both nodes listen: node 1 lists node 2 as a peer.
    bob_on_2.until_online("alice", 1).await;
    until_peers(&servers[0], |peers| peers == ["node2"]).await;
    let logout = one
        .request(Method::DELETE, "/api/v1/sessions", Some(&alice.token))
        .json(&json!({ "refresh_token": alice.refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(alice_on_2.closed_by_server(PATIENCE).await, Some(4001));
    refused(two.get("/api/v1/me", &alice), StatusCode::UNAUTHORIZED, "invalid_token").await;
    bob_on_2.until_online("alice", 0).await;
    drop(servers);
    drop(database);
}

/// The database ends the nodes' listening sessions (a failover, an administrator): node
/// 1's `/ready` says `events` failed while its listener is down, its supervisor connects a
/// new one, `/ready` recovers, and events from node 2 reach node 1 again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_shows_in_ready_and_reconnects() {
    use sqlx::Connection as _;
    let Some((database, gcs)) = crate::production_services().await else { return };
    let servers = nodes(&database, &gcs, 2).await;
    let (one, two) = (Api::new(&servers[0]), Api::new(&servers[1]));
    let alice = one.register("alice").await;
    let bob = one.register("bob").await;
    until_peers(&servers[0], |peers| peers == ["node2"]).await;
    let mut admin = sqlx::PgConnection::connect(database.url()).await.expect("a connection to the database");
    let ready = |api: &Api| {
        let request = api.request(Method::GET, "/ready", None);
        async move {
            let response = request.send().await.expect("ready");
            let status = response.status();
            (status, response.json::<Value>().await.expect("a JSON readiness report"))
        }
    };
    // Each new listener is cut again until node 1 is caught without one (each round is a
    // database round trip and a request: no pause is needed).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'",
        )
        .execute(&mut admin)
        .await
        .expect("ending the listening sessions");
        let (status, report) = ready(&one).await;
        if report["checks"]["events"] == "failed" {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{report}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the lost listener never showed: {report}");
    }
    // Left alone, it reconnects (and a new listener logs that it listens): look again
    // after each line the node logs.
    loop {
        let lines = servers[0].logged(&[]);
        let (status, report) = ready(&one).await;
        if status == StatusCode::OK {
            assert_eq!(report["checks"]["events"], "ok", "{report}");
            break;
        }
        servers[0].wait_for_log("the listener back", PATIENCE, |logged| logged.len() > lines).await;
    }
    assert!(
        servers[0].logged(&["events", "restart"]) >= 1,
        "the supervisor restarted it: {}",
        servers[0].log()
    );
    let mut alice_on_1 = one.events(&alice, true).await;
    let file = two.upload(&bob, "$", "after.txt", b"after the failover").await;
    share(&two, &bob, file["id"].as_str().expect("an id"), "alice").await;
    let received = alice_on_1.expect("share").await;
    assert_eq!(received["payload"]["message"], "bob has just shared a file with you!");
    let _ = admin.close().await;
    drop(servers);
    drop(database);
}
