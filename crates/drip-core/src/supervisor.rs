//! A small supervisor for long-running background parts (job runners, housekeeping): each
//! runs on a task of its own; when it fails or panics it is restarted after a backoff,
//! logged with its name and counted, while the rest of the process carries on.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How restarts are spaced: the first after `initial`, each further one twice as late, at
/// most `max`; a run that lasted longer than `max` starts the sequence again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first restart.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_millis(100), max: Duration::from_secs(30) }
    }
}

/// How often each supervised part was restarted, by name (for metrics). Clones share the
/// counts.
#[derive(Debug, Clone, Default)]
pub struct Restarts(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl Restarts {
    /// Every supervised part, with its restarts so far.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(&n, &c)| (n, c)).collect()
    }

    fn register(&self, name: &'static str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).entry(name).or_insert(0);
    }

    fn count(&self, name: &'static str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner).entry(name).or_insert(0) += 1;
    }
}

/// Runs `start()` as `name` until `stop` is cancelled: each run on a task of its own; a
/// run that ends with an error or a panic is restarted after the [`Backoff`] and counted in
/// `restarts`; a run that ends with `Ok` ends the supervision. Returns once the part
/// ended or `stop` was cancelled and its run finished (a run sees `stop` itself).
pub async fn supervise<F, Fut, E>(
    name: &'static str,
    stop: CancellationToken,
    backoff: Backoff,
    restarts: Restarts,
    start: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    restarts.register(name);
    let mut delay = backoff.initial;
    while !stop.is_cancelled() {
        let started = Instant::now();
        let why = match tokio::spawn(start()).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error.to_string(),
            Err(join) if join.is_panic() => format!("panicked: {}", panic_text(join.into_panic())),
            Err(_) => "cancelled".to_owned(),
        };
        if stop.is_cancelled() {
            return;
        }
        if started.elapsed() > backoff.max {
            delay = backoff.initial;
        }
        tracing::error!(worker = name, error = %why, restart_in = ?delay, "a background worker stopped; restarting it");
        restarts.count(name);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(backoff.max);
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => {
            payload.downcast_ref::<&str>().map_or_else(|| "(no message)".to_owned(), |s| (*s).to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A worker that panics on its first run and fails on its second is restarted twice,
    /// then does its work; the restarts are counted under its name.
    #[tokio::test(start_paused = true)]
    async fn a_panicking_worker_is_restarted_and_does_its_work() {
        let runs = Arc::new(AtomicU32::new(0));
        let restarts = Restarts::default();
        let start = {
            let runs = Arc::clone(&runs);
            move || {
                let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    match run {
                        1 => panic!("injected panic"),
                        2 => Err("injected failure"),
                        _ => Ok(()),
                    }
                }
            }
        };
        supervise("test_worker", CancellationToken::new(), Backoff::default(), restarts.clone(), start).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "run again after the panic and the failure");
        assert_eq!(restarts.snapshot(), [("test_worker", 2)]);
    }

    /// Cancelling the stop token ends the supervision, also while waiting to restart.
    #[tokio::test(start_paused = true)]
    async fn stop_ends_the_supervision() {
        let stop = CancellationToken::new();
        let restarts = Restarts::default();
        let supervised = tokio::spawn(supervise(
            "failing",
            stop.clone(),
            Backoff { initial: Duration::from_secs(3600), max: Duration::from_secs(3600) },
            restarts.clone(),
            || async { Err::<(), _>("always") },
        ));
        while restarts.snapshot() != [("failing", 1)] {
            tokio::task::yield_now().await;
        }
        stop.cancel();
        supervised.await.unwrap();
        assert_eq!(restarts.snapshot(), [("failing", 1)]);
    }
}
