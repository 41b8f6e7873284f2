//! In-memory fakes of every port of `drip-core`, and a steppable clock, so that services
//! (Drip's own and those embedding it) can be tested without a database, a bucket or real
//! cryptographic keys.
//!
//! Each fake honours the contract written in its port's `# Errors` docs: the memory
//! repositories pass the same conformance suite (`drip-testkit`) as the SQL adapters.
//! Mocks with expectations come from `drip-core`'s `mocks` feature (mockall); these fakes
//! are for tests that want behaviour rather than expectations.
//!
//! ```
//! # async fn demo() {
//! use drip_core::accounts::AccountService;
//! let fakes = drip_mock::fake_ports();
//! let accounts = AccountService::new(fakes.account_ports.clone(), Default::default());
//! # let _ = accounts;
//! fakes.clock.advance(chrono::Duration::minutes(5));
//! assert!(fakes.notifier.events().is_empty());
//! # }
//! ```

mod auth;
mod clock;
mod content;
mod keys;
mod notifier;
mod ports;
mod random;

pub use auth::{FakeTokenIssuer, FastPasswordHasher};
pub use clock::FixedClock;
pub use content::{read_all, stream_of};
pub use keys::MemoryKeyWrapper;
pub use notifier::RecordingNotifier;
pub use ports::{FakePorts, fake_ports, fake_ports_at};
// The in-memory adapters live in `drip-memory` (the release binary uses them too); they
// are re-exported here so a test needs one dependency for every fake.
pub use drip_memory::{
    DEFAULT_READ_CHUNK, MemoryAccountRepository, MemoryArchiveRepository, MemoryBus, MemoryMediaRepository,
    MemoryRegistry, MemoryRepositories, MemoryStorage,
};
