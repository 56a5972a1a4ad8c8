//! A content-addressed blob store on a local folder.
//!
//! A blob is named by the BLAKE3 digest of its full content (what `b3sum` prints). Small blobs are
//! stored whole; blobs above [`Chunking::threshold`] are cut by content-defined chunking (FastCDC)
//! into chunks that are stored once each, plus a manifest listing them, so a file that changed a
//! little or grew at the end stores only its new chunks. Large batches of small blobs go into
//! pack files (`pack.rs`), since creating a file is the main cost of storing a small one. Writes
//! are atomic and durable when the call returns (see `write.rs`); reads verify the digest.
//!
//! Several processes may use one store at once: every write is a rename of identical bytes, and
//! [`BlobStore::gc`] spares files younger than its grace period, which every put that finds its
//! content already stored refreshes.

mod aligned;
mod digest;
#[cfg(target_os = "linux")]
mod direct;
mod layout;
mod lease;
mod maintenance;
mod manifest;
mod pack;
mod put;
mod read;
mod remote;
mod repack;
mod write;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use digest::{hash_file, Digest};
pub use maintenance::{GcReport, Usage, VerifyReport, MISSING};
pub use read::{BlobStat, ExportMethod, OpenBlob};
pub use remote::{Remote, Transfer};

use layout::Layout;
use pack::PackIndex;

use crate::Result;

/// How large blobs are cut into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunking {
    /// Blobs larger than this are chunked; smaller ones are stored whole.
    pub threshold: u64,
    /// FastCDC minimum chunk size.
    pub min_size: usize,
    /// FastCDC average chunk size.
    pub avg_size: usize,
    /// FastCDC maximum chunk size.
    pub max_size: usize,
}

impl Chunking {
    /// Whether content of `size` bytes is cut into chunks (else stored whole).
    pub(crate) fn cuts(&self, size: u64) -> bool {
        size > self.threshold
    }
}

impl Default for Chunking {
    /// About 1 MiB chunks: appending 1 MiB to a large file stores its last chunk again plus
    /// the new data (about 2 MiB, at most 5 MiB), while a 2 GiB file makes about 1,600 chunk
    /// files rather than hundreds of thousands. FastCDC does not hash the first `min_size`
    /// bytes of a chunk, so 512 KiB rather than 256 KiB made it 1.7 -> 2.4 GB/s here.
    fn default() -> Self {
        Self {
            threshold: 4 << 20,
            min_size: 512 << 10,
            avg_size: 1 << 20,
            max_size: 4 << 20,
        }
    }
}

/// What one put did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutReport {
    /// Digest of the full content.
    pub digest: Digest,
    /// Size of the content in bytes.
    pub size: u64,
    /// New bytes written to the store (0 when everything was already there).
    pub bytes_written: u64,
    /// Number of chunks (1 for a blob stored whole).
    pub chunks: u32,
}

/// Progress of a long call, shared with the thread that reports it, and a way to cancel it.
#[derive(Debug, Default)]
pub struct Progress {
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
    files_done: AtomicU64,
    cancelled: AtomicBool,
}

impl Progress {
    /// Bytes to process in all (known once the inputs have been listed).
    pub fn bytes_total(&self) -> u64 {
        self.bytes_total.load(Ordering::Relaxed)
    }

    /// Bytes processed so far.
    pub fn bytes_done(&self) -> u64 {
        self.bytes_done.load(Ordering::Relaxed)
    }

    /// Files completed so far.
    pub fn files_done(&self) -> u64 {
        self.files_done.load(Ordering::Relaxed)
    }

    /// Asks the call to stop; it then fails with [`crate::Error::Cancelled`] and leaves nothing
    /// partial visible.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn add_bytes(&self, n: u64) {
        self.bytes_done.fetch_add(n, Ordering::Relaxed);
    }
}

/// A content-addressed blob store in a local folder.
#[derive(Clone, Debug)]
pub struct BlobStore {
    layout: Layout,
    chunking: Chunking,
    /// Packed blobs known to this process; clones of the store share it.
    packs: Arc<RwLock<PackIndex>>,
}

impl BlobStore {
    /// Opens the store at `root`, creating it when the folder is missing or empty.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::with_chunking(root, Chunking::default())
    }

    /// Opens the store with explicit chunking parameters.
    pub fn with_chunking(root: impl AsRef<Path>, chunking: Chunking) -> Result<Self> {
        check_chunking(&chunking)?;
        let layout = Layout::open_or_create(root.as_ref())?;
        lease::clean_after_dead_writers(&layout)?;
        let mut packs = PackIndex::default();
        packs.refresh(&layout.packs_dir())?;
        Ok(Self {
            layout,
            chunking,
            packs: Arc::new(RwLock::new(packs)),
        })
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    pub(crate) fn packs(&self) -> RwLockReadGuard<'_, PackIndex> {
        self.packs.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn packs_mut(&self) -> RwLockWriteGuard<'_, PackIndex> {
        self.packs.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Loads packs written by other processes since the last look.
    pub(crate) fn refresh_packs(&self) -> Result<()> {
        self.packs_mut().refresh(&self.layout.packs_dir())
    }

    /// The chunking parameters in use.
    pub fn chunking(&self) -> Chunking {
        self.chunking
    }
}

fn check_chunking(c: &Chunking) -> Result<()> {
    use fastcdc::v2020::{AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MINIMUM_MIN};
    let ordered = c.min_size <= c.avg_size && c.avg_size <= c.max_size;
    let in_range = c.min_size >= MINIMUM_MIN
        && (AVERAGE_MIN..=AVERAGE_MAX).contains(&c.avg_size)
        && c.max_size <= MAXIMUM_MAX;
    let even = c.min_size % 2 == 0 && c.avg_size % 2 == 0 && c.max_size % 2 == 0;
    if ordered && in_range && even {
        Ok(())
    } else {
        Err(crate::Error::InvalidArgument(format!(
            "invalid chunking {c:?}: sizes must be even, min <= avg <= max, \
             {MINIMUM_MIN} <= min, {AVERAGE_MIN} <= avg <= {AVERAGE_MAX}, max <= {MAXIMUM_MAX}"
        )))
    }
}
