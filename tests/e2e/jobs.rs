//! Operating the durable jobs of the real binary: on PostgreSQL and the GCS double with
//! fault injection, an object deletion that fails while the store refuses it is retried
//! (seen in `/metrics` and `drip jobs list`) until the store is back; a job dead after its
//! last attempt is listed and queued again by `drip jobs retry`, which refuses ids of no
//! dead job; and `drip jobs` on an empty embedded queue.

use std::process::Output;
use std::time::Duration;

use drip_gcs_double::{Fault, GcsDouble, Operation};
use reqwest::{Method, StatusCode};

use crate::api::Api;
use crate::harness::{Launch, Server};
use crate::ops::{run_drip, text};

/// The store refuses deletes with a status the client does not retry itself (it retries
/// 5xx for up to 3 minutes within one attempt): each attempt of the job fails at once, as
/// one would once an outage outlasts the client's retries.
const REFUSED: u16 = 403;

/// The production stack with retries a test can wait for: 200 ms, then 400 ms..., each
/// taken up within the runner's 1 s poll.
fn quick_jobs(database: &crate::harness::FreshDatabase, gcs: &GcsDouble) -> Launch {
    crate::production(database, gcs).env("DRIP_JOBS__BACKOFF_BASE_MS", "200").env("DRIP_JOBS__POLL_SECS", "1")
}

/// `drip jobs <args>` against the stack `launch` describes, off the runtime's threads (the
/// GCS double is served on them).
async fn drip_jobs(launch: &Launch, args: &[&str]) -> Output {
    let vars: Vec<(String, String)> =
        launch.vars().into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let args: Vec<String> = ["jobs"].iter().chain(args).map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_drip(dir.path(), &args, &vars, "")
    })
    .await
    .expect("running drip jobs")
}

/// `drip jobs <args>`'s standard output, which must have succeeded.
async fn drip_jobs_ok(launch: &Launch, args: &[&str]) -> String {
    let output = drip_jobs(launch, args).await;
    assert!(output.status.success(), "drip jobs {args:?}: {}", text(&output.stderr));
    text(&output.stdout)
}

/// `drip jobs <args>`'s standard error, which must have failed without a panic.
async fn drip_jobs_refused(launch: &Launch, args: &[&str]) -> String {
    let output = drip_jobs(launch, args).await;
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "drip jobs {args:?} succeeded: {}", text(&output.stdout));
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// The value of `series` (name and labels, as written) in a scrape; 0 when absent.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

/// `drip_jobs{kind="delete_object",state=...}` in a scrape.
fn deletions(metrics: &str, state: &str) -> f64 {
    sample(metrics, &format!("drip_jobs{{kind=\"delete_object\",state=\"{state}\"}}"))
}

/// `drip_job_attempts_total{kind="delete_object",outcome=...}` in a scrape.
fn deletion_attempts(metrics: &str, outcome: &str) -> f64 {
    sample(metrics, &format!("drip_job_attempts_total{{kind=\"delete_object\",outcome=\"{outcome}\"}}"))
}

/// A deletion under way while the store refuses it.
struct RefusedDeletion {
    /// The server (stopped when this is dropped).
    server: Server,
    api: Api,
    /// The deleted file's id.
    id: String,
    /// The name of its object in the double.
    object: String,
}

/// Starts `launch`, uploads a file, makes the double refuse deletes and deletes the file:
/// answered 204, and at once out of the listing.
async fn delete_while_refused(launch: &Launch, gcs: &GcsDouble) -> RefusedDeletion {
    let server = launch.clone().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let file = api.upload(&alice, "$", "doomed.txt", b"deleted while the store refuses").await;
    let id = file["id"].as_str().expect("id").to_owned();
    let object = gcs.object_names().into_iter().find(|n| n.contains(&id)).expect("the file's object");

    gcs.inject(Fault::always(REFUSED).on(Operation::DeleteObject));
    let response = api
        .request(Method::DELETE, &format!("/api/v1/files/{id}?permanent=true"), Some(&alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(api.files(&alice).await.is_empty(), "the deleted file is no longer listed");
    RefusedDeletion { server, api, id, object }
}

/// Waits until the deletion job of file `id` succeeded; then `object` is gone from the
/// double and no deletion job is left.
async fn removed(server: &Server, api: &Api, gcs: &GcsDouble, id: &str, object: &str) {
    server
        .wait_for_log("the deletion job's success", Duration::from_secs(15), |lines| {
            Server::logged_lines(lines, &["a job succeeded", id]) >= 1
        })
        .await;
    let metrics = api.metrics().await;
    let left: f64 = ["queued", "running", "dead"].iter().map(|s| deletions(&metrics, s)).sum();
    assert!(gcs.object(object).is_none(), "the object is gone");
    assert_eq!(left, 0.0, "no deletion job is left: {metrics}");
}

/// The object deletion of a deleted file fails while the store refuses it and is retried,
/// with its last error, until the store is back; then the object is gone and no job is
/// left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_during_an_object_deletion_is_retried_until_the_store_is_back() {
    let Some((database, gcs)) = crate::production_services().await else { return };
    let launch = quick_jobs(&database, &gcs);
    let RefusedDeletion { server, api, id, object } = delete_while_refused(&launch, &gcs).await;
    server
        .wait_for_log("two failed attempts", Duration::from_secs(10), |lines| {
            Server::logged_lines(lines, &["a job failed", "dead=false"]) >= 2
        })
        .await;
    let metrics = api.metrics().await;
    assert!(deletion_attempts(&metrics, "retried") >= 2.0, "{metrics}");
    assert_eq!(deletion_attempts(&metrics, "succeeded"), 0.0, "{metrics}");
    assert_eq!(deletions(&metrics, "dead"), 0.0, "{metrics}");
    assert!(metrics.contains("drip_worker_restarts_total{worker=\"jobs\"} 0"), "{metrics}");
    let listing = drip_jobs_ok(&launch, &["list"]).await;
    let line = listing.lines().find(|l| l.contains("delete_object")).unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains("deleting the object") && line.contains(&id), "its last error: {line}");
    assert!(gcs.object(&object).is_some(), "the store refused to delete it");

    gcs.clear_faults();
    removed(&server, &api, &gcs, &id, &object).await;
    assert!(deletion_attempts(&api.metrics().await, "succeeded") >= 1.0);
    assert_eq!(drip_jobs_ok(&launch, &["list"]).await.trim(), "no jobs");
}

/// A deletion that fails on each of its two attempts is dead: `drip jobs list --state dead`
/// shows it with its last error; `drip jobs retry` refuses a malformed id and the id of no
/// job, and queues the dead job again, which then removes the object; retrying it once
/// more is refused, since it is no longer dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_job_is_listed_and_retried_by_hand() {
    let Some((database, gcs)) = crate::production_services().await else { return };
    let launch = quick_jobs(&database, &gcs).env("DRIP_JOBS__MAX_ATTEMPTS", "2");
    let RefusedDeletion { server, api, id, object } = delete_while_refused(&launch, &gcs).await;
    server
        .wait_for_log("the job's death", Duration::from_secs(10), |lines| {
            Server::logged_lines(lines, &["a job failed", "dead=true"]) >= 1
        })
        .await;
    assert_eq!(deletions(&api.metrics().await, "dead"), 1.0);
    assert_eq!(deletion_attempts(&api.metrics().await, "dead"), 1.0);
    let listing = drip_jobs_ok(&launch, &["list", "--state", "dead"]).await;
    let line = listing.lines().find(|l| l.contains("delete_object")).unwrap_or_else(|| panic!("{listing}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1..4], ["delete_object", "dead", "2"], "kind, state, attempts: {line}");
    assert!(line.contains("deleting the object"), "its last error: {line}");
    let job = fields[0];
    assert_eq!(drip_jobs_ok(&launch, &["list", "--state", "queued"]).await.trim(), "no queued jobs");

    let stderr = drip_jobs_refused(&launch, &["retry", "not-a-job-id"]).await;
    assert!(stderr.contains("is not a job id"), "{stderr}");
    // A well-formed id (the file's: ids share one format) of no job.
    let stderr = drip_jobs_refused(&launch, &["retry", &id]).await;
    assert!(stderr.contains("there is no dead job"), "{stderr}");

    gcs.clear_faults();
    let stdout = drip_jobs_ok(&launch, &["retry", job]).await;
    assert!(stdout.contains(&format!("queued job {job} again")), "{stdout}");
    let stderr = drip_jobs_refused(&launch, &["retry", job]).await;
    assert!(stderr.contains("there is no dead job"), "a job is retried once: {stderr}");
    removed(&server, &api, &gcs, &id, &object).await;
    assert_eq!(drip_jobs_ok(&launch, &["list"]).await.trim(), "no jobs");
}

/// On an empty embedded queue, `drip jobs list` says so; an unknown state is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_on_an_empty_queue() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::embedded().env("DRIP_DATA_DIR", dir.path().join("data").to_str().unwrap());
    assert_eq!(drip_jobs_ok(&launch, &["list"]).await.trim(), "no jobs");
    assert_eq!(
        drip_jobs_ok(&launch, &["list", "--state", "dead", "--limit", "5"]).await.trim(),
        "no dead jobs"
    );
    let stderr = drip_jobs_refused(&launch, &["list", "--state", "done"]).await;
    assert!(stderr.contains("one of queued, running, dead"), "{stderr}");
}

/// A store that refuses writes (permission denied) answers uploads `503 unavailable` with
/// `Retry-After`, not 500, and `/ready` says so; once it takes writes again, both recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_refuses_writes_is_503_and_not_ready() {
    let Some((database, gcs)) = crate::production_services().await else { return };
    let server = crate::production(&database, &gcs).env("DRIP_SERVER__READY_PROBE_SECS", "0").start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    for operation in [Operation::PutObject, Operation::InitiateUpload] {
        gcs.inject(Fault::always(REFUSED).on(operation));
    }
    let response = api.try_upload(&alice, "$", "refused.txt", b"not stored".to_vec()).await;
    assert!(response.headers().contains_key("retry-after"), "{:?}", response.headers());
    crate::api::expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let ready = api.request(Method::GET, "/ready", None).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["storage"], "failed", "{body}");
    // The log line may reach the harness after the answer did: wait for it.
    server
        .wait_for_log("the reason the store is not ready", Duration::from_secs(10), |lines| {
            Server::logged_lines(lines, &["cannot write"]) >= 1
        })
        .await;

    gcs.clear_faults();
    let ready = api.request(Method::GET, "/ready", None).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    api.upload(&alice, "$", "stored.txt", b"stored").await;
    assert!(
        api.files(&alice).await.iter().all(|f| f["name"] != "refused.txt"),
        "nothing left of the refusal"
    );
}
