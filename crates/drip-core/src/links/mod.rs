//! Sharing beyond accounts: public links that let anyone with the token (and the password,
//! when there is one) download a file, and drop links that let anyone upload files into a
//! user's folder without seeing it.

pub mod error;
pub mod model;
pub mod ports;
pub mod service;

pub use service::{DropUpload, Grant, LinkDownload, LinkPorts, LinkService, LinkSettings, OpenLink, Visit};
