//! argon2id password hashing in PHC strings: the production [`PasswordHasher`].
//!
//! Hashing and verifying are CPU- and memory-heavy by design, so both run on Tokio's
//! blocking pool. Verification reads its cost from the stored hash, so hashes made with
//! older costs keep verifying after the configured cost changes.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::Error as PhcError;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;

use drip_core::BackendError;
use drip_core::accounts::model::{Password, PasswordHash};
use drip_core::accounts::ports::{HashError, PasswordHasher};

/// Bytes of random salt in each new hash (the PHC recommendation).
const SALT_LEN: usize = 16;

/// Input of the reference hash that [`PasswordHasher::dummy_verify`] checks against. No
/// account uses it, so neither needs to be secret or random; only its cost matters.
const DUMMY_PASSWORD: &[u8] = b"drip dummy password, never a real one";
const DUMMY_SALT: &[u8; SALT_LEN] = b"drip-dummy-salt!";

/// The argon2id cost of new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory per hash, in KiB (at least 8 × `parallelism`).
    pub memory_kib: u32,
    /// Passes over the memory (at least 1).
    pub iterations: u32,
    /// Lanes (at least 1).
    pub parallelism: u32,
}

impl Argon2Cost {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    pub const RECOMMENDED: Self = Self { memory_kib: 19_456, iterations: 2, parallelism: 1 };

    /// The cheapest cost argon2 allows: for tests only, where hashing must be fast.
    pub const FOR_TESTS: Self = Self { memory_kib: 8, iterations: 1, parallelism: 1 };
}

impl Default for Argon2Cost {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

/// Why an [`Argon2PasswordHasher`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Argon2SetupError {
    /// argon2 refuses the cost parameters.
    #[error("invalid argon2 cost: {0}")]
    InvalidCost(String),
    /// The reference hash for dummy verification could not be computed.
    #[error("computing the reference hash for dummy verification failed: {0}")]
    ReferenceHash(String),
}

/// argon2id (version 0x13) password hashing with a fresh 16-byte salt per hash, stored as a
/// PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). Cheap to clone.
///
/// At most as many hashes run at once as the machine has cores (the rest wait their
/// turn): each one holds `memory_kib` of memory (19 MiB by default), so a burst of logins
/// would otherwise take memory without bound, and no more than one hash per core runs
/// faster anyway.
#[derive(Clone)]
pub struct Argon2PasswordHasher {
    inner: Arc<Inner>,
    running: Arc<tokio::sync::Semaphore>,
}

struct Inner {
    argon2: Argon2<'static>,
    cost: Argon2Cost,
    /// A hash made with `cost` at construction, for [`PasswordHasher::dummy_verify`].
    reference_hash: String,
}

impl Argon2PasswordHasher {
    /// A hasher producing hashes of the given cost.
    ///
    /// Computes one hash right away (the reference for dummy verification), so it takes as
    /// long as a login; call it at startup, not on an async worker in the request path.
    ///
    /// # Errors
    /// [`Argon2SetupError::InvalidCost`] when argon2 refuses the parameters,
    /// [`Argon2SetupError::ReferenceHash`] when hashing fails (e.g. out of memory).
    pub fn new(cost: Argon2Cost) -> Result<Self, Argon2SetupError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| Argon2SetupError::InvalidCost(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let reference_hash = argon2
            .hash_password_with_salt(DUMMY_PASSWORD, DUMMY_SALT)
            .map_err(|e| Argon2SetupError::ReferenceHash(e.to_string()))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Self {
            inner: Arc::new(Inner { argon2, cost, reference_hash }),
            running: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    /// The cost of new hashes.
    #[must_use]
    pub fn cost(&self) -> Argon2Cost {
        self.inner.cost
    }

    /// Runs `work` with the shared state on the blocking pool, once fewer hashes than
    /// cores run.
    async fn on_blocking_pool<T, F>(&self, work: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        let turn = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| BackendError::new("the password hasher is closed", e))?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work(&inner)
        })
        .await
        .map_err(|e| BackendError::new("the password hashing task failed", e))
    }
}

impl fmt::Debug for Argon2PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2PasswordHasher").field("cost", &self.inner.cost).finish_non_exhaustive()
    }
}

impl Inner {
    fn hash(&self, password: &str) -> Result<PasswordHash, HashError> {
        let mut salt = [0u8; SALT_LEN];
        aws_lc_rs::rand::fill(&mut salt)
            .map_err(|_| BackendError::msg("the operating system's random source failed"))?;
        let phc = self
            .argon2
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map_err(|e| BackendError::new("argon2 hashing failed", e))?
            .to_string();
        PasswordHash::parse(&phc)
            .map_err(|e| BackendError::new("argon2 produced a hash the domain refuses", e).into())
    }

    fn verify(&self, password: &str, stored: &str) -> Result<bool, HashError> {
        let parsed = argon2::PasswordHash::new(stored).map_err(|_| HashError::MalformedHash)?;
        // Without salt or output there is nothing to compare against; argon2 would answer
        // "wrong password", but the hash itself is what is wrong.
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(HashError::MalformedHash);
        }
        match self.argon2.verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(PhcError::PasswordInvalid) => Ok(false),
            Err(
                e @ (PhcError::OutOfMemory | PhcError::Internal | PhcError::Crypto | PhcError::RngFailure),
            ) => Err(BackendError::new("argon2 verification failed", e).into()),
            // Unknown algorithm or version, bad parameters, salt, encoding or output size.
            Err(_) => Err(HashError::MalformedHash),
        }
    }

    /// A verification against the reference hash: the full argon2 computation at this
    /// hasher's cost, as a failed login of a real user costs.
    fn dummy_verify(&self, password: &str) -> Result<bool, HashError> {
        self.verify(password, &self.reference_hash)
    }
}

#[async_trait]
impl PasswordHasher for Argon2PasswordHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        self.on_blocking_pool(move |inner| inner.hash(password.expose())).await?
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let password = password.clone();
        let stored = hash.as_str().to_owned();
        self.on_blocking_pool(move |inner| inner.verify(password.expose(), &stored)).await?
    }

    async fn dummy_verify(&self, password: &Password) {
        let password = password.clone();
        // The outcome is meaningless (and a failure changes nothing for the caller, who is
        // about to answer "wrong credentials" anyway); only the time spent matters.
        let _ = self.on_blocking_pool(move |inner| inner.dummy_verify(password.expose())).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The dummy verification's contract (`PasswordHasher::dummy_verify`): the same work as
    /// a failed verification against a real hash of this hasher's cost.
    #[tokio::test]
    async fn dummy_verify_does_the_work_of_a_failed_verify() {
        let cost = Argon2Cost { memory_kib: 64, iterations: 2, parallelism: 2 };
        let hasher = Argon2PasswordHasher::new(cost).unwrap();
        let inner = &hasher.inner;

        // The reference is a real hash made with the configured cost...
        let reference = argon2::PasswordHash::new(&inner.reference_hash).unwrap();
        assert_eq!(reference.algorithm, Algorithm::Argon2id.ident());
        let params = Params::try_from(&reference).unwrap();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (64, 2, 2));
        let real = hasher.hash(&Password::parse("a real password").unwrap()).await.unwrap();
        let real = argon2::PasswordHash::new(real.as_str()).unwrap();
        assert_eq!(params, Params::try_from(&real).unwrap());

        // ...and checking against it runs argon2 to the comparison: a wrong password is a
        // clean `false` (no early error skipping the work), the reference's own input `true`.
        assert!(!inner.dummy_verify("whatever it is").unwrap());
        let own = std::str::from_utf8(DUMMY_PASSWORD).unwrap();
        assert!(inner.dummy_verify(own).unwrap());

        // Through the port it returns for any password, the reference's own input included.
        hasher.dummy_verify(&Password::parse("whatever it is").unwrap()).await;
        hasher.dummy_verify(&Password::parse(own).unwrap()).await;
    }

    /// Hashes beyond the number of cores wait for a turn instead of each taking their
    /// memory at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_there_are_turns() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cost = Argon2Cost { memory_kib: 64, iterations: 1, parallelism: 1 };
        let mut hasher = Argon2PasswordHasher::new(cost).unwrap();
        hasher.running = Arc::new(tokio::sync::Semaphore::new(2));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(released));
        let works: Vec<_> = (0..6)
            .map(|_| {
                let (hasher, running, most, released) =
                    (hasher.clone(), Arc::clone(&running), Arc::clone(&most), Arc::clone(&released));
                tokio::spawn(async move {
                    hasher
                        .on_blocking_pool(move |_| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            // Held until the test lets one work finish.
                            let _ = released.lock().unwrap().recv();
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        while running.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(hasher.running.available_permits(), 0, "both turns taken, four waiting");
        for _ in 0..6 {
            release.send(()).unwrap();
        }
        for work in works {
            work.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
