//! BLAKE3 digests: the names of blobs and chunks.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The BLAKE3 digest of some content; its hex form is what `b3sum` prints.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Below this size, spreading a hash over threads costs more than it saves.
const PARALLEL_MIN: usize = 1 << 20;

impl Digest {
    /// Length of the hex form.
    pub const HEX_LEN: usize = 64;

    /// Hashes `data` in one call.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// Hashes `data` on every core when it is large enough for that to pay (BLAKE3 is a tree:
    /// the digest is the same either way).
    pub fn of_parallel(data: &[u8]) -> Self {
        if data.len() < PARALLEL_MIN {
            return Self::of(data);
        }
        Self(
            *blake3::Hasher::new()
                .update_rayon(data)
                .finalize()
                .as_bytes(),
        )
    }

    /// Parses a hex digest; upper-case letters are accepted and normalised.
    pub fn parse(value: &str) -> Result<Self> {
        let invalid = || Error::InvalidDigest {
            value: value.to_owned(),
        };
        if value.len() != Self::HEX_LEN {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(value, &mut bytes).map_err(|_| invalid())?;
        Ok(Self(bytes))
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Builds a digest from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The lower-case hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Self {
        Self(*hash.as_bytes())
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// The digest of a file's content, read by streaming, or for 1 MiB and more through a map
/// hashed on every core. Used to verify stored files and to hash a tree without storing it.
pub fn hash_file(path: &std::path::Path) -> crate::Result<Digest> {
    use std::io::Read;

    use crate::error::IoContext;

    let mut file = std::fs::File::open(path).at("open", path)?;
    let len = file.metadata().at("read", path)?.len();
    if len >= 1 << 20 {
        // SAFETY: a read-only private map. Stored files are never modified in place (they are
        // renamed into place whole); a truncation by someone else raises SIGBUS, as it would
        // for `b3sum`, which maps files the same way. `populate` maps every page up front in
        // one kernel call rather than faulting them in 4 KiB at a time while the hash threads
        // run.
        if let Ok(map) = unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
            return Ok(Digest::of_parallel(&map));
        }
    }
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).at("read", path)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_matches_b3sum_of_empty_input() {
        // `b3sum /dev/null` prints this digest.
        let empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
        assert_eq!(Digest::of(b"").to_hex(), empty);
        assert_eq!(Digest::parse(empty).unwrap(), Digest::of(b""));
        assert_eq!(
            Digest::parse(&empty.to_uppercase()).unwrap(),
            Digest::of(b"")
        );
    }

    #[test]
    fn malformed_digests_are_rejected() {
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            assert!(
                matches!(Digest::parse(bad), Err(Error::InvalidDigest { .. })),
                "{bad}"
            );
        }
    }
}
