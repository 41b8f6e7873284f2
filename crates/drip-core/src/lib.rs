//! Drip's hexagon: domain types, port traits and use-case services of the encrypted file
//! store. No database, HTTP, object-store or JWT library is imported here; adapters plug
//! into the ports (`accounts::ports`, `storage::ports`, [`clock::Clock`],
//! [`events::Notifier`]).

pub mod accounts;
pub mod archives;
pub mod clock;
pub mod content;
mod crypto;
pub mod error;
pub mod events;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod jobs;
pub mod links;
pub mod storage;
pub mod supervisor;
pub mod uploads;

pub use error::BackendError;
pub use ids::{
    ArchiveId, ClaimToken, DropId, IdError, JobId, Ksuid, LinkId, MediaId, TokenFamilyId, UploadId, UserId,
};
