//! The accounts domain: registration, login, token refresh and authentication.

pub mod error;
pub mod model;
pub mod ports;
pub mod service;
pub mod throttle;

pub use service::{AccountPorts, AccountService, Origin, SessionSettings};
pub use throttle::{ThrottleSettings, Throttled};

#[cfg(test)]
pub(crate) mod tests;
