//! `drip healthcheck`, the container health check of the image (Dockerfile,
//! deploy/compose.yaml): exit 0 against a serving node, whether the URL is given or derived
//! from the listen address; exit 1 with the reason on another status, on a closed port,
//! and once the node has stopped.

use std::process::Output;
use std::time::Duration;

use crate::harness::Launch;
use crate::ops::{run_drip, text};

/// `drip healthcheck` with `args` in a scratch directory and a clean environment.
fn healthcheck(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let mut all = vec!["healthcheck"];
    all.extend_from_slice(args);
    run_drip(dir.path(), &all, &[], "")
}

/// Asserts that the check failed with exit code 1 and said `reason` on stderr.
fn assert_fails(output: &Output, reason: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.starts_with("drip: ") && stderr.contains(reason), "expected {reason:?} in {stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_node_passes_then_fails_once_stopped() {
    let mut server = Launch::embedded().start().await;
    for path in ["/health", "/ready"] {
        let output = healthcheck(&["--url", &server.url(path)]);
        assert!(output.status.success(), "{path}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), format!("{}: 200 OK\n", server.url(path)));
    }
    // Without --url: /health of the configured listen address (here the --listen flag).
    let dir = tempfile::tempdir().unwrap();
    let listen = server.addr().to_string();
    let output = run_drip(dir.path(), &["--listen", &listen, "healthcheck"], &[], "");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).starts_with(&server.url("/health")), "{}", text(&output.stdout));

    assert_fails(&healthcheck(&["--url", &server.url("/no-such-page")]), "answered 404 Not Found");

    let status = server.terminate(Duration::from_secs(5)).await.expect("drip stops on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert_fails(&healthcheck(&["--url", &server.url("/health")]), "no connection");
}

#[test]
fn a_closed_port_or_a_bad_url_fails() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/health");
    assert_fails(&healthcheck(&["--url", &url]), &format!("{url}: no connection"));
    assert_fails(&healthcheck(&["--url", "https://127.0.0.1/health"]), "only http:// is supported");
}
