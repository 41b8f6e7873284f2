//! KSUID-based identifiers for users and media: 27 base62 characters, time-ordered.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// Seconds between the Unix epoch and the KSUID epoch (2014-05-13T16:53:20Z).
const KSUID_EPOCH: i64 = 1_400_000_000;
/// Length of the textual form.
pub const KSUID_LEN: usize = 27;
const RAW_LEN: usize = 20;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not a KSUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not exactly 27 characters.
    #[error("an id has exactly 27 characters, got {0}")]
    Length(usize),
    /// A character outside `0-9A-Za-z`.
    #[error("an id contains only the characters 0-9, A-Z and a-z")]
    Alphabet,
    /// The value does not fit in 160 bits.
    #[error("an id is out of range")]
    Overflow,
}

/// A K-Sortable Unique IDentifier: 4 bytes of seconds since the KSUID epoch
/// followed by 16 random bytes, written as 27 base62 characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ksuid([u8; RAW_LEN]);

impl Ksuid {
    /// Builds a KSUID from a creation time and 16 bytes of randomness.
    ///
    /// Times before the KSUID epoch clamp to it; times after 2150 clamp to the maximum.
    #[must_use]
    pub fn from_parts(at: DateTime<Utc>, payload: [u8; 16]) -> Self {
        let secs = (at.timestamp() - KSUID_EPOCH).clamp(0, i64::from(u32::MAX));
        let secs = u32::try_from(secs).unwrap_or(u32::MAX);
        let mut raw = [0u8; RAW_LEN];
        raw[..4].copy_from_slice(&secs.to_be_bytes());
        raw[4..].copy_from_slice(&payload);
        Self(raw)
    }

    /// A new KSUID for `at` with a payload from the operating system's CSPRNG.
    #[must_use]
    pub fn generate(at: DateTime<Utc>) -> Self {
        Self::from_parts(at, crate::crypto::random_array())
    }

    /// The second the id was created in.
    #[must_use]
    pub fn timestamp(&self) -> DateTime<Utc> {
        let secs = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        DateTime::from_timestamp(i64::from(secs) + KSUID_EPOCH, 0).unwrap_or_default()
    }

    /// Parses the 27-character base62 form.
    ///
    /// # Errors
    /// [`IdError`] when the text has another length, a foreign character or overflows.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.len() != KSUID_LEN {
            return Err(IdError::Length(text.chars().count()));
        }
        // Big-endian base conversion into 160 bits, five u32 words.
        let mut words = [0u32; 5];
        for c in text.bytes() {
            let digit = match c {
                b'0'..=b'9' => c - b'0',
                b'A'..=b'Z' => c - b'A' + 10,
                b'a'..=b'z' => c - b'a' + 36,
                _ => return Err(IdError::Alphabet),
            };
            let mut carry = u64::from(digit);
            for word in words.iter_mut().rev() {
                let value = u64::from(*word) * 62 + carry;
                *word = (value & 0xFFFF_FFFF) as u32;
                carry = value >> 32;
            }
            if carry != 0 {
                return Err(IdError::Overflow);
            }
        }
        let mut raw = [0u8; RAW_LEN];
        for (chunk, word) in raw.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        Ok(Self(raw))
    }

    /// The raw 20 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; RAW_LEN] {
        &self.0
    }
}

impl fmt::Display for Ksuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: [u32; 5] = [0; 5];
        for (word, chunk) in words.iter_mut().zip(self.0.chunks_exact(4)) {
            *word = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        let mut out = [b'0'; KSUID_LEN];
        for slot in out.iter_mut().rev() {
            // Divide the 160-bit number by 62, keeping the remainder.
            let mut remainder = 0u64;
            for word in &mut words {
                let value = (remainder << 32) | u64::from(*word);
                *word = (value / 62) as u32;
                remainder = value % 62;
            }
            *slot = ALPHABET[remainder as usize];
        }
        // The alphabet is ASCII, so this cannot fail.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Ksuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ksuid({self})")
    }
}

macro_rules! ksuid_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ksuid);

        impl $name {
            /// Wraps a KSUID.
            #[must_use]
            pub fn from_ksuid(id: Ksuid) -> Self {
                Self(id)
            }

            /// Parses the 27-character base62 form.
            ///
            /// # Errors
            /// [`IdError`] when the text is not a KSUID.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                Ksuid::parse(text).map(Self)
            }

            /// The underlying KSUID.
            #[must_use]
            pub fn ksuid(&self) -> Ksuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

ksuid_newtype!(
    /// Identifies a user.
    UserId
);
ksuid_newtype!(
    /// Identifies a stored file.
    MediaId
);
ksuid_newtype!(
    /// Identifies a family of rotated refresh tokens.
    TokenFamilyId
);
ksuid_newtype!(
    /// Identifies a background job.
    JobId
);
ksuid_newtype!(
    /// Identifies a public link to a file.
    LinkId
);
ksuid_newtype!(
    /// Identifies an upload-only drop link to a folder.
    DropId
);
ksuid_newtype!(
    /// Identifies a prepared folder archive.
    ArchiveId
);
ksuid_newtype!(
    /// Identifies a resumable (tus) upload.
    UploadId
);
ksuid_newtype!(
    /// Identifies one claim of a job by a worker: only the holder of the current claim can
    /// finish the job.
    ClaimToken
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_value_round_trips() {
        // Reference value from the KSUID specification.
        let text = "0ujtsYcgvSTl8PAuAdqWYSMnLOv";
        let id = Ksuid::parse(text).unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(id.timestamp().timestamp(), 1_507_608_047);
    }

    #[test]
    fn extremes() {
        assert_eq!(Ksuid([0; 20]).to_string(), "000000000000000000000000000");
        assert_eq!(Ksuid([0xFF; 20]).to_string(), "aWgEPTl1tmebfsQzFP4bxwgy80V");
        assert_eq!(Ksuid::parse("aWgEPTl1tmebfsQzFP4bxwgy80W"), Err(IdError::Overflow));
        assert_eq!(Ksuid::parse("zzzzzzzzzzzzzzzzzzzzzzzzzzz"), Err(IdError::Overflow));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(Ksuid::parse(""), Err(IdError::Length(0)));
        assert_eq!(Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLO"), Err(IdError::Length(26)));
        assert_eq!(Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLO-"), Err(IdError::Alphabet));
        assert!(MediaId::parse("1; DROP TABLE users; ------").is_err());
        assert!(UserId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOé").is_err());
    }

    #[test]
    fn ids_sort_by_time() {
        let early = Ksuid::from_parts(DateTime::from_timestamp(1_600_000_000, 0).unwrap(), [0xFF; 16]);
        let late = Ksuid::from_parts(DateTime::from_timestamp(1_600_000_001, 0).unwrap(), [0; 16]);
        assert!(early < late);
        assert!(early.to_string() < late.to_string());
    }

    #[test]
    fn generated_ids_differ() {
        let now = Utc::now();
        assert_ne!(Ksuid::generate(now), Ksuid::generate(now));
    }

    proptest! {
        #[test]
        fn any_raw_value_round_trips(raw in proptest::array::uniform20(any::<u8>())) {
            let id = Ksuid(raw);
            let text = id.to_string();
            prop_assert_eq!(text.len(), KSUID_LEN);
            prop_assert_eq!(Ksuid::parse(&text).unwrap(), id);
        }

        #[test]
        fn text_order_is_byte_order(a in proptest::array::uniform20(any::<u8>()), b in proptest::array::uniform20(any::<u8>())) {
            prop_assert_eq!(Ksuid(a).cmp(&Ksuid(b)), Ksuid(a).to_string().cmp(&Ksuid(b).to_string()));
        }

        #[test]
        fn garbage_never_panics(text in "\\PC{0,40}") {
            let _ = Ksuid::parse(&text);
        }
    }
}
