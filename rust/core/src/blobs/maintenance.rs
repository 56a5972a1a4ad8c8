//! Keeping a store healthy: listing, usage, verification, deletion and garbage collection.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rayon::prelude::*;

use super::digest::{hash_file, Digest};
use super::layout::Kind;
use super::read::{Located, OpenBlob};
use super::BlobStore;
use crate::error::IoContext;
use crate::{Error, Result};

/// What a store holds on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Blobs stored (whole or chunked).
    pub blobs: u64,
    /// Chunk files.
    pub chunks: u64,
    /// Bytes of all stored files: whole blobs, chunks and manifests.
    pub bytes: u64,
}

/// The outcome of [`BlobStore::verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blobs re-hashed.
    pub checked: u64,
    /// Each damaged blob with what is wrong with it, in digest order.
    pub corrupt: Vec<(Digest, String)>,
    /// Packs whose index is damaged and could not be rebuilt from the pack (their blobs are
    /// unreadable; the files are kept), by pack id, with what is wrong.
    pub damaged_packs: Vec<(String, String)>,
}

/// What [`BlobStore::verify_each`] reports for a blob that is not stored at all.
pub const MISSING: &str = "missing from the store";

/// What re-hashing does with a blob that is not stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Skip,
    Report,
    Fail,
}

/// The outcome of [`BlobStore::gc`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs_removed: u64,
    /// Chunks deleted (no surviving blob uses them).
    pub chunks_removed: u64,
    /// Leftover temporary files of interrupted writes deleted.
    pub temp_removed: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
}

impl BlobStore {
    /// Every stored blob's digest, sorted.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut digests = self.layout.list(Kind::Object)?;
        digests.extend(self.layout.list(Kind::Manifest)?);
        self.refresh_packs()?;
        digests.extend(self.packs().digests().copied());
        digests.sort_unstable();
        digests.dedup();
        Ok(digests)
    }

    /// Counts blobs and chunks and adds up the bytes they take.
    pub fn usage(&self) -> Result<Usage> {
        let mut usage = Usage {
            blobs: self.list()?.len() as u64,
            ..Usage::default()
        };
        for kind in [Kind::Object, Kind::Manifest, Kind::Chunk] {
            let digests = self.layout.list(kind)?;
            let bytes: u64 = digests
                .par_iter()
                .map(|d| fs::metadata(self.layout.path(kind, d)).map_or(0, |m| m.len()))
                .sum();
            usage.bytes += bytes;
            if kind == Kind::Chunk {
                usage.chunks = digests.len() as u64;
            }
        }
        let packs = self.layout.packs_dir();
        for entry in fs::read_dir(&packs).at("list", &packs)? {
            let entry = entry.at("list", &packs)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".pack") || name.ends_with(".idx") {
                usage.bytes += entry.metadata().map_or(0, |m| m.len());
            }
        }
        Ok(usage)
    }

    /// Re-hashes one blob, or every blob when `digest` is `None`, in parallel, and reports the
    /// damaged ones. A missing single blob is an error; damage is a finding, not an error.
    pub fn verify(&self, digest: Option<&Digest>) -> Result<VerifyReport> {
        let digests = match digest {
            Some(d) => {
                self.locate(d)?;
                vec![*d]
            }
            None => self.list()?,
        };
        // A blob deleted by someone else since we listed them all: nothing to check.
        let missing = if digest.is_none() {
            Missing::Skip
        } else {
            Missing::Fail
        };
        let corrupt = self.findings(&digests, missing)?;
        let mut damaged_packs: Vec<(String, String)> = self
            .packs()
            .damaged()
            .map(|(id, why)| (id.to_owned(), why.to_owned()))
            .collect();
        damaged_packs.sort_unstable();
        Ok(VerifyReport {
            checked: digests.len() as u64,
            corrupt,
            damaged_packs,
        })
    }

    /// Re-hashes the given blobs in parallel and reports every one that is missing (with
    /// [`MISSING`] as its finding) or damaged, in digest order; `checked` counts them all.
    pub fn verify_each(&self, digests: &[Digest]) -> Result<VerifyReport> {
        let mut unique = digests.to_vec();
        unique.sort_unstable();
        unique.dedup();
        Ok(VerifyReport {
            checked: unique.len() as u64,
            corrupt: self.findings(&unique, Missing::Report)?,
            damaged_packs: Vec::new(),
        })
    }

    /// Re-hashes `digests` in parallel: each damaged one with what is wrong, in their order,
    /// and a missing one as `missing` says.
    fn findings(&self, digests: &[Digest], missing: Missing) -> Result<Vec<(Digest, String)>> {
        let found: Vec<Option<(Digest, String)>> = digests
            .par_iter()
            .map(|d| match self.check(d) {
                Ok(()) => Ok(None),
                Err(Error::Corrupt { detail, .. }) => Ok(Some((*d, detail))),
                Err(Error::BlobNotFound { .. }) if missing == Missing::Skip => Ok(None),
                Err(Error::BlobNotFound { .. }) if missing == Missing::Report => {
                    Ok(Some((*d, MISSING.to_owned())))
                }
                Err(err) => Err(err),
            })
            .collect::<Result<_>>()?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Re-hashes the given blobs (in parallel) and fails with [`Error::Corrupt`] naming the
    /// first that no longer matches its digest, or [`Error::BlobNotFound`] for a missing one.
    pub fn verify_digests(&self, digests: &[Digest]) -> Result<()> {
        digests.par_iter().try_for_each(|d| self.check(d))
    }

    /// Removes a blob; returns whether it was stored. Its chunks are reclaimed by [`Self::gc`]
    /// once no other blob uses them.
    pub fn delete(&self, digest: &Digest) -> Result<bool> {
        let mut removed = self.delete_packed(digest)?;
        for kind in [Kind::Object, Kind::Manifest] {
            let path = self.layout.path(kind, digest);
            match fs::remove_file(&path) {
                Ok(()) => removed = true,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io("delete", &path, err)),
            }
        }
        Ok(removed)
    }

    /// Deletes those of `digests` that no put wrote or reused within `grace` (their chunks go at
    /// the next [`Self::gc`]); the rest stay. For callers that know which blobs they just
    /// stopped referencing and have checked that nothing else references them: unlike
    /// [`Self::delete`] this spares a blob that a concurrent put, not yet recorded, reuses.
    pub fn delete_stale(&self, digests: &[Digest], grace: Duration) -> Result<GcReport> {
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = GcReport::default();
        for digest in digests {
            for kind in [Kind::Object, Kind::Manifest] {
                let path = self.layout.path(kind, digest);
                if remove_if_older(&path, cutoff, &mut report.bytes_freed)? {
                    report.blobs_removed += 1;
                }
            }
        }
        self.refresh_packs()?;
        let wanted: HashSet<Digest> = digests.iter().copied().collect();
        let packs: HashSet<String> = {
            let index = self.packs();
            digests
                .iter()
                .filter_map(|d| index.get(d).map(|e| e.pack.to_string()))
                .collect()
        };
        for id in packs {
            if let Some(removed) = self.rewrite_pack(&id, &|d| !wanted.contains(d), Some(cutoff))? {
                report.blobs_removed += removed.blobs;
                report.bytes_freed += removed.bytes;
            }
        }
        Ok(report)
    }

    /// Deletes every blob not in `live`, then every chunk no remaining blob uses, then leftover
    /// temporary files. Files modified within `grace` are spared, so a put running concurrently
    /// in another process (which refreshes what it reuses) never loses content.
    pub fn gc(&self, live: &HashSet<Digest>, grace: Duration) -> Result<GcReport> {
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = GcReport::default();
        let mut used_chunks = HashSet::new();
        let mut temps = Vec::new();
        for kind in [Kind::Object, Kind::Manifest] {
            let (digests, kind_temps) = self.layout.scan(kind)?;
            temps.extend(kind_temps);
            for digest in digests {
                let path = self.layout.path(kind, &digest);
                let removed = !live.contains(&digest)
                    && remove_if_older(&path, cutoff, &mut report.bytes_freed)?;
                if removed {
                    report.blobs_removed += 1;
                } else if kind == Kind::Manifest {
                    if let Ok(Located::Chunked(m)) = self.locate(&digest) {
                        used_chunks.extend(m.chunks.iter().map(|c| c.digest));
                    }
                }
            }
        }
        self.restore_lost_indexes(cutoff)?;
        let packed = self.gc_packs(live, cutoff)?;
        report.blobs_removed += packed.blobs;
        report.bytes_freed += packed.bytes;
        temps.extend(self.pack_leftovers()?);
        let (chunks, chunk_temps) = self.layout.scan(Kind::Chunk)?;
        temps.extend(chunk_temps);
        for digest in chunks {
            let path = self.layout.path(Kind::Chunk, &digest);
            if !used_chunks.contains(&digest)
                && remove_if_older(&path, cutoff, &mut report.bytes_freed)?
            {
                report.chunks_removed += 1;
            }
        }
        for path in temps {
            if remove_if_older(&path, cutoff, &mut report.bytes_freed)? {
                report.temp_removed += 1;
            }
        }
        Ok(report)
    }

    /// Re-hashes one blob; `Err(Corrupt)` describes damage.
    fn check(&self, digest: &Digest) -> Result<()> {
        match self.locate(digest)? {
            Located::Whole { path, .. } => {
                let actual = hash_file(&path)?;
                if actual == *digest {
                    Ok(())
                } else {
                    Err(Error::Corrupt {
                        digest: digest.to_hex(),
                        detail: format!("its bytes hash to {actual}"),
                    })
                }
            }
            located @ Located::Packed(_) => {
                let blob = OpenBlob {
                    store: self,
                    digest: *digest,
                    located,
                };
                let mut bytes = vec![0u8; blob.size() as usize];
                blob.read_into(&mut bytes).map(|_| ())
            }
            Located::Chunked(manifest) => {
                let mut whole = blake3::Hasher::new();
                for chunk in &manifest.chunks {
                    let path = self.layout.path(Kind::Chunk, &chunk.digest);
                    let data = fs::read(&path).map_err(|err| Error::Corrupt {
                        digest: digest.to_hex(),
                        detail: format!("its chunk {} cannot be read ({err})", chunk.digest),
                    })?;
                    if data.len() != chunk.len as usize || Digest::of(&data) != chunk.digest {
                        return Err(Error::Corrupt {
                            digest: digest.to_hex(),
                            detail: format!("its chunk {} is damaged", chunk.digest),
                        });
                    }
                    whole.update(&data);
                }
                let actual = Digest::from(whole.finalize());
                if actual == *digest {
                    Ok(())
                } else {
                    Err(Error::Corrupt {
                        digest: digest.to_hex(),
                        detail: format!("its chunks hash to {actual}"),
                    })
                }
            }
        }
    }
}

impl BlobStore {
    /// Files in `packs/` that are not a live pack: temporaries of interrupted batches, packs
    /// whose index never got renamed into place, and lock files of rewritten packs.
    fn pack_leftovers(&self) -> Result<Vec<std::path::PathBuf>> {
        let dir = self.layout.packs_dir();
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).at("list", &dir)? {
            let path = entry.at("list", &dir)?.path();
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            let stem = path
                .file_stem()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            names.push((ext.to_owned(), stem.to_owned(), path));
        }
        // A named pack is never a leftover, index or not: it may hold the only copy of
        // referenced blobs (only `.put-` temporaries are interrupted writes).
        let packs: HashSet<&str> = names
            .iter()
            .filter(|(ext, ..)| matches!(ext.as_str(), "pack" | "idx"))
            .map(|(_, stem, _)| stem.as_str())
            .collect();
        let leftovers = names
            .iter()
            .filter(|(ext, stem, _)| {
                let live = matches!(ext.as_str(), "idx" | "pack")
                    || (ext == "lock" && packs.contains(stem.as_str()));
                !live
            })
            .map(|(.., path)| path.clone())
            .collect();
        Ok(leftovers)
    }
}

/// Deletes `path` when it was last modified before `cutoff`; returns whether it did.
fn remove_if_older(path: &Path, cutoff: SystemTime, bytes_freed: &mut u64) -> Result<bool> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(false);
    };
    if meta.modified().at("read", path)? > cutoff {
        return Ok(false);
    }
    match fs::remove_file(path) {
        Ok(()) => {
            *bytes_freed += meta.len();
            Ok(true)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(Error::io("delete", path, err)),
    }
}
