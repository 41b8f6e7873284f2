//! The accounts domain: registration, login, token refresh and authentication.

pub mod error;
pub mod model;
pub mod ports;
pub mod service;

pub use service::{AccountPorts, AccountService, SessionSettings};

#[cfg(test)]
pub(crate) mod tests;
