//! Removing blobs from packs: packs are immutable, so a pack losing blobs is rewritten with the
//! rest (or removed when none is left). A lock file per pack keeps two processes from
//! rewriting the same pack at once, which would resurrect each other's deletions.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::Path;
use std::time::SystemTime;

use super::digest::Digest;
use super::pack::{decode_index, index_path, pack_path, read_entry, rebuild_index, PackEntry};
use super::write::{Durability, Writer};
use super::BlobStore;
use crate::error::IoContext;
use crate::{Error, Result};

/// What rewriting one pack removed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Removed {
    pub(crate) blobs: u64,
    pub(crate) bytes: u64,
}

impl BlobStore {
    /// Ids of the packs on disk (those with an index).
    pub(crate) fn pack_ids(&self) -> Result<Vec<String>> {
        let dir = self.layout.packs_dir();
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).at("list", &dir)? {
            let name = entry.at("list", &dir)?.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".idx")) {
                if !id.starts_with(super::layout::TEMP_PREFIX) {
                    ids.push(id.to_owned());
                }
            }
        }
        Ok(ids)
    }

    /// The entries of pack `id`, or None when it is gone (rewritten by someone else) or its
    /// index is damaged beyond rebuilding (the pack is then left as it is).
    pub(crate) fn pack_entries(&self, id: &str) -> Result<Option<Vec<(Digest, u64, u32)>>> {
        let dir = self.layout.packs_dir();
        let path = index_path(&dir, id);
        match fs::read(&path) {
            Ok(bytes) => Ok(decode_index(&bytes, &path)
                .or_else(|_| rebuild_index(&dir, id))
                .ok()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::io("read", &path, err)),
        }
    }

    /// Gives back their index to packs that lost it (deleted by hand, or a crash between the
    /// two renames of a commit) and have not been touched since `cutoff`, from the copy each
    /// pack carries; returns how many. Under the pack's lock, so never racing a rewrite.
    pub(crate) fn restore_lost_indexes(&self, cutoff: SystemTime) -> Result<u64> {
        let dir = self.layout.packs_dir();
        let mut restored = 0;
        for entry in fs::read_dir(&dir).at("list", &dir)? {
            let path = entry.at("list", &dir)?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pack"))
                .filter(|id| !id.starts_with(super::layout::TEMP_PREFIX))
            else {
                continue;
            };
            if index_path(&dir, id).exists() {
                continue;
            }
            let old = fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t <= cutoff);
            if !old {
                continue;
            }
            let _lock = PackLock::acquire(&dir, id)?;
            if path.exists() && !index_path(&dir, id).exists() && rebuild_index(&dir, id).is_ok() {
                restored += 1;
            }
        }
        if restored > 0 {
            self.refresh_packs()?;
        }
        Ok(restored)
    }

    /// Rewrites pack `id` keeping only the blobs `keep` accepts; returns what went, or None
    /// when the pack no longer exists. When `cutoff` is given, a pack modified after it (a put
    /// just reused one of its blobs) is left alone.
    pub(crate) fn rewrite_pack(
        &self,
        id: &str,
        keep: &dyn Fn(&Digest) -> bool,
        cutoff: Option<SystemTime>,
    ) -> Result<Option<Removed>> {
        let dir = self.layout.packs_dir();
        let _lock = PackLock::acquire(&dir, id)?;
        let Some(entries) = self.pack_entries(id)? else {
            return Ok(None);
        };
        let pack = pack_path(&dir, id);
        let index = index_path(&dir, id);
        if let Some(cutoff) = cutoff {
            if fs::metadata(&pack)
                .and_then(|m| m.modified())
                .at("read", &pack)?
                > cutoff
            {
                return Ok(Some(Removed::default()));
            }
        }
        let (kept, dropped): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(d, ..)| keep(d));
        if dropped.is_empty() {
            return Ok(Some(Removed::default()));
        }
        if !kept.is_empty() {
            let writer = Writer::new(&self.layout, Durability::Batch).with_packs(&self.packs);
            let pack_id: std::sync::Arc<str> = std::sync::Arc::from(id);
            let mut buffer = Vec::new();
            for (digest, offset, len) in &kept {
                buffer.resize(*len as usize, 0);
                let entry = PackEntry {
                    pack: pack_id.clone(),
                    offset: *offset,
                    len: *len,
                };
                read_entry(&dir, &entry, &mut buffer).at("read", &pack)?;
                // Bytes are carried over as they are: damage stays visible to `verify`.
                writer.pack(*digest, &buffer)?;
            }
            writer.commit()?;
        }
        // The old index goes first: from then on nobody looks for blobs in the old pack.
        let freed = file_len(&index) + file_len(&pack);
        remove_if_present(&index)?;
        remove_if_present(&pack)?;
        self.refresh_packs()?;
        let kept_bytes: u64 = kept.iter().map(|(_, _, len)| u64::from(*len)).sum();
        Ok(Some(Removed {
            blobs: dropped.len() as u64,
            bytes: freed.saturating_sub(kept_bytes),
        }))
    }

    /// Deletes one packed blob; returns whether it was there.
    pub(crate) fn delete_packed(&self, digest: &Digest) -> Result<bool> {
        // A concurrent rewrite may move the blob to a new pack: follow it a few times.
        for _ in 0..8 {
            self.refresh_packs()?;
            let Some(id) = self.packs().get(digest).map(|e| e.pack.to_string()) else {
                return Ok(false);
            };
            if let Some(removed) = self.rewrite_pack(&id, &|d| d != digest, None)? {
                return Ok(removed.blobs > 0);
            }
        }
        Err(Error::io(
            "delete from the packs of",
            self.root(),
            std::io::Error::other("packs kept changing under this delete; try again"),
        ))
    }

    /// Packed blobs not in `live` whose pack is older than `cutoff` go; packs with nothing
    /// left are removed. Returns the blobs removed and bytes freed.
    pub(crate) fn gc_packs(&self, live: &HashSet<Digest>, cutoff: SystemTime) -> Result<Removed> {
        let mut total = Removed::default();
        for id in self.pack_ids()? {
            if let Some(removed) = self.rewrite_pack(&id, &|d| live.contains(d), Some(cutoff))? {
                total.blobs += removed.blobs;
                total.bytes += removed.bytes;
            }
        }
        Ok(total)
    }
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io("delete", path, err)),
    }
}

/// An exclusive advisory lock on one pack, held while it is rewritten.
struct PackLock {
    _file: File,
}

impl PackLock {
    fn acquire(dir: &Path, id: &str) -> Result<Self> {
        let path = dir.join(format!("{id}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at("create", &path)?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: the descriptor is open for the lifetime of `file`; the lock is released
            // when it is closed.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(Error::io("lock", &path, std::io::Error::last_os_error()));
            }
        }
        Ok(Self { _file: file })
    }
}
