//! Atomic, durable, idempotent writes of content-addressed files.
//!
//! Every file is written under a temporary name in its destination folder and renamed into
//! place only once complete, so a reader (or a process killed mid-write) never sees a partial
//! file. Two processes writing the same digest
//! both rename identical bytes onto the same name, which is harmless.
//!
//! Durability comes in two modes. [`Durability::PerFile`] fsyncs each file before its rename and
//! its folder after: right for a single small put. [`Durability::Batch`] only writes the temporary
//! files and, at [`Writer::commit`], flushes the filesystem once, renames everything into place,
//! and flushes again: the data is durable before any name points at it, and a batch of 50,000
//! files costs two flushes instead of 50,000 (per-file fsync is what makes `dvc add` slow).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use rayon::prelude::*;
use tempfile::{Builder, TempPath};

use super::digest::Digest;
use super::layout::{Kind, Layout};
use super::lease::{temp_prefix, Lease};
use super::pack::{PackBuilder, PackIndex};
use crate::error::IoContext;
use crate::{Error, Result};

/// When written data is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// fsync each file before renaming it into place.
    PerFile,
    /// Make the whole batch durable at once in [`Writer::commit`].
    Batch,
}

/// Whether written content goes through the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caching {
    Keep,
    /// Past the page cache when large enough to gain from it (Linux).
    BypassLarge,
}

/// What happened to one file handed to the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The content was already stored; nothing was written.
    Existing,
    /// This many new bytes were written.
    Written(u64),
}

impl Outcome {
    pub(crate) fn bytes_written(self) -> u64 {
        match self {
            Outcome::Existing => 0,
            Outcome::Written(n) => n,
        }
    }
}

#[derive(Default)]
struct Pending {
    renames: Vec<(TempPath, PathBuf)>,
    destinations: HashSet<PathBuf>,
}

/// Writes files into a store; see the module documentation for the guarantees.
pub(crate) struct Writer<'a> {
    layout: &'a Layout,
    durability: Durability,
    pending: Mutex<Pending>,
    /// Set for batches large enough to pack their small blobs (see `pack.rs`).
    packs: Option<(Mutex<PackBuilder>, &'a RwLock<PackIndex>)>,
    /// Taken before the first temporary file, so that a crash's leftovers are found.
    lease: OnceLock<Lease>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(layout: &'a Layout, durability: Durability) -> Self {
        Self {
            layout,
            durability,
            pending: Mutex::new(Pending::default()),
            packs: None,
            lease: OnceLock::new(),
        }
    }

    fn lease(&self) {
        self.lease.get_or_init(|| Lease::take(self.layout.root()));
    }

    /// Packs small blobs of this batch; committed packs are added to `index`.
    pub(crate) fn with_packs(mut self, index: &'a RwLock<PackIndex>) -> Self {
        debug_assert_eq!(self.durability, Durability::Batch);
        let builder = PackBuilder::new(self.layout.packs_dir());
        self.packs = Some((Mutex::new(builder), index));
        self
    }

    /// Whether small blobs go into a pack.
    pub(crate) fn packing(&self) -> bool {
        self.packs.is_some()
    }

    /// Appends a small blob to this batch's pack (the caller checked it is not stored yet).
    pub(crate) fn pack(&self, digest: Digest, data: &[u8]) -> Result<Outcome> {
        let (builder, _) = self.packs.as_ref().expect("pack() needs with_packs()");
        self.lease();
        let (added, writes) = builder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(digest, data)?;
        // Outside the lock: other threads keep appending while this one waits for the disk.
        for write in writes {
            let buffer = write.run()?;
            builder
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .recycle(buffer);
        }
        Ok(if added {
            Outcome::Written(data.len() as u64)
        } else {
            Outcome::Existing
        })
    }

    /// Stores `data` at `dest` unless a file is already there.
    pub(crate) fn write(&self, dest: PathBuf, data: &[u8]) -> Result<Outcome> {
        self.write_with(dest, data, Caching::Keep)
    }

    /// Like [`Writer::write`], for chunks of large content: a large one is written past the page
    /// cache (see `direct.rs`).
    pub(crate) fn write_chunk(&self, dest: PathBuf, data: &[u8]) -> Result<Outcome> {
        self.write_with(dest, data, Caching::BypassLarge)
    }

    fn write_with(&self, dest: PathBuf, data: &[u8], caching: Caching) -> Result<Outcome> {
        if exists_and_touch(&dest) {
            return Ok(Outcome::Existing);
        }
        if self.durability == Durability::Batch && self.lock().destinations.contains(&dest) {
            return Ok(Outcome::Existing);
        }
        let tmp = self.write_temp(&dest, data, caching)?;
        match self.durability {
            Durability::PerFile => {
                persist(tmp, &dest)?;
                sync_dir(dest.parent().expect("store paths have a parent"))?;
            }
            Durability::Batch => {
                let mut pending = self.lock();
                // Another thread of this batch may have queued the same content meanwhile.
                if pending.destinations.insert(dest.clone()) {
                    pending.renames.push((tmp, dest));
                }
            }
        }
        Ok(Outcome::Written(data.len() as u64))
    }

    /// Makes everything written so far durable and visible. Dropping a writer without committing
    /// it deletes its temporary files, so nothing becomes visible.
    pub(crate) fn commit(self) -> Result<()> {
        let pending = self
            .pending
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let (packs, index) = match self.packs {
            Some((builder, index)) => {
                let builder = builder.into_inner().unwrap_or_else(PoisonError::into_inner);
                (builder.finish()?, Some(index))
            }
            None => (Vec::new(), None),
        };
        if pending.renames.is_empty() && packs.is_empty() {
            return Ok(());
        }
        // Data first (chunks, whole objects and pack files, in parallel), then what names it
        // (manifests and pack indexes): nothing ever names a file that is not yet visible.
        let manifests = self.layout.kind_dir(Kind::Manifest);
        let (mut data, mut names): (Vec<_>, Vec<_>) = pending
            .renames
            .into_iter()
            .map(|(tmp, dest)| Rename {
                tmp,
                dest,
                replace: true,
            })
            .partition(|r| !r.dest.starts_with(&manifests));
        let mut committed = Vec::new();
        for pack in packs {
            // Pack ids are unique; refusing to replace makes a clash an error, never a loss.
            data.push(Rename {
                tmp: pack.pack.0,
                dest: pack.pack.1,
                replace: false,
            });
            names.push(Rename {
                tmp: pack.index.0,
                dest: pack.index.1,
                replace: false,
            });
            committed.push((pack.id, pack.entries));
        }
        let root = self.layout.root();
        let temps: Vec<&TempPath> = data.iter().chain(&names).map(|r| &r.tmp).collect();
        sync_filesystem(root, &temps)?;
        super::put::io_pool().install(|| {
            data.into_par_iter()
                .with_min_len(256)
                .try_for_each(Rename::apply)
        })?;
        names.into_iter().try_for_each(Rename::apply)?;
        sync_filesystem(root, &[])?;
        if let Some(index) = index {
            let mut index = index.write().unwrap_or_else(PoisonError::into_inner);
            for (id, entries) in committed {
                index.insert_committed(&id, &entries);
            }
        }
        Ok(())
    }

    fn write_temp(&self, dest: &Path, data: &[u8], caching: Caching) -> Result<TempPath> {
        self.lease();
        let dir = dest.parent().expect("store paths have a parent");
        let file = match temp_builder().tempfile_in(dir) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                // The first file of this shard: create its folder, durably.
                fs::create_dir_all(dir).at("create folder", dir)?;
                sync_dir(dir.parent().expect("shards have a parent"))?;
                temp_builder()
                    .tempfile_in(dir)
                    .at("create a file in", dir)?
            }
            Err(err) => return Err(Error::io("create a file in", dir, err)),
        };
        let direct = write_content(file.as_file(), data, caching).at("write", dest)?;
        match self.durability {
            Durability::PerFile => file.as_file().sync_all().at("sync", dest)?,
            // Direct writes are on their way to disk already.
            Durability::Batch if !direct && data.len() >= EARLY_WRITEBACK_MIN => {
                start_writeback(file.as_file());
            }
            Durability::Batch => {}
        }
        Ok(file.into_temp_path())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Stored files are read-only: a hard-linked export cannot change the store by accident.
fn temp_builder() -> Builder<'static, 'static> {
    let mut builder = Builder::new();
    builder.prefix(temp_prefix());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o444));
    }
    builder
}

fn persist(tmp: TempPath, dest: &Path) -> Result<()> {
    tmp.persist(dest)
        .map_err(|err| Error::io("rename into", dest, err.error))
}

/// Writes `data` into the new, empty `file`; true when it went past the page cache.
fn write_content(file: &File, data: &[u8], caching: Caching) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    if caching == Caching::BypassLarge && data.len() >= super::direct::DIRECT_MIN {
        super::direct::write_all(file, data)?;
        return Ok(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = caching;
    let mut file = file;
    file.write_all(data)?;
    Ok(false)
}

/// Writes of at least this size start their writeback at once, so that the flush at commit
/// finds most of a large file already on its way to disk.
const EARLY_WRITEBACK_MIN: usize = 1 << 20;

/// Asks the kernel to start writing `file` back without waiting (Linux `sync_file_range`).
fn start_writeback(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open; the call only schedules I/O. Failure is harmless:
        // the commit's flush writes the data anyway.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// True when `path` exists; its modification time is then set to now, which tells a concurrent
/// `gc` (that spares recent files) that the content was just referenced again.
pub(crate) fn exists_and_touch(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: `c_path` is a valid NUL-terminated string; a null `times` means "now".
        unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), std::ptr::null(), 0) == 0 }
    }
    #[cfg(not(unix))]
    {
        match File::options().write(true).open(path) {
            Ok(file) => file.set_modified(std::time::SystemTime::now()).is_ok(),
            Err(_) => path.exists(),
        }
    }
}

/// fsyncs a folder so that a rename into it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("sync folder", dir)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A temporary file to rename into place at commit.
struct Rename {
    tmp: TempPath,
    dest: PathBuf,
    replace: bool,
}

impl Rename {
    fn apply(self) -> Result<()> {
        if self.replace {
            return persist(self.tmp, &self.dest);
        }
        self.tmp
            .persist_noclobber(&self.dest)
            .map_err(|err| Error::io("rename into", &self.dest, err.error))
    }
}

/// Flushes the store's filesystem once (Linux `syncfs`); elsewhere each pending file is synced.
fn sync_filesystem(root: &Path, pending: &[&TempPath]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let _ = pending;
        let dir = File::open(root).at("open", root)?;
        // SAFETY: `dir` is an open descriptor for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(Error::io(
                "sync the filesystem of",
                root,
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        for tmp in pending {
            let path: &Path = tmp;
            File::open(path)
                .and_then(|f| f.sync_all())
                .at("sync", path)?;
        }
        sync_dir(root)
    }
}
