//! In-memory adapters of Drip's storage ports: `AccountRepository`, `MediaRepository`,
//! `JobQueue` and `ArchiveRepository` over one shared state, and a `StorageProvider` over a map of objects.
//!
//! They are real adapters, not test doubles: each honours every contract written in its
//! port's `# Errors` docs and passes the same conformance suites (`drip-testkit`) as the
//! SQL and object-store adapters. The facade serves `database.kind = "memory"` and
//! `storage.kind = "memory"` with them; tests use them through `drip-mock`, which adds the
//! fakes (clock, hasher, token issuer, key wrapper, recording notifier).
//!
//! ```
//! # async fn demo() {
//! let repositories = drip_memory::MemoryRepositories::new();
//! let objects = drip_memory::MemoryStorage::new();
//! # let _ = (repositories.media(), objects.len());
//! # }
//! ```

mod archives;
mod cluster;
mod jobs;
mod links;
mod repository;
mod storage;
mod uploads;

pub use archives::MemoryArchiveRepository;
pub use cluster::{MemoryBus, MemoryRegistry};
pub use links::MemoryLinkRepository;
pub use repository::{MemoryAccountRepository, MemoryJobQueue, MemoryMediaRepository, MemoryRepositories};
pub use storage::{DEFAULT_READ_CHUNK, MemoryStorage};
pub use uploads::MemoryUploadRepository;
