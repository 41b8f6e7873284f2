//! The tus 1.0.0 upload endpoint (`/api/v1/uploads`) driven by unmodified real clients,
//! tuspy (Python) and tus-js-client (Node), through the scripts of `tests/tus/`, each as a
//! process of its own: a whole upload; one stopped midway and resumed by a new client
//! process from its URL; one stopped, then the server killed with `-9` and restarted on
//! the same data directory, then resumed (also across clients, stopped off a part boundary:
//! tuspy starts, tus-js-client finishes); and one terminated (DELETE) by tus-js-client.
//! Each finished upload must end as a file of its folder whose downloaded content is what
//! was sent.
//!
//! The clients are installed by `cargo xtask test`, which names them in `DRIP_TEST_TUSPY`
//! (a Python with tuspy) and `DRIP_TEST_TUS_JS` (a directory holding
//! `node_modules/tus-js-client`); without them the tests report `SKIPPED` and pass, except
//! under CI (`CI` set), where that fails. `cargo xtask tus-clients` prints the variables for
//! a run of `cargo nextest run` of its own.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

use crate::api::{self, Api, PASSWORD, User};
use crate::harness::{Launch, Server};

/// The creation endpoint.
const ENDPOINT: &str = "/api/v1/uploads";

const MIB: usize = 1024 * 1024;

/// What each test uploads: about 5 MiB, not a whole number of chunks.
const SIZE: usize = 5 * MIB + 12_345;

/// Bytes per PATCH.
const CHUNK: usize = MIB;

/// Bytes per PATCH of the upload that stops off a part boundary (1¼ parts).
const ODD_CHUNK: usize = MIB + MIB / 4;

/// Where an interrupted client stops: once this much was acknowledged.
const STOP_AFTER: usize = 2 * MIB;

/// The folder the uploads land in (created by the upload, as any upload does).
const FOLDER: &str = "$/docs";

/// How long one client process may run before the test gives up on it: a guard against a
/// hang, far above what an upload of [`SIZE`] takes, not a measurement.
const CLIENT_LIMIT: Duration = Duration::from_secs(120);

/// The client scripts, next to the e2e tests.
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/tus");

/// One of the real clients.
#[derive(Debug, Clone, Copy)]
enum Client {
    Tuspy,
    TusJs,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Self::Tuspy => "tuspy",
            Self::TusJs => "tus-js-client",
        }
    }

    /// The variable `cargo xtask test` names this client's install in.
    fn var(self) -> &'static str {
        match self {
            Self::Tuspy => "DRIP_TEST_TUSPY",
            Self::TusJs => "DRIP_TEST_TUS_JS",
        }
    }

    /// Whether the client is installed; `false` after printing `SKIPPED` when its variable
    /// is not set. Panics in that case when `CI` is set.
    fn available(self) -> bool {
        if std::env::var_os(self.var()).is_some_and(|v| !v.is_empty()) {
            return true;
        }
        assert!(std::env::var_os("CI").is_none(), "{} is not set under CI", self.var());
        eprintln!(
            "SKIPPED: {} is not installed ({} is not set; `cargo xtask test` sets it, `cargo xtask tus-clients` prints it)",
            self.name(),
            self.var()
        );
        false
    }

    /// The command that runs this client's script (arguments to follow).
    fn command(self) -> tokio::process::Command {
        let var = std::env::var_os(self.var()).expect("checked by `available`");
        match self {
            Self::Tuspy => {
                let mut command = tokio::process::Command::new(var);
                command.arg(Path::new(SCRIPTS).join("tuspy_upload.py"));
                command
            }
            // The script finds tus-js-client through the inherited variable.
            Self::TusJs => {
                let mut command = tokio::process::Command::new("node");
                command.arg(Path::new(SCRIPTS).join("tus_js_upload.mjs"));
                command
            }
        }
    }

    /// Options of a whole upload: tus-js-client sends the first chunk with its POST
    /// (`creation-with-upload`), tuspy has no such option.
    fn whole_upload_options(self) -> &'static [&'static str] {
        match self {
            Self::Tuspy => &[],
            Self::TusJs => &["--creation-with-upload"],
        }
    }
}

/// What one client process printed, and how it ended.
#[derive(Debug)]
struct Run {
    client: Client,
    events: Vec<Value>,
    stdout: String,
    stderr: String,
    success: bool,
}

impl Run {
    /// The last line, after checking that the process succeeded and that it is `event`.
    fn ended_with(&self, event: &str) -> &Value {
        assert!(self.success, "{} failed:\n{self}", self.client.name());
        let last =
            self.events.last().unwrap_or_else(|| panic!("{} printed nothing:\n{self}", self.client.name()));
        assert_eq!(last["event"], event, "{} ended otherwise:\n{self}", self.client.name());
        last
    }

    /// The first line that is `event`.
    fn first(&self, event: &str) -> &Value {
        let found = self.events.iter().find(|e| e["event"] == event);
        found.unwrap_or_else(|| panic!("{} printed no {event}:\n{self}", self.client.name()))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- stdout ---\n{}--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// A file of [`SIZE`] pseudo-random bytes in a directory of its own.
struct Source {
    _dir: TempDir,
    path: PathBuf,
    content: Vec<u8>,
}

impl Source {
    /// `name` holding bytes of `seed`.
    fn new(name: &str, seed: u64) -> Self {
        let dir = tempfile::Builder::new().prefix("drip-tus-").tempdir().expect("a temporary directory");
        let path = dir.path().join(name);
        let content = api::pseudo_random(SIZE, seed);
        std::fs::write(&path, &content).expect("writing the file to upload");
        Self { _dir: dir, path, content }
    }

    fn name(&self) -> &str {
        self.path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 name")
    }
}

/// Runs `client` against `server` as `user` for `source` in [`CHUNK`]s, with `options`
/// after the positional arguments, and waits for it to exit.
async fn run(client: Client, server: &Server, user: &User, source: &Source, options: &[&str]) -> Run {
    run_in(client, server, user, source, CHUNK, options).await
}

/// [`run`] in PATCHes of `chunk` bytes.
async fn run_in(
    client: Client,
    server: &Server,
    user: &User,
    source: &Source,
    chunk: usize,
    options: &[&str],
) -> Run {
    let mut command = client.command();
    command
        .arg(server.url(ENDPOINT))
        .arg(&user.token)
        .arg(&source.path)
        .arg(FOLDER)
        .arg(chunk.to_string())
        .args(options)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().unwrap_or_else(|e| panic!("spawning {}: {e}", client.name()));
    let output = tokio::time::timeout(CLIENT_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} did not exit within {CLIENT_LIMIT:?}", client.name()))
        .expect("waiting for the client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let events = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{stderr}"))
        })
        .collect();
    Run { client, events, stdout, stderr, success: output.status.success() }
}

/// The drip of these tests: PATCH bodies stored in parts of 1 MiB, so that an interrupted
/// upload holds several.
fn launch() -> Launch {
    Launch::embedded().env("DRIP_UPLOADS__PART_MIB", "1")
}

/// `url` on `server`: the same path at its (possibly new) address.
fn on_server(server: &Server, url: &str) -> String {
    let path = url.find("/api/").map(|at| &url[at..]).unwrap_or_else(|| panic!("an upload URL: {url}"));
    server.url(path)
}

/// The offset the server reports for the upload at `url` (HEAD, 200, `Upload-Length` and
/// `Cache-Control: no-store` checked).
async fn head_offset(api: &Api, user: &User, url: &str) -> usize {
    let path = &url[url.find("/api/").expect("an upload URL")..];
    let response = api
        .request(Method::HEAD, path, Some(&user.token))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("HEAD of the upload");
    let headers = response.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(response.status(), StatusCode::OK, "HEAD {path}: {headers:?}");
    assert_eq!(header("upload-length"), Some(SIZE.to_string()), "HEAD {path}: {headers:?}");
    assert_eq!(header("cache-control").as_deref(), Some("no-store"), "HEAD {path}: {headers:?}");
    let offset =
        header("upload-offset").unwrap_or_else(|| panic!("HEAD {path} has no Upload-Offset: {headers:?}"));
    offset.parse().unwrap_or_else(|e| panic!("HEAD {path}: Upload-Offset {offset:?}: {e}"))
}

/// The file `name` of [`FOLDER`], if it is listed.
async fn listed(api: &Api, user: &User, name: &str) -> Option<Value> {
    let response = api.get("/api/v1/folders", user).query(&[("path", FOLDER)]).send().await.expect("listing");
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    let listing = api::expect_json(response, StatusCode::OK).await;
    let files = listing["files"].as_array().unwrap_or_else(|| panic!("files in {listing}"));
    files.iter().find(|f| f["name"] == name).cloned()
}

/// `source` is a file of [`FOLDER`] of the right size whose content downloads whole.
async fn check_uploaded(api: &Api, user: &User, source: &Source) {
    let file = listed(api, user, source.name())
        .await
        .unwrap_or_else(|| panic!("{} is not listed in {FOLDER}", source.name()));
    assert_eq!(file["size"], SIZE as u64, "{file}");
    let id = file["id"].as_str().expect("id");
    let content = api.content(user, id).await;
    assert_eq!(content.len(), SIZE, "the downloaded size of {file}");
    assert_eq!(
        api::sha256_hex(&content),
        api::sha256_hex(&source.content),
        "the downloaded content of {file}"
    );
}

/// The upload URL a run printed first, after checking it is one of `server`'s uploads.
fn upload_url(run: &Run, server: &Server) -> String {
    let url = run.first("created")["url"].as_str().unwrap_or_else(|| panic!("a URL:\n{run}")).to_owned();
    assert!(
        url.starts_with(&server.url(&format!("{ENDPOINT}/"))),
        "the Location resolves under the endpoint: {url}"
    );
    url
}

/// A whole upload in [`CHUNK`]s by one client process.
async fn whole_upload(client: Client, seed: u64) {
    if !client.available() {
        return;
    }
    let server = launch().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let source = Source::new(&format!("whole-{}.bin", client.name()), seed);
    let run = run(client, &server, &alice, &source, client.whole_upload_options()).await;
    assert_eq!(run.ended_with("done")["offset"], SIZE as u64, "{run}");
    upload_url(&run, &server);
    let chunks = run.events.iter().filter(|e| e["event"] == "chunk").count();
    assert_eq!(chunks, SIZE.div_ceil(CHUNK), "one acknowledgement per chunk:\n{run}");
    check_uploaded(&api, &alice, &source).await;
}

/// A client process sending `chunk`s stopped once [`STOP_AFTER`] bytes were acknowledged:
/// answers the upload URL and the offset it was stopped at, after checking the file is not
/// there yet.
async fn interrupted_upload(
    client: Client,
    server: &Server,
    api: &Api,
    user: &User,
    source: &Source,
    chunk: usize,
) -> (String, usize) {
    let stop_after = STOP_AFTER.to_string();
    let run = run_in(client, server, user, source, chunk, &["--stop-after", &stop_after]).await;
    let stopped = run.ended_with("stopped");
    let offset = stopped["offset"].as_u64().unwrap_or_else(|| panic!("an offset:\n{run}")) as usize;
    assert!((STOP_AFTER..SIZE).contains(&offset), "stopped midway:\n{run}");
    let url = upload_url(&run, server);
    assert_eq!(stopped["url"], url.as_str(), "{run}");
    assert!(listed(api, user, source.name()).await.is_none(), "an unfinished upload is no file yet");
    (url, offset)
}

/// A new client process resumes the upload at `url`: it must start from `offset` (what
/// HEAD said) and finish.
async fn resume(client: Client, server: &Server, user: &User, source: &Source, url: &str, offset: usize) {
    let run = run(client, server, user, source, &["--resume", url]).await;
    assert_eq!(run.ended_with("done")["offset"], SIZE as u64, "{run}");
    assert_eq!(run.first("resumed")["offset"], offset as u64, "the client resumes where HEAD says:\n{run}");
    assert!(run.events.iter().all(|e| e["event"] != "created"), "resuming creates no upload:\n{run}");
}

/// An upload stopped after [`STOP_AFTER`] bytes, then resumed by a new client process.
async fn resumed_upload(client: Client, seed: u64) {
    if !client.available() {
        return;
    }
    let server = launch().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let source = Source::new(&format!("resumed-{}.bin", client.name()), seed);
    let (url, stopped_at) = interrupted_upload(client, &server, &api, &alice, &source, CHUNK).await;
    let offset = head_offset(&api, &alice, &url).await;
    assert!(offset > 0, "the server kept what was sent");
    assert_eq!(offset, stopped_at, "every acknowledged byte is kept");
    resume(client, &server, &alice, &source, &url, offset).await;
    check_uploaded(&api, &alice, &source).await;
}

/// An upload in `chunk`s by `first`, stopped after [`STOP_AFTER`] bytes, the server killed
/// with `-9` and restarted on the same data directory, then resumed by `then` at the
/// restarted server's address.
async fn upload_resumed_after_a_crash(first: Client, chunk: usize, then: Client, seed: u64) {
    if !first.available() || !then.available() {
        return;
    }
    let launch = launch();
    let mut server = launch.clone().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let source = Source::new(&format!("crashed-{}-{}.bin", first.name(), then.name()), seed);
    let (url, stopped_at) = interrupted_upload(first, &server, &api, &alice, &source, chunk).await;
    server.kill();

    let restarted = launch.data_dir(server.data_dir().to_owned()).start().await;
    let api = Api::new(&restarted);
    let alice = api.login("alice", PASSWORD).await;
    let url = on_server(&restarted, &url);
    let offset = head_offset(&api, &alice, &url).await;
    assert!(offset > 0, "the crash kept the whole parts");
    // An acknowledged PATCH was stored: the crash came after its answer.
    assert_eq!(offset, stopped_at, "the crash kept every acknowledged byte");
    resume(then, &restarted, &alice, &source, &url, offset).await;
    check_uploaded(&api, &alice, &source).await;
    drop(restarted);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuspy_uploads_a_whole_file() {
    whole_upload(Client::Tuspy, 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_js_client_uploads_a_whole_file() {
    whole_upload(Client::TusJs, 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuspy_resumes_an_interrupted_upload() {
    resumed_upload(Client::Tuspy, 21).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_js_client_resumes_an_interrupted_upload() {
    resumed_upload(Client::TusJs, 22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuspy_resumes_after_the_server_was_killed() {
    upload_resumed_after_a_crash(Client::Tuspy, CHUNK, Client::Tuspy, 31).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_js_client_resumes_after_the_server_was_killed() {
    upload_resumed_after_a_crash(Client::TusJs, CHUNK, Client::TusJs, 32).await;
}

/// Stopped at 2½ MiB, off the 1 MiB part boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_tuspy_started_tus_js_client_finishes_after_a_crash() {
    upload_resumed_after_a_crash(Client::Tuspy, ODD_CHUNK, Client::TusJs, 33).await;
}

/// tus-js-client's `Upload.terminate` (DELETE) on an unfinished upload: the upload is gone
/// (HEAD `404` or `410`), a client can no longer resume it, and no file is made of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_js_client_terminates_an_upload() {
    let client = Client::TusJs;
    if !client.available() {
        return;
    }
    let server = launch().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let source = Source::new("terminated.bin", 41);
    let (url, _) = interrupted_upload(client, &server, &api, &alice, &source, CHUNK).await;
    let terminated = run(client, &server, &alice, &source, &["--terminate", &url]).await;
    terminated.ended_with("terminated");

    let path = &url[url.find("/api/").expect("an upload URL")..];
    let response = api
        .request(Method::HEAD, path, Some(&alice.token))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    let gone = [StatusCode::NOT_FOUND, StatusCode::GONE];
    assert!(gone.contains(&response.status()), "HEAD of a terminated upload: {:?}", response.headers());
    let resumed = run(client, &server, &alice, &source, &["--resume", &url]).await;
    assert!(!resumed.success, "a terminated upload cannot be resumed:\n{resumed}");
    let error = resumed.events.last().unwrap_or_else(|| panic!("an error line:\n{resumed}"));
    assert_eq!(error["event"], "error", "{resumed}");
    assert!(gone.iter().any(|s| error["status"] == s.as_u16()), "{resumed}");
    assert!(listed(&api, &alice, source.name()).await.is_none(), "a terminated upload makes no file");
}
