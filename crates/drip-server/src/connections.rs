//! The accept loop of `drip serve`: every connection is served by hyper's HTTP/1.1 with a
//! header-read timeout (a client that does not finish its headers is cut), a send timeout
//! (a client that accepts no byte of a response for the transfer idle time is cut, which
//! frees a download's slot), the peer address as axum's `ConnectInfo`, WebSocket upgrades,
//! and graceful shutdown. See `docs/decisions/0011-connection-timeouts-and-fair-transfer-slots.md`
//! for why this replaces `axum::serve`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service as _;
use tracing::{debug, warn};

/// How long a client may keep a connection waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// To send a request's headers (and between two requests of a kept-alive connection).
    pub(crate) header_read: Duration,
    /// To accept any byte of what the server sends.
    pub(crate) send_idle: Duration,
}

/// Serves `app` on `listener` until `stop` is cancelled. Then no connection is accepted
/// any more, each open one finishes its request in flight and closes, and this resolves
/// once all are closed. Dropping the future leaves the connections running (the caller
/// cuts their requests off; see `shutdown::Requests`).
pub(crate) async fn serve(listener: TcpListener, app: Router, timeouts: Timeouts, stop: CancellationToken) {
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(timeouts.header_read);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let Ok(service) = make_service.call(peer).await;
        let io = TokioIo::new(SendTimeout::new(stream, timeouts.send_idle));
        let connection = http.serve_connection(io, TowerToHyperService::new(service)).with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let served = async move {
                tokio::pin!(connection);
                tokio::select! {
                    served = connection.as_mut() => served,
                    () = stop.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            };
            // The connection, and what it was sending (a download and its slot), is gone
            // once `served` is done.
            let Err(e) = served.await else { return };
            if Stalled::ended(&e) {
                warn!(
                    idle_secs = timeouts.send_idle.as_secs(),
                    "a client accepted no byte for too long; cut it"
                );
            } else {
                debug!(error = &e as &dyn std::error::Error, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// After a failed accept: a connection the client gave up on already is no matter; else
/// (out of file descriptors, say) the loop pauses a moment instead of spinning.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    warn!(error = error as &dyn std::error::Error, "accepting a connection failed; pausing");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A connection whose writes fail with `TimedOut` once one stays blocked for `limit`: the
/// client accepted no byte for that long (it stopped reading), so whatever it was sent —
/// a download holding a transfer slot, above all — is cut.
struct SendTimeout<T> {
    inner: T,
    limit: Duration,
    /// Running while a write is blocked.
    blocked: Option<Pin<Box<Sleep>>>,
}

impl<T> SendTimeout<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self { inner, limit, blocked: None }
    }

    /// What a write of the inner connection answered, unless it stayed blocked too long.
    fn guard<R>(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if written.is_ready() {
            self.blocked = None;
            return written;
        }
        let limit = self.limit;
        let blocked = self.blocked.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match blocked.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, Stalled))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Why [`SendTimeout`] failed a write: the client accepted no byte for the limit.
#[derive(Debug)]
struct Stalled;

impl Stalled {
    /// Whether a connection ended with `error` because [`SendTimeout`] cut it.
    fn ended(error: &hyper::Error) -> bool {
        std::iter::successors(Some(error as &dyn std::error::Error), |&e| e.source()).any(|e| {
            // An `io::Error`'s own `source` skips the error it wraps: look inside.
            e.downcast_ref::<io::Error>().and_then(io::Error::get_ref).is_some_and(|inner| inner.is::<Self>())
        })
    }
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client accepts no data")
    }
}

impl std::error::Error for Stalled {}

impl<T: AsyncRead + Unpin> AsyncRead for SendTimeout<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendTimeout<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.guard(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.guard(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        this.guard(cx, flushed)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let shut = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.guard(cx, shut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    const LIMIT: Duration = Duration::from_secs(3);

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_cut() {
        let (server, mut client) = tokio::io::duplex(16);
        let mut server = SendTimeout::new(server, LIMIT);
        server.write_all(&[1; 16]).await.unwrap();
        // The client reads nothing: the next write blocks until the limit passes.
        let mut write = Box::pin(server.write_all(&[2; 16]));
        assert!(write.as_mut().now_or_never().is_none());
        tokio::time::advance(LIMIT - Duration::from_millis(1)).await;
        assert!(write.as_mut().now_or_never().is_none(), "not blocked for the whole limit yet");
        tokio::time::advance(Duration::from_millis(1)).await;
        let error = write.await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let mut first = [0; 16];
        client.read_exact(&mut first).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_served() {
        let (server, mut client) = tokio::io::duplex(16);
        let mut server = SendTimeout::new(server, LIMIT);
        let sending = tokio::spawn(async move { server.write_all(&[7; 16 * 20]).await });
        let mut received = 0;
        let mut piece = [0; 16];
        while received < 16 * 20 {
            // Just under the limit between reads, twenty times over.
            tokio::time::advance(LIMIT - Duration::from_millis(1)).await;
            received += client.read(&mut piece).await.unwrap();
        }
        sending.await.unwrap().unwrap();
    }
}
