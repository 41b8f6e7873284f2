//! Throttling of password guesses and refresh-token guesses: failures are counted per
//! account and per client address in the account repository (so the limits hold across
//! every node of one database), and past a few free failures each further attempt must
//! wait an exponentially growing delay.

use chrono::{DateTime, Duration, Utc};

use super::model::AttemptKey;
use super::ports::AccountRepository;
use crate::error::BackendError;

/// How many failures are free, and how the delay after them grows.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failed logins an account may have before it must wait (0: no limit per account).
    pub free_per_account: u32,
    /// Failed logins and refresh-token guesses a client address may have before it must
    /// wait (0: no limit per address). Higher than per account: many people share an
    /// address behind NAT.
    pub free_per_client: u32,
    /// The delay after the first failure past the free ones; each further one doubles it.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Failures are forgotten this long after the last one (and by a successful login,
    /// for the account).
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            free_per_account: 5,
            free_per_client: 20,
            base_delay: Duration::seconds(1),
            max_delay: Duration::minutes(15),
            window: Duration::hours(1),
        }
    }
}

/// An attempt refused before it was checked: too many failures lately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed attempts; try again in {} s", retry_after.num_seconds())]
pub struct Throttled {
    /// How long until the next attempt is accepted (whole seconds, at least 1).
    pub retry_after: Duration,
}

/// Why an attempt could not go ahead.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl ThrottleSettings {
    /// The delay `count` failures impose when `free` are free (0 free: none).
    fn delay(&self, count: u32, free: u32) -> Duration {
        if free == 0 || count < free {
            return Duration::zero();
        }
        let doublings = (count - free).min(30);
        let delay = self.base_delay.checked_mul(1 << doublings).unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }

    /// The keys a login as `username` from `client` counts against, with their free
    /// failures.
    pub(super) fn login_keys(
        &self,
        username: &str,
        client: Option<std::net::IpAddr>,
    ) -> Vec<(AttemptKey, u32)> {
        let mut keys = vec![(AttemptKey::account(username), self.free_per_account)];
        keys.extend(self.client_keys(client));
        keys
    }

    /// The keys a password guess on the link or drop `link` from `client` counts against
    /// (a link's password is throttled like an account's).
    pub(crate) fn link_keys(&self, link: &str, client: Option<std::net::IpAddr>) -> Vec<(AttemptKey, u32)> {
        let mut keys = vec![(AttemptKey::link(link), self.free_per_account)];
        keys.extend(self.client_keys(client));
        keys
    }

    /// The keys an attempt without an account (a refresh-token guess) counts against.
    pub(crate) fn client_keys(&self, client: Option<std::net::IpAddr>) -> Vec<(AttemptKey, u32)> {
        client.map(|ip| (AttemptKey::client(ip), self.free_per_client)).into_iter().collect()
    }

    /// Refuses the attempt when any key must still wait at `now`.
    pub(crate) async fn check(
        &self,
        repository: &dyn AccountRepository,
        keys: &[(AttemptKey, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), Refused> {
        let mut wait = Duration::zero();
        for (key, free) in keys {
            if let Some(failures) = repository.failures(key, now - self.window).await? {
                let until = failures.last + self.delay(failures.count, *free);
                wait = wait.max(until - now);
            }
        }
        if wait > Duration::zero() {
            // Whole seconds, rounded up: `Retry-After` cannot say less.
            let seconds = (wait.num_milliseconds() + 999) / 1000;
            return Err(Throttled { retry_after: Duration::seconds(seconds.max(1)) }.into());
        }
        Ok(())
    }

    /// Counts a failure against every key.
    pub(crate) async fn failed(
        &self,
        repository: &dyn AccountRepository,
        keys: &[(AttemptKey, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), BackendError> {
        for (key, free) in keys {
            if *free > 0 {
                repository.record_failure(key, now, now - self.window).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_past_the_free_failures_up_to_the_cap() {
        let settings = ThrottleSettings::default();
        let delays: Vec<i64> = (0..8).map(|n| settings.delay(n, 5).num_seconds()).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4]);
        assert_eq!(settings.delay(20, 5), Duration::minutes(15));
        assert_eq!(settings.delay(u32::MAX, 5), Duration::minutes(15));
        assert_eq!(settings.delay(1000, 0), Duration::zero(), "0 free: no limit");
    }

    #[test]
    fn keys_are_bounded_and_ipv6_counts_by_its_64() {
        assert_eq!(AttemptKey::account("Alice").as_str(), "account:alice");
        assert!(AttemptKey::account(&"ü".repeat(5000)).as_str().len() <= 200);
        let a = AttemptKey::client("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = AttemptKey::client("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "ip:2001:db8:1:2::/64");
        assert_eq!(AttemptKey::client("::ffff:10.0.0.1".parse().unwrap()).as_str(), "ip:10.0.0.1");
    }
}
