//! Resumable uploads (the tus protocol's model): a file whose content arrives over several
//! requests, stored part by part so that an upload survives a dropped connection and a
//! server restart, and that becomes a normal file with its last byte (decision 0021).

pub mod error;
pub mod model;
pub mod ports;
mod service;

pub use service::{Appended, UploadService, UploadSettings};
