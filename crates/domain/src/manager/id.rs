use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 24-character lowercase hex id in MongoDB ObjectID format (4-byte
/// seconds timestamp, 5 random bytes, 3-byte counter), used by both stores.
/// Ordering by id is creation order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId([u8; 12]);

static PROCESS_RANDOM: LazyLock<[u8; 5]> = LazyLock::new(|| {
    let mut bytes = [0u8; 5];
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        ^ u128::from(std::process::id()) << 64;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(seed.to_le_bytes());
    bytes.copy_from_slice(&digest[..5]);
    bytes
});
static COUNTER: LazyLock<AtomicU32> = LazyLock::new(|| AtomicU32::new(u32::from(PROCESS_RANDOM[0]) << 8));

impl ObjectId {
    /// The all-zero id: creator and updater of bootstrap records.
    pub const ZERO: ObjectId = ObjectId([0; 12]);

    pub fn new() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or_default();
        let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        bytes[4..9].copy_from_slice(&*PROCESS_RANDOM);
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        Self(bytes)
    }

    /// Accepts 24 hex characters in either case; normalised to lowercase.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 24 {
            return None;
        }
        let mut bytes = [0u8; 12];
        hex::decode_to_slice(text.to_ascii_lowercase(), &mut bytes).ok()?;
        Some(Self(bytes))
    }

    pub fn bytes(&self) -> [u8; 12] {
        self.0
    }

    pub fn from_bytes(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }
}

impl Default for ObjectId {
    fn default() -> Self {
        Self::ZERO
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("expected a 24-character hex id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex_unique_and_ordered() {
        let a = ObjectId::new();
        let b = ObjectId::new();
        assert_ne!(a, b);
        assert!(a < b);
        assert_eq!(a.to_string().len(), 24);
        assert_eq!(ObjectId::parse(&a.to_string().to_uppercase()), Some(a));
        assert!(ObjectId::parse("xyz").is_none());
        assert!(ObjectId::parse("65f0c1d2e3f4a5b6c7d8e9fz").is_none());
        assert_eq!(ObjectId::ZERO.to_string(), "000000000000000000000000");
    }
}
