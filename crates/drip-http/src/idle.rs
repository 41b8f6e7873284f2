//! The idle timeout of upload bodies: a body stream that fails with [`Idle`] when no
//! frame arrives for a while, so that a client who stops sending cannot hold a transfer
//! slot (the upload then fails as if the client had disconnected, and is cleaned up the
//! same way). Responses a client stops reading are cut at the connection (drip-server).

use std::error::Error;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

/// Boxed errors of a body stream.
type BoxError = Box<dyn Error + Send + Sync>;

/// A body stream that moved no byte for the idle limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Idle {
    limit: Duration,
}

impl Idle {
    /// The limit that passed without a byte.
    pub(crate) fn limit(self) -> Duration {
        self.limit
    }

    /// The [`Idle`] somewhere in `error`'s chain (`error` itself or one of its sources).
    pub(crate) fn find_in(error: &(dyn Error + 'static)) -> Option<Self> {
        std::iter::successors(Some(error), |&e| e.source()).find_map(|e| e.downcast_ref::<Self>().copied())
    }
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no byte arrived for {} s", self.limit.as_secs())
    }
}

impl Error for Idle {}

/// `inner`, failing with [`Idle`] once a wait for its next frame lasts `limit`. The clock
/// starts at the first poll (not while the upload still waits for its slot) and restarts
/// with every frame; after the failure the stream ends.
pub(crate) fn with_idle_timeout<S, E>(inner: S, limit: Duration) -> IdleTimeout<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    IdleTimeout { inner, limit, deadline: None, expired: false }
}

/// See [`with_idle_timeout`].
pub(crate) struct IdleTimeout<S> {
    inner: S,
    limit: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    expired: bool,
}

impl<S, E> Stream for IdleTimeout<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        let limit = this.limit;
        let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                deadline.as_mut().reset(Instant::now() + limit);
                Poll::Ready(item.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.expired = true;
                    Poll::Ready(Some(Err(Box::new(Idle { limit }))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;
    use futures::StreamExt as _;
    use futures::channel::mpsc;

    type Frame = Result<Bytes, std::io::Error>;

    /// A body whose frames a test hands in one by one, behind the idle timeout.
    fn body(limit: Duration) -> (mpsc::UnboundedSender<Frame>, IdleTimeout<mpsc::UnboundedReceiver<Frame>>) {
        let (tx, rx) = mpsc::unbounded();
        (tx, with_idle_timeout(rx, limit))
    }

    fn x() -> Frame {
        Ok(Bytes::from_static(b"x"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_moving_is_never_cut() {
        let (tx, mut body) = body(Duration::from_secs(2));
        for _ in 0..10 {
            assert!(body.next().now_or_never().is_none(), "waiting for a frame");
            tokio::time::advance(Duration::from_millis(1900)).await;
            tx.unbounded_send(x()).unwrap();
            assert!(body.next().await.unwrap().is_ok());
        }
        drop(tx);
        assert!(body.next().await.is_none(), "the end of the body passes through");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_with_idle_and_ends() {
        let (tx, mut body) = body(Duration::from_secs(2));
        tx.unbounded_send(x()).unwrap();
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().now_or_never().is_none(), "waiting for a frame");
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(body.next().now_or_never().is_none(), "not idle for the whole limit yet");
        tokio::time::advance(Duration::from_millis(1)).await;
        let error = body.next().now_or_never().flatten().unwrap().unwrap_err();
        assert_eq!(Idle::find_in(error.as_ref()), Some(Idle { limit: Duration::from_secs(2) }));
        assert!(body.next().await.is_none(), "a cut body ends");
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_starts_at_the_first_poll() {
        let (tx, mut body) = body(Duration::from_secs(2));
        // Waiting for a slot before reading does not count.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(body.next().now_or_never().is_none(), "waiting for a frame");
        tx.unbounded_send(x()).unwrap();
        assert!(body.next().await.unwrap().is_ok());
    }

    #[test]
    fn idle_is_found_behind_other_errors() {
        let idle = Idle { limit: Duration::from_secs(3) };
        let form = multer::Error::StreamReadFailed(Box::new(idle));
        assert_eq!(Idle::find_in(&form), Some(idle));
        assert_eq!(Idle::find_in(&std::io::Error::other("reset")), None);
        assert_eq!(idle.to_string(), "no byte arrived for 3 s");
    }
}
