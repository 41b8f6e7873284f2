//! `FixedClock`: a clock that stands still until a test moves it, with deterministic ids.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use drip_core::Ksuid;
use drip_core::clock::Clock;

/// A [`Clock`] whose time only changes when a test sets or advances it, and whose KSUIDs
/// are deterministic: the current second followed by a counter, so they are unique and,
/// as long as time is never set backwards, strictly increasing.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
    counter: AtomicU64,
}

impl FixedClock {
    /// The instant a [`FixedClock::default`] starts at: 2024-01-01T00:00:00Z.
    #[must_use]
    pub fn epoch() -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default()
    }

    /// A clock standing at `at`.
    #[must_use]
    pub fn new(at: DateTime<Utc>) -> Self {
        Self { now: Mutex::new(at), counter: AtomicU64::new(0) }
    }

    /// Moves the clock to `at` (backwards too).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }

    /// Moves the clock forward by `by` (backward for a negative duration); answers the
    /// new time.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
        *now
    }

    /// How many ids the clock has handed out.
    #[must_use]
    pub fn ids_issued(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }
}

impl Default for FixedClock {
    fn default() -> Self {
        Self::new(Self::epoch())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        // The guarded value is a plain `DateTime`, always whole even if a holder panicked.
        *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn new_ksuid(&self) -> Ksuid {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut payload = [0u8; 16];
        payload[8..].copy_from_slice(&n.to_be_bytes());
        Ksuid::from_parts(self.now(), payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drip_core::clock::ClockExt;

    #[test]
    fn stands_still_until_moved() {
        let clock = FixedClock::default();
        assert_eq!(clock.now(), FixedClock::epoch());
        assert_eq!(clock.now(), clock.now());
        let later = clock.advance(Duration::seconds(90));
        assert_eq!(later, FixedClock::epoch() + Duration::seconds(90));
        assert_eq!(clock.now(), later);
        clock.set(FixedClock::epoch());
        assert_eq!(clock.now(), FixedClock::epoch());
    }

    #[test]
    fn ids_are_unique_increasing_and_deterministic() {
        let clock = FixedClock::default();
        let a = clock.new_ksuid();
        let b = clock.new_ksuid();
        clock.advance(Duration::seconds(1));
        let c = clock.new_user_id().ksuid();
        assert!(a < b && b < c, "{a:?} {b:?} {c:?}");
        assert_eq!(a.timestamp(), FixedClock::epoch());
        assert_eq!(c.timestamp(), FixedClock::epoch() + Duration::seconds(1));
        assert_eq!(clock.ids_issued(), 3);
        let again = FixedClock::default();
        assert_eq!(again.new_ksuid(), a);
    }
}
