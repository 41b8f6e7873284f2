//! Conformance suite of `AccountRepository` and `MediaRepository`.

use std::sync::Arc;

use drip_core::accounts::ports::AccountRepository;
use drip_core::storage::ports::MediaRepository;

/// Fresh, empty repositories for one scenario.
pub struct Repos {
    /// Users and refresh tokens.
    pub accounts: Arc<dyn AccountRepository>,
    /// Media and shares (over the same store as `accounts`).
    pub media: Arc<dyn MediaRepository>,
    /// Kept alive for the scenario, dropped after it (e.g. a throwaway database).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Expands to one `#[tokio::test]` per repository scenario.
#[macro_export]
macro_rules! repository_conformance {
    ($setup:path) => {};
}
