//! Per-user transfer counts: one user cannot take every transfer slot of the storage
//! service; past their share they get 429 while others still get served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use drip_core::UserId;

/// How many uploads and downloads each user runs now.
#[derive(Debug)]
pub(crate) struct UserTransfers {
    limit: usize,
    running: Mutex<HashMap<UserId, usize>>,
}

impl UserTransfers {
    /// Counts with at most `limit` transfers per user (0: unlimited).
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, running: Mutex::new(HashMap::new()) }
    }

    fn running(&self) -> MutexGuard<'_, HashMap<UserId, usize>> {
        // The map holds plain counters, whole even if a holder panicked.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one of `user`'s slots until the permit is dropped; `None` when they have
    /// none left.
    pub(crate) fn try_acquire(self: &Arc<Self>, user: UserId) -> Option<TransferPermit> {
        let mut running = self.running();
        let count = running.entry(user).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(TransferPermit { owner: Arc::clone(self), user })
    }
}

/// One running transfer of one user.
#[derive(Debug)]
pub(crate) struct TransferPermit {
    owner: Arc<UserTransfers>,
    user: UserId,
}

impl Drop for TransferPermit {
    fn drop(&mut self) {
        let mut running = self.owner.running();
        if let Some(count) = running.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drip_core::Ksuid;

    #[test]
    fn counts_per_user_and_releases_on_drop() {
        let transfers = Arc::new(UserTransfers::new(2));
        let a = UserId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [1; 16]));
        let b = UserId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [2; 16]));
        let first = transfers.try_acquire(a).unwrap();
        let _second = transfers.try_acquire(a).unwrap();
        assert!(transfers.try_acquire(a).is_none());
        assert!(transfers.try_acquire(b).is_some());
        drop(first);
        assert!(transfers.try_acquire(a).is_some());
        let unlimited = Arc::new(UserTransfers::new(0));
        let held: Vec<_> = (0..100).map(|_| unlimited.try_acquire(a).unwrap()).collect();
        assert_eq!(held.len(), 100);
    }
}
