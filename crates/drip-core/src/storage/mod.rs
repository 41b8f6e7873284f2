//! The storage domain: media metadata, folders, shares, content storage and search.

pub mod error;
pub mod model;
pub mod ports;
pub mod search;
pub mod service;

pub use service::{
    DEFAULT_TRASH_RETENTION, Download, FolderDeleted, SharingOverview, StoragePorts, StorageService,
    StorageSettings, StoreRequest, VersionUpload,
};

#[cfg(test)]
mod tests;
