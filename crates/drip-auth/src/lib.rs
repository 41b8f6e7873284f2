//! Drip's credential adapters: the secrets side of the accounts and storage ports.
//!
//! - [`JwtTokenIssuer`] implements [`TokenIssuer`](drip_core::accounts::ports::TokenIssuer)
//!   with HS256 JSON Web Tokens (`jsonwebtoken`);
//! - [`Argon2PasswordHasher`] implements
//!   [`PasswordHasher`](drip_core::accounts::ports::PasswordHasher) with argon2id PHC strings;
//! - [`LocalKeyWrapper`] implements [`KeyWrapper`](drip_core::storage::ports::KeyWrapper) with
//!   AES-256-GCM under master keys taken from configuration.
//!
//! Every secret type here ([`JwtSecret`], [`MasterKey`]) is wiped on drop and never printed.

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod jwt;
mod keys;
mod password;

pub use jwt::{
    ISSUER, InvalidJwtSecret, JwtSecret, JwtTokenIssuer, MIN_SECRET_LEN, TICKET_AUDIENCE, TIME_LEEWAY_SECS,
};
pub use keys::{InvalidKeyring, InvalidMasterKey, LocalKeyWrapper, MASTER_KEY_LEN, MasterKey};
pub use password::{Argon2Cost, Argon2PasswordHasher, Argon2SetupError};
