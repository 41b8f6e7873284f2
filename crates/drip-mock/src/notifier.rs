//! `RecordingNotifier`: a `Notifier` that remembers what it was asked to publish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use drip_core::events::{Event, Notifier};
use drip_core::{BackendError, UserId};

/// A [`Notifier`] that records every `(user, event)` it is given, in order, so tests can
/// assert on them. [`RecordingNotifier::set_failing`] makes it fail (recording nothing),
/// to check that a notification failure never fails a use case.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    events: Mutex<Vec<(UserId, Event)>>,
    failing: AtomicBool,
}

impl RecordingNotifier {
    /// A notifier with nothing recorded.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn recorded(&self) -> MutexGuard<'_, Vec<(UserId, Event)>> {
        // A `Vec` of recorded events stays whole even if a holder panicked.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything published so far, in order.
    #[must_use]
    pub fn events(&self) -> Vec<(UserId, Event)> {
        self.recorded().clone()
    }

    /// The events published to `user`, in order.
    #[must_use]
    pub fn events_for(&self, user: &UserId) -> Vec<Event> {
        self.recorded().iter().filter(|(to, _)| to == user).map(|(_, event)| event.clone()).collect()
    }

    /// Everything published so far, forgetting it.
    pub fn take(&self) -> Vec<(UserId, Event)> {
        std::mem::take(&mut *self.recorded())
    }

    /// Whether [`Notifier::publish`] fails from now on.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn publish(&self, user: &UserId, event: Event) -> Result<(), BackendError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(BackendError::msg("recording notifier set to fail").transient());
        }
        self.recorded().push((*user, event));
        Ok(())
    }
}
