//! The S3 server of `cargo xtask test`: a pinned moto (`moto[server]` from PyPI, in
//! `target/xtask/moto-venv`), started on a free loopback port for the run and killed when
//! dropped. The tests find it through `DRIP_TEST_S3_ENDPOINT`; each creates buckets of its
//! own on it (`drip_testkit::s3`).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{free_port, venv};

/// The moto release the step installs (reinstalled when the venv holds another).
const VERSION: &str = "5.2.5";

/// How long moto may take to answer after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `moto_server`; killed (and its log removed) when dropped.
pub(crate) struct Moto {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Moto {
    /// Installs moto under `work` if needed, starts it on a free port of 127.0.0.1 and waits
    /// until it answers HTTP.
    pub(crate) fn start(work: &Path) -> Result<Self> {
        let venv = work.join("moto-venv");
        venv::ensure(&venv, "moto", "[server]", VERSION)?;
        let port = free_port()?;
        let log = work.join(format!("moto-{}.log", std::process::id()));
        let output = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(venv.join("bin").join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .context("spawning moto_server")?;
        let mut moto = Self { child, endpoint: format!("http://127.0.0.1:{port}"), log };
        moto.wait_until_it_answers(SocketAddr::from(([127, 0, 0, 1], port)))?;
        Ok(moto)
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Polls `GET /` until an HTTP answer comes back, moto exits, or the deadline passes.
    fn wait_until_it_answers(&mut self, addr: SocketAddr) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if answers_http(addr) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("moto_server exited with {status}:\n{}", self.log_text());
            }
            if Instant::now() > deadline {
                bail!("moto_server did not answer on {addr} within {START_TIMEOUT:?}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Whether an HTTP server answers `GET /` on `addr`.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut head = [0_u8; 8];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.")
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
