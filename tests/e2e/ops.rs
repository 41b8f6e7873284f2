//! Operating the binary: health and readiness, graceful shutdown on SIGTERM (and the
//! cleanup of an upload it cuts off), refusing a production start without explicit
//! secrets, `drip migrate`, `drip user create`, the logging variables and plain-text logs.

use std::io::Write as _;
use std::process::{Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::api::{Api, expect_json};
use crate::harness::{Launch, drip_command};

/// Runs `drip` with `args` in a clean environment plus `env`, `stdin` as its input.
pub(crate) fn run_drip(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = drip_command(dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning drip");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("writing stdin");
    child.wait_with_output().expect("drip's output")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `/health` and `/ready` answer; SIGTERM stops the server cleanly (exit 0) within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_graceful_shutdown() {
    let mut server = Launch::embedded().start().await;
    let api = Api::new(&server);
    let health =
        expect_json(api.request(Method::GET, "/health", None).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(health["status"], "ok");
    assert!(health["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{health}");
    let ready =
        expect_json(api.request(Method::GET, "/ready", None).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(ready, json!({ "status": "ready", "checks": { "database": "ok", "storage": "ok" } }));
    let banner = server.stdout();
    assert!(banner.iter().any(|l| l.contains("database: sqlite")), "{banner:?}");
    assert!(banner.iter().any(|l| l.contains("storage:  local disk")), "{banner:?}");
    // Embedded settings generate their secrets on first run, privately.
    for secret in ["jwt_secret", "master_keys"] {
        let path = server.data_dir().join("secrets").join(secret);
        assert!(path.is_file(), "{} generated", path.display());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    // An open event connection must not hold the shutdown up.
    let alice = api.register("alice").await;
    let events = api.events(&alice, true).await;
    let status = server.terminate(Duration::from_secs(5)).await;
    let status = status
        .unwrap_or_else(|| panic!("drip did not stop within 5 s of SIGTERM; stderr:\n{}", server.log()));
    assert!(status.success(), "exit status {status:?}; stderr:\n{}", server.log());
    drop(events);
}

/// Everything under the data dir is its owner's only (directories 0700, files 0600),
/// whatever the shell's umask, also when an earlier version left the directory 0755; and
/// names whose extension no file system takes (a backslash, 230 bytes, 70 CJK characters)
/// are stored on local disk.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_is_private_and_every_valid_name_stores() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Launch::embedded().data_dir(data_dir.clone()).start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let cjk = format!("文件.{}", "漢".repeat(70));
    for name in ["a.\\x", "..\\..\\etc\\passwd", &format!("x.{}", "b".repeat(230)), &cjk] {
        let file = api.upload(&alice, "$", name, name.as_bytes()).await;
        let id = file["id"].as_str().unwrap();
        assert_eq!(api.content(&alice, id).await, name.as_bytes(), "{name:?}");
    }
    let mut pending = vec![data_dir];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let mode = metadata.permissions().mode() & 0o777;
        if metadata.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            pending.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else {
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 6, "the database, the secrets and the objects were checked");
}

/// An upload still running when the grace period ends is cut off, and what it reserved
/// is removed before the process exits: after a restart, its name is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_off_a_stalled_upload_and_removes_its_reservation() {
    let mut server = Launch::embedded().env("DRIP_SERVER__SHUTDOWN_GRACE_SECS", "1").start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    // An upload that announces 1 MiB, sends 64 KiB and stalls.
    let upload = api.stalled_upload(&server, &alice, "stalled.bin", 1024 * 1024, 64 * 1024).await.unwrap();
    assert!(api.metrics().await.contains("drip_transfers_in_flight 1"), "the upload holds a transfer slot");

    let status = server.terminate(Duration::from_secs(10)).await;
    let status = status.unwrap_or_else(|| panic!("drip did not stop; stderr:\n{}", server.log()));
    assert!(status.success(), "exit status {status:?}; stderr:\n{}", server.log());
    assert!(server.log().contains("cutting off open transfers"), "{}", server.log());
    drop(upload);

    let restarted = Launch::embedded().data_dir(server.data_dir().to_owned()).start().await;
    let api = Api::new(&restarted);
    let alice = api.login("alice", crate::api::PASSWORD).await;
    api.upload(&alice, "$", "stalled.bin", b"the name is free").await;
}

/// PostgreSQL or GCS without an explicit JWT secret and master key: the binary exits
/// non-zero with a message naming what to set, and generates nothing.
#[tokio::test]
async fn production_settings_without_secrets_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = STANDARD.encode(r#"{"type":"service_account"}"#);
    let postgres =
        [("DRIP_DATABASE__KIND", "postgres"), ("DRIP_DATABASE__URL", "postgres://drip@127.0.0.1:1/none")];
    let gcs = [
        ("DRIP_STORAGE__KIND", "gcs"),
        ("DRIP_STORAGE__BUCKET", "drip"),
        ("DRIP_STORAGE__CREDENTIALS_BASE64", credentials.as_str()),
    ];
    let jwt_only = [postgres.as_slice(), &[("DRIP_AUTH__JWT_SECRET", crate::harness::JWT_SECRET)]].concat();
    for (env, missing) in [
        (postgres.as_slice(), "JWT secret"),
        (gcs.as_slice(), "JWT secret"),
        (jwt_only.as_slice(), "master key"),
    ] {
        let data = dir.path().join("data");
        let data = data.to_str().unwrap();
        let output = run_drip(dir.path(), &["--data-dir", data, "--listen", "127.0.0.1:0", "serve"], env, "");
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "started without secrets: {env:?}");
        assert!(stderr.contains(missing) && stderr.contains("must be configured explicitly"), "{stderr}");
        assert!(
            stderr.contains("DRIP_AUTH__JWT_SECRET") && stderr.contains("DRIP_KEYS__MASTER_KEYS"),
            "{stderr}"
        );
        assert!(!text(&output.stdout).contains("drip listening"), "{}", text(&output.stdout));
        assert!(!dir.path().join("data").join("secrets").exists(), "no secret generated");
    }
}

/// `drip migrate`, then `drip user create` (password on stdin), then that user logs in to
/// the server started on the same data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_user_create_then_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let output = run_drip(dir.path(), &["--data-dir", data, "migrate"], &[], "");
    assert!(output.status.success(), "migrate: {}", text(&output.stderr));
    assert!(text(&output.stdout).contains("migrations applied"), "{}", text(&output.stdout));
    // Twice is fine.
    assert!(run_drip(dir.path(), &["--data-dir", data, "migrate"], &[], "").status.success());

    let create = ["--data-dir", data, "user", "create", "--username", "u", "--email", "e@x.io"];
    let output = run_drip(dir.path(), &create, &[], "a long password\n");
    assert!(output.status.success(), "user create: {}", text(&output.stderr));
    assert!(text(&output.stdout).contains("created user u"), "{}", text(&output.stdout));
    // The same username again, or bad fields, fail without a panic.
    let again = run_drip(dir.path(), &create, &[], "a long password\n");
    assert!(!again.status.success());
    assert!(!text(&again.stderr).contains("panicked"), "{}", text(&again.stderr));
    let bad = ["--data-dir", data, "user", "create", "--username", "v", "--email", "not-an-email"];
    let output = run_drip(dir.path(), &bad, &[], "a long password\n");
    assert!(!output.status.success());
    assert!(!text(&output.stderr).contains("panicked"), "{}", text(&output.stderr));

    // Every request asks the database about its session: the CLI's delete is seen at once.
    let server = Launch::embedded()
        .data_dir(dir.path().join("data"))
        .env("DRIP_AUTH__SESSION_CHECK_SECS", "0")
        .start()
        .await;
    let api = Api::new(&server);
    let user = api.login("u", "a long password").await;
    let me = expect_json(api.get("/api/v1/me", &user).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(me["email"], "e@x.io");
    let response = api
        .request(Method::POST, "/api/sessions", None)
        .form(&[("username", "u"), ("password", "a long password")])
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(response, StatusCode::OK).await, json!({ "response": "Logged in as u" }));

    // `drip user delete` removes the user, their files and objects; their token is dead.
    api.upload(&user, "$", "notes.txt", b"to be deleted").await;
    let objects = || std::fs::read_dir(server.objects_dir()).map(|d| d.count()).unwrap_or(0);
    assert_eq!(objects(), 1);
    let output = run_drip(dir.path(), &["--data-dir", data, "user", "delete", "u"], &[], "");
    assert!(output.status.success(), "user delete: {}", text(&output.stderr));
    assert!(text(&output.stdout).contains("deleted user u"), "{}", text(&output.stdout));
    assert_eq!(objects(), 0, "the object went with the user");
    for path in ["/api/v1/me", "/api/v1/me/usage", "/api/v1/files", "/api/v1/users/top"] {
        let response = api.get(path, &user).send().await.unwrap();
        crate::api::expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    let again = run_drip(dir.path(), &["--data-dir", data, "user", "delete", "u"], &[], "");
    assert!(!again.status.success() && text(&again.stderr).contains("no user u"), "{}", text(&again.stderr));
}

/// `DRIP_LOG` and `DRIP_LOG_FORMAT` select logging (see `main.rs`); they are not
/// configuration keys, so setting them must not stop the binary from starting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_variables_are_not_configuration() {
    let server = Launch::embedded().env("DRIP_LOG", "warn").env("DRIP_LOG_FORMAT", "json").start().await;
    let api = Api::new(&server);
    let response = api.request(Method::GET, "/health", None).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Logs written to a pipe (or a file) are plain text: no ANSI colour escapes, even with
/// `NO_COLOR` unset; `DRIP_LOG_FORMAT=json` still writes one JSON object per line.
#[test]
fn logs_to_a_pipe_have_no_colour_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for json in [false, true] {
        let mut command = drip_command(dir.path());
        command.env_remove("NO_COLOR").args(["--data-dir", data, "migrate"]);
        if json {
            command.env("DRIP_LOG_FORMAT", "json");
        }
        let output = command.stdin(Stdio::null()).output().expect("running drip migrate");
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains("migrations applied"), "the log line is there: {stderr}");
        assert!(!stderr.contains("\u{1b}["), "colour escapes in a piped log: {stderr:?}");
        if json {
            for line in stderr.lines() {
                let entry: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
                assert!(entry["fields"].is_object(), "{line}");
            }
        }
    }
}
