//! The manifest of a chunked blob: its size and the ordered list of its chunks.
//!
//! Binary, little-endian: the magic `AIDOTMF1`, the total size (u64), the chunk count (u64), then
//! per chunk its digest (32 bytes) and length (u32). A manifest is named by the digest of the
//! whole content, so the content it describes is checkable end to end.

use super::digest::Digest;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"AIDOTMF1";
const HEADER_LEN: usize = 24;
const ENTRY_LEN: usize = 36;

/// One chunk of a chunked blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkRef {
    pub(crate) digest: Digest,
    pub(crate) len: u32,
}

/// The ordered chunks of one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) size: u64,
    pub(crate) chunks: Vec<ChunkRef>,
}

impl Manifest {
    pub(crate) fn new(chunks: Vec<ChunkRef>) -> Self {
        let size = chunks.iter().map(|c| u64::from(c.len)).sum();
        Self { size, chunks }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN * self.chunks.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&(self.chunks.len() as u64).to_le_bytes());
        for chunk in &self.chunks {
            out.extend_from_slice(chunk.digest.as_bytes());
            out.extend_from_slice(&chunk.len.to_le_bytes());
        }
        out
    }

    /// Decodes a manifest; `digest` names the blob in the error when the bytes are damaged.
    pub(crate) fn decode(bytes: &[u8], digest: &Digest) -> Result<Self> {
        let corrupt = |detail: &str| Error::Corrupt {
            digest: digest.to_hex(),
            detail: format!("its manifest {detail}"),
        };
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(corrupt("has no valid header"));
        }
        let size = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let count = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
        let body = &bytes[HEADER_LEN..];
        if body.len() as u64 != count.saturating_mul(ENTRY_LEN as u64) {
            return Err(corrupt("is truncated"));
        }
        let chunks: Vec<ChunkRef> = body
            .chunks_exact(ENTRY_LEN)
            .map(|entry| ChunkRef {
                digest: Digest::from_bytes(entry[..32].try_into().expect("32 bytes")),
                len: u32::from_le_bytes(entry[32..].try_into().expect("4 bytes")),
            })
            .collect();
        let manifest = Self::new(chunks);
        if manifest.size != size {
            return Err(corrupt("lists chunks that do not add up to its size"));
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let manifest = Manifest::new(vec![
            ChunkRef {
                digest: Digest::of(b"a"),
                len: 10,
            },
            ChunkRef {
                digest: Digest::of(b"b"),
                len: 7,
            },
        ]);
        let digest = Digest::of(b"whole");
        assert_eq!(
            Manifest::decode(&manifest.encode(), &digest).unwrap(),
            manifest
        );
    }

    #[test]
    fn damaged_manifests_are_reported_as_corrupt() {
        let digest = Digest::of(b"whole");
        let good = Manifest::new(vec![ChunkRef {
            digest: Digest::of(b"a"),
            len: 10,
        }])
        .encode();
        for bad in [
            &good[..10],
            &good[..good.len() - 1],
            b"NOTAMANIFEST-NOTAMANIFEST",
        ] {
            assert!(matches!(
                Manifest::decode(bad, &digest),
                Err(Error::Corrupt { .. })
            ));
        }
        let mut wrong_size = good.clone();
        wrong_size[8] = 99;
        assert!(matches!(
            Manifest::decode(&wrong_size, &digest),
            Err(Error::Corrupt { .. })
        ));
    }
}
