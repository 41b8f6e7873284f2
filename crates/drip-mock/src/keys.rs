//! `MemoryKeyWrapper`: data-key wrapping with random in-memory master keys (AES-256-GCM).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use drip_core::BackendError;
use drip_core::content::DataKey;
use drip_core::storage::ports::{KeyError, KeyWrapper, WrappedKey};

use crate::random::random_array;

/// Bytes of a wrapped data key: nonce, the 32-byte key, the GCM tag.
const WRAPPED_LEN: usize = NONCE_LEN + 32 + 16;

struct Keys {
    current: String,
    masters: BTreeMap<String, [u8; 32]>,
}

/// A [`KeyWrapper`] holding random AES-256 master keys in memory, named by key id.
///
/// Wrapped keys are `nonce ‖ AES-256-GCM(data key)` with the key id as associated data,
/// so bytes wrapped under one id never unwrap under another. Tests rotate master keys
/// with [`MemoryKeyWrapper::rotate_to`] and lose them with [`MemoryKeyWrapper::forget`].
pub struct MemoryKeyWrapper {
    keys: RwLock<Keys>,
}

impl MemoryKeyWrapper {
    /// A wrapper with one fresh master key, `key_id`, which is current.
    #[must_use]
    pub fn new(key_id: &str) -> Self {
        let masters = BTreeMap::from([(key_id.to_owned(), random_array())]);
        Self { keys: RwLock::new(Keys { current: key_id.to_owned(), masters }) }
    }

    /// Makes `key_id` the current master key, creating a fresh random one under that id
    /// unless it exists; older keys still unwrap what they wrapped.
    pub fn rotate_to(&self, key_id: &str) {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.masters.entry(key_id.to_owned()).or_insert_with(random_array);
        key_id.clone_into(&mut keys.current);
    }

    /// Drops the master key `key_id` (unwrapping under it then fails with
    /// [`KeyError::UnknownKey`]); answers whether it existed. Dropping the current key
    /// leaves wrapping failing until [`MemoryKeyWrapper::rotate_to`] is called.
    pub fn forget(&self, key_id: &str) -> bool {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.masters.remove(key_id).is_some()
    }

    /// The ids of the master keys held, in order.
    #[must_use]
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).masters.keys().cloned().collect()
    }

    fn master(&self, key_id: &str) -> Option<LessSafeKey> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let master = keys.masters.get(key_id)?;
        UnboundKey::new(&AES_256_GCM, master).ok().map(LessSafeKey::new)
    }
}

impl Default for MemoryKeyWrapper {
    /// A wrapper whose current master key is `k1`.
    fn default() -> Self {
        Self::new("k1")
    }
}

impl fmt::Debug for MemoryKeyWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyWrapper")
            .field("current", &self.current_key_id())
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

#[async_trait]
impl KeyWrapper for MemoryKeyWrapper {
    fn current_key_id(&self) -> String {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).current.clone()
    }

    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, KeyError> {
        let key_id = self.current_key_id();
        let master = self
            .master(&key_id)
            .ok_or_else(|| BackendError::msg(format!("the current master key {key_id:?} was forgotten")))?;
        let nonce: [u8; NONCE_LEN] = random_array();
        let mut sealed = key.expose().to_vec();
        master
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key_id.as_bytes()),
                &mut sealed,
            )
            .map_err(|e| BackendError::new("sealing a data key", e))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(WrappedKey { key_id, bytes })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
        let master =
            self.master(&wrapped.key_id).ok_or_else(|| KeyError::UnknownKey(wrapped.key_id.clone()))?;
        if wrapped.bytes.len() != WRAPPED_LEN {
            return Err(KeyError::Integrity);
        }
        let (nonce, sealed) = wrapped.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Integrity)?;
        let mut sealed = sealed.to_vec();
        let plain = master
            .open_in_place(nonce, Aad::from(wrapped.key_id.as_bytes()), &mut sealed)
            .map_err(|_| KeyError::Integrity)?;
        let raw: [u8; 32] = plain.try_into().map_err(|_| KeyError::Integrity)?;
        Ok(DataKey::from_bytes(raw))
    }
}
