//! Envelope encryption with master keys from configuration: the local [`KeyWrapper`].
//!
//! A data key is wrapped with AES-256-GCM under the current master key, a random 96-bit
//! nonce and the master key's id as associated data (so bytes moved under another id fail
//! authentication). Wrapped bytes are `nonce (12) || ciphertext (32) || tag (16)`.
//! Configuring several keys is rotation: the current one wraps, every one unwraps.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use zeroize::Zeroizing;

use drip_core::BackendError;
use drip_core::content::DataKey;
use drip_core::storage::ports::{KeyError, KeyWrapper, WrappedKey};

/// Bytes in a master key (AES-256).
pub const MASTER_KEY_LEN: usize = 32;

/// Bytes in a data key.
const DATA_KEY_LEN: usize = 32;
/// Bytes of the GCM authentication tag.
const TAG_LEN: usize = 16;
/// Bytes of a wrapped data key.
const WRAPPED_LEN: usize = NONCE_LEN + DATA_KEY_LEN + TAG_LEN;
/// Longest key id (the envelope's limit).
const MAX_ID_LEN: usize = 128;

/// Why a master key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMasterKey {
    /// The id is empty, too long or has other characters than allowed.
    #[error("a master key id has 1 to 128 characters: ascii letters, digits, '_', '-', '.' or ':'")]
    Id,
    /// The key text is not standard base64.
    #[error("the master key is not valid base64")]
    Base64,
    /// The key does not have [`MASTER_KEY_LEN`] bytes.
    #[error("a master key has exactly {MASTER_KEY_LEN} bytes, got {0}")]
    Length(usize),
    /// The crypto library refused the key.
    #[error("the crypto library refused the master key")]
    Rejected,
}

/// Why a set of master keys cannot form a key wrapper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKeyring {
    /// Two keys share an id.
    #[error("master key id {0:?} is configured twice")]
    DuplicateId(String),
    /// No configured key has the id named as current.
    #[error("the current master key {0:?} is not configured")]
    UnknownCurrent(String),
}

/// A 256-bit master key and its id. The key bytes live only inside the AEAD context
/// (wiped on drop) and are never printed.
pub struct MasterKey {
    id: String,
    key: LessSafeKey,
}

impl MasterKey {
    /// A master key from raw bytes.
    ///
    /// # Errors
    /// [`InvalidMasterKey::Id`] for a bad id, [`InvalidMasterKey::Length`] unless `bytes`
    /// has [`MASTER_KEY_LEN`] bytes.
    pub fn new(id: &str, bytes: &[u8]) -> Result<Self, InvalidMasterKey> {
        let valid_id = (1..=MAX_ID_LEN).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !valid_id {
            return Err(InvalidMasterKey::Id);
        }
        if bytes.len() != MASTER_KEY_LEN {
            return Err(InvalidMasterKey::Length(bytes.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| InvalidMasterKey::Rejected)?;
        Ok(Self { id: id.to_owned(), key: LessSafeKey::new(key) })
    }

    /// A master key written in standard base64 (surrounding white space ignored).
    ///
    /// # Errors
    /// As [`MasterKey::new`], plus [`InvalidMasterKey::Base64`] when the text does not
    /// decode.
    pub fn from_base64(id: &str, text: &str) -> Result<Self, InvalidMasterKey> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| InvalidMasterKey::Base64)?,
        );
        Self::new(id, &bytes)
    }

    /// The key's id, recorded next to every data key it wraps.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).field("key", &"<redacted>").finish()
    }
}

/// Wraps data keys with the current master key; unwraps with any configured one.
pub struct LocalKeyWrapper {
    current: MasterKey,
    /// Keys that only unwrap, by id (never containing the current id).
    retired: BTreeMap<String, MasterKey>,
}

impl LocalKeyWrapper {
    /// A wrapper that wraps with `current` and also unwraps with the `retired` keys.
    ///
    /// # Errors
    /// [`InvalidKeyring::DuplicateId`] when two keys share an id.
    pub fn new(
        current: MasterKey,
        retired: impl IntoIterator<Item = MasterKey>,
    ) -> Result<Self, InvalidKeyring> {
        let mut by_id = BTreeMap::new();
        for key in retired {
            if key.id == current.id || by_id.contains_key(&key.id) {
                return Err(InvalidKeyring::DuplicateId(key.id));
            }
            by_id.insert(key.id.clone(), key);
        }
        Ok(Self { current, retired: by_id })
    }

    /// A wrapper over all `keys`, wrapping with the one whose id is `current_id`.
    ///
    /// # Errors
    /// [`InvalidKeyring::UnknownCurrent`] when no key has `current_id`;
    /// [`InvalidKeyring::DuplicateId`] when two keys share an id.
    pub fn from_keys(keys: Vec<MasterKey>, current_id: &str) -> Result<Self, InvalidKeyring> {
        let (mut current, retired): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| k.id == current_id);
        let Some(first) = current.pop() else {
            return Err(InvalidKeyring::UnknownCurrent(current_id.to_owned()));
        };
        if !current.is_empty() {
            return Err(InvalidKeyring::DuplicateId(first.id));
        }
        Self::new(first, retired)
    }

    fn find(&self, id: &str) -> Option<&MasterKey> {
        if id == self.current.id { Some(&self.current) } else { self.retired.get(id) }
    }
}

impl fmt::Debug for LocalKeyWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeyWrapper")
            .field("current", &self.current.id)
            .field("retired", &self.retired.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[async_trait]
impl KeyWrapper for LocalKeyWrapper {
    fn current_key_id(&self) -> String {
        self.current.id.clone()
    }

    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, KeyError> {
        let master = &self.current;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| BackendError::msg("the operating system's random source failed"))?;
        // The buffer holds the plain data key until it is sealed in place; wipe it if
        // sealing fails.
        let mut buffer = Zeroizing::new(Vec::with_capacity(WRAPPED_LEN));
        buffer.extend_from_slice(&nonce);
        buffer.extend_from_slice(key.expose());
        let tag = master
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(master.id.as_bytes()),
                &mut buffer[NONCE_LEN..],
            )
            .map_err(|_| BackendError::msg("wrapping a data key failed"))?;
        buffer.extend_from_slice(tag.as_ref());
        Ok(WrappedKey { key_id: master.id.clone(), bytes: std::mem::take(&mut *buffer) })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
        let master =
            self.find(&wrapped.key_id).ok_or_else(|| KeyError::UnknownKey(wrapped.key_id.clone()))?;
        if wrapped.bytes.len() != WRAPPED_LEN {
            return Err(KeyError::Integrity);
        }
        let (nonce, sealed) = wrapped.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Integrity)?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let plain = master
            .key
            .open_in_place(nonce, Aad::from(master.id.as_bytes()), &mut buffer)
            .map_err(|_| KeyError::Integrity)?;
        let mut bytes = Zeroizing::new([0u8; DATA_KEY_LEN]);
        if plain.len() != DATA_KEY_LEN {
            return Err(KeyError::Integrity);
        }
        bytes.copy_from_slice(plain);
        Ok(DataKey::from_bytes(*bytes))
    }
}
