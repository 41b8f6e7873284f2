//! Transfer counts per user and per client address: neither a few accounts nor one
//! address (where accounts are free to create) can take every transfer slot of the
//! storage service; past their share they get 429 while others still get served.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use drip_core::UserId;

use crate::client_ip::ClientIp;

/// How many uploads and downloads each user and each client address run now.
#[derive(Debug)]
pub(crate) struct TransferCounts {
    per_user: Arc<Counts<UserId>>,
    per_client: Arc<Counts<IpAddr>>,
}

/// Whose share of the transfers is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The user runs as many as one user may.
    User,
    /// The client address runs as many as one address may.
    Client,
}

impl TransferCounts {
    /// Counts with at most `per_user` transfers per user and `per_client` per client
    /// address (IPv6: per /64 network); 0 is unlimited.
    pub(crate) fn new(per_user: usize, per_client: usize) -> Self {
        Self { per_user: Arc::new(Counts::new(per_user)), per_client: Arc::new(Counts::new(per_client)) }
    }

    /// Takes one of `user`'s and one of `client`'s slots until the permit is dropped.
    ///
    /// # Errors
    /// Whose slots are used up; nothing is taken then.
    pub(crate) fn try_acquire(&self, user: UserId, client: ClientIp) -> Result<TransferPermit, Refusal> {
        let user = self.per_user.try_acquire(user).ok_or(Refusal::User)?;
        let client = self.per_client.try_acquire(client.network()).ok_or(Refusal::Client)?;
        Ok(TransferPermit { _user: user, _client: client })
    }
}

/// One running transfer of one user from one client address.
#[derive(Debug)]
pub(crate) struct TransferPermit {
    _user: Held<UserId>,
    _client: Held<IpAddr>,
}

/// Running transfers by key, at most `limit` each (0: unlimited).
#[derive(Debug)]
struct Counts<K> {
    limit: usize,
    running: Mutex<HashMap<K, usize>>,
}

impl<K: Hash + Eq + Copy> Counts<K> {
    fn new(limit: usize) -> Self {
        Self { limit, running: Mutex::new(HashMap::new()) }
    }

    fn running(&self) -> MutexGuard<'_, HashMap<K, usize>> {
        // The map holds plain counters, whole even if a holder panicked.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One of `key`'s slots until the result is dropped; `None` when it has none left.
    fn try_acquire(self: &Arc<Self>, key: K) -> Option<Held<K>> {
        let mut running = self.running();
        let count = running.entry(key).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held { owner: Arc::clone(self), key })
    }
}

/// One slot of one key.
#[derive(Debug)]
struct Held<K: Hash + Eq + Copy> {
    owner: Arc<Counts<K>>,
    key: K,
}

impl<K: Hash + Eq + Copy> Drop for Held<K> {
    fn drop(&mut self) {
        let mut running = self.owner.running();
        if let Some(count) = running.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drip_core::Ksuid;

    fn user(n: u8) -> UserId {
        UserId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [n; 16]))
    }

    fn client(text: &str) -> ClientIp {
        ClientIp::from_ip(text.parse().unwrap())
    }

    #[test]
    fn counts_per_user_and_releases_on_drop() {
        let transfers = TransferCounts::new(2, 0);
        let (a, b, here) = (user(1), user(2), client("192.0.2.1"));
        let first = transfers.try_acquire(a, here).unwrap();
        let _second = transfers.try_acquire(a, here).unwrap();
        assert_eq!(transfers.try_acquire(a, here).unwrap_err(), Refusal::User);
        assert!(transfers.try_acquire(b, here).is_ok());
        drop(first);
        assert!(transfers.try_acquire(a, here).is_ok());
    }

    #[test]
    fn counts_per_client_address_across_users() {
        let transfers = TransferCounts::new(2, 3);
        let (here, there) = (client("192.0.2.1"), client("192.0.2.2"));
        let held: Vec<_> = [1, 1, 2].map(|n| transfers.try_acquire(user(n), here).unwrap()).into();
        // A fresh account from the same address gets nothing more...
        assert_eq!(transfers.try_acquire(user(3), here).unwrap_err(), Refusal::Client);
        // ...while another address is served.
        let elsewhere = transfers.try_acquire(user(3), there).unwrap();
        drop(held);
        assert!(transfers.try_acquire(user(3), here).is_ok(), "the address's slots are back");
        drop(elsewhere);
    }

    #[test]
    fn a_refusal_by_address_takes_no_slot_of_the_user() {
        let transfers = TransferCounts::new(1, 1);
        let here = client("192.0.2.1");
        let _held = transfers.try_acquire(user(1), here).unwrap();
        assert_eq!(transfers.try_acquire(user(2), here).unwrap_err(), Refusal::Client);
        // user 2's refused attempt left their own count alone.
        assert!(transfers.try_acquire(user(2), client("192.0.2.2")).is_ok());
    }

    #[test]
    fn ipv6_addresses_of_one_network_share_their_slots() {
        let transfers = TransferCounts::new(0, 1);
        let _held = transfers.try_acquire(user(1), client("2001:db8:0:1::1")).unwrap();
        assert!(transfers.try_acquire(user(2), client("2001:db8:0:1::2")).is_err());
        assert!(transfers.try_acquire(user(2), client("2001:db8:0:2::1")).is_ok());
    }

    #[test]
    fn zero_is_unlimited() {
        let transfers = TransferCounts::new(0, 0);
        let held: Vec<_> =
            (0..100).map(|_| transfers.try_acquire(user(1), client("192.0.2.1")).unwrap()).collect();
        assert_eq!(held.len(), 100);
    }
}
