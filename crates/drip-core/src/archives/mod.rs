//! Prepared folder archives: a user asks for a ZIP of a folder, a durable job (any node)
//! streams the files they see under it into a ZIP stored encrypted like any object, and
//! the user is told (`download` event) where to fetch it; it expires after a while and a
//! job removes it (docs/decisions/0018).
//!
//! Only the requester sees their archive; files they cannot see never go in (the entries
//! come from `MediaRepository::list_visible`, checked again file by file as it is read).

pub mod error;
pub mod model;
pub mod ports;
pub mod service;
mod zip;

pub use service::{ArchiveDownload, ArchivePorts, ArchiveService, ArchiveSettings, content_link};
