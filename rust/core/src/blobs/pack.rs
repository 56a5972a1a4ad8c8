//! Pack files: many small blobs in one file, so that a batch of 50,000 small files creates a
//! few files instead of 50,000 (creating a file costs 70-90 us of kernel time on the disk we
//! measured, which capped one-file-per-blob batches near `cp -r` speed).
//!
//! A pack is two files in `packs/`: `ID.pack`, the blobs' bytes back to back, and `ID.idx`, the
//! sorted list of `(digest, offset, length)` with a BLAKE3 checksum of itself. The index is
//! renamed into place after the pack, so a pack becomes visible whole or not at all. Packs are
//! never modified: deleting a packed blob writes a new pack with the others and removes the old.
//!
//! Index layout, little-endian: magic `AIDOTPK1`, entry count (u64), entries of digest (32
//! bytes), offset (u64) and length (u32), then the BLAKE3 digest of everything before it.
//!
//! The pack carries a copy of its index after the blobs, followed by the copy's length (u64)
//! and the magic `AIDOTPT1`, so that a damaged or lost `.idx` is rebuilt from the pack alone
//! (packs written before the trailer existed cannot be, and are kept, never deleted, when their
//! index fails). A damaged index affects only reads of the blobs in that pack.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::TempPath;

use super::aligned::{AlignedBuf, ALIGN};
use super::digest::Digest;
use super::layout::TEMP_PREFIX;
use crate::error::IoContext;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"AIDOTPK1";
const TRAILER_MAGIC: &[u8; 8] = b"AIDOTPT1";
const ENTRY_LEN: usize = 44;

/// Blobs up to this size go into packs when a batch is large enough to be worth it.
pub(crate) const PACKABLE_MAX: usize = 64 << 10;

/// Batches with fewer files than this store them as files of their own.
pub(crate) const PACK_MIN_BATCH: usize = 64;

/// A pack being written is closed and a new one started past this size, which bounds what
/// deleting one packed blob has to rewrite.
const PACK_TARGET_BYTES: u64 = 64 << 20;

/// Where one packed blob is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PackEntry {
    pub(crate) pack: Arc<str>,
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

/// Paths of one pack's two files.
pub(crate) fn pack_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.pack"))
}

pub(crate) fn index_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.idx"))
}

/// Encodes an index; `entries` must be sorted by digest.
fn encode_index(entries: &[(Digest, u64, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.len() * ENTRY_LEN + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (digest, offset, len) in entries {
        out.extend_from_slice(digest.as_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    }
    let checksum = blake3::hash(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

/// Decodes an index file's bytes.
pub(crate) fn decode_index(bytes: &[u8], path: &Path) -> Result<Vec<(Digest, u64, u32)>> {
    let corrupt = |what: &str| Error::Corrupt {
        digest: path.display().to_string(),
        detail: format!("the pack index {what}"),
    };
    if bytes.len() < 16 + 32 || &bytes[..8] != MAGIC {
        return Err(corrupt("has no valid header"));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != checksum {
        return Err(corrupt("fails its checksum"));
    }
    let count = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
    let entries = &body[16..];
    if entries.len() as u64 != count.saturating_mul(ENTRY_LEN as u64) {
        return Err(corrupt("is truncated"));
    }
    Ok(entries
        .chunks_exact(ENTRY_LEN)
        .map(|e| {
            (
                Digest::from_bytes(e[..32].try_into().expect("32 bytes")),
                u64::from_le_bytes(e[32..40].try_into().expect("8 bytes")),
                u32::from_le_bytes(e[40..44].try_into().expect("4 bytes")),
            )
        })
        .collect())
}

/// The copy of its index that a pack carries at its end (see the module docs).
fn trailer(entries: &[(Digest, u64, u32)]) -> Vec<u8> {
    let mut out = encode_index(entries);
    out.extend_from_slice(&(out.len() as u64).to_le_bytes());
    out.extend_from_slice(TRAILER_MAGIC);
    out
}

/// The entries a pack's trailer lists, checked against their checksum.
pub(crate) fn index_from_pack(pack: &Path) -> Result<Vec<(Digest, u64, u32)>> {
    let corrupt = |what: &str| Error::Corrupt {
        digest: pack.display().to_string(),
        detail: format!("the pack {what}, so its index cannot be rebuilt"),
    };
    let file = File::open(pack).at("open", pack)?;
    let size = file.metadata().at("read", pack)?.len();
    if size < 16 {
        return Err(corrupt("is too short to hold a copy of its index"));
    }
    let mut footer = [0u8; 16];
    read_exact_at(&file, &mut footer, size - 16).at("read", pack)?;
    if &footer[8..] != TRAILER_MAGIC {
        return Err(corrupt(
            "has no copy of its index (written by an older aidot)",
        ));
    }
    let len = u64::from_le_bytes(footer[..8].try_into().expect("8 bytes"));
    if len > size - 16 {
        return Err(corrupt("names a copy of its index longer than itself"));
    }
    let mut copy = vec![0u8; usize::try_from(len).map_err(|_| corrupt("is damaged"))?];
    read_exact_at(&file, &mut copy, size - 16 - len).at("read", pack)?;
    let entries = decode_index(&copy, pack)?;
    let data_end = size - 16 - len;
    if entries
        .iter()
        .any(|(_, offset, len)| offset + u64::from(*len) > data_end)
    {
        return Err(corrupt("lists blobs beyond its data"));
    }
    Ok(entries)
}

/// Writes pack `id`'s index anew from the copy inside the pack (atomically: a temporary file
/// renamed over the damaged or missing one); returns its entries.
pub(crate) fn rebuild_index(dir: &Path, id: &str) -> Result<Vec<(Digest, u64, u32)>> {
    let entries = index_from_pack(&pack_path(dir, id))?;
    let path = index_path(dir, id);
    let mut temp = temp_in(dir)?;
    temp.write_all(&encode_index(&entries))
        .and_then(|()| temp.as_file().sync_all())
        .at("write", &path)?;
    temp.persist(&path)
        .map_err(|e| Error::io("replace", &path, e.error))?;
    super::write::sync_dir(dir)?;
    Ok(entries)
}

/// The packed blobs this process knows of, refreshed from `packs/` when asked.
#[derive(Debug, Default)]
pub(crate) struct PackIndex {
    entries: HashMap<Digest, PackEntry>,
    loaded: HashSet<Arc<str>>,
    /// Packs whose index is damaged and could not be rebuilt, with what is wrong: their blobs
    /// cannot be read, the rest of the store can.
    damaged: HashMap<Arc<str>, String>,
}

impl PackIndex {
    pub(crate) fn get(&self, digest: &Digest) -> Option<&PackEntry> {
        self.entries.get(digest)
    }

    pub(crate) fn digests(&self) -> impl Iterator<Item = &Digest> {
        self.entries.keys()
    }

    /// Packs whose blobs cannot be read because their index is damaged beyond rebuilding.
    pub(crate) fn damaged(&self) -> impl Iterator<Item = (&str, &str)> {
        self.damaged.iter().map(|(id, why)| (&**id, why.as_str()))
    }

    /// Loads indexes that appeared since the last refresh and forgets packs that are gone.
    pub(crate) fn refresh(&mut self, dir: &Path) -> Result<()> {
        let mut present = HashSet::new();
        for entry in fs::read_dir(dir).at("list", dir)? {
            let name = entry.at("list", dir)?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".idx")) else {
                continue;
            };
            if id.starts_with(TEMP_PREFIX) {
                continue;
            }
            present.insert(Arc::<str>::from(id));
        }
        if !self.loaded.is_subset(&present) {
            // A pack was rewritten: its blobs now live in another pack, which may already be
            // loaded but shadowed by the old entries. Rare enough to rebuild from scratch.
            self.entries.clear();
            self.loaded.clear();
            self.damaged.clear();
        }
        for id in present {
            if self.loaded.contains(&id) {
                continue;
            }
            let path = index_path(dir, &id);
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                // Removed by a concurrent repack between the listing and now.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(Error::io("read", &path, err)),
            };
            match decode_index(&bytes, &path).or_else(|_| rebuild_index(dir, &id)) {
                Ok(entries) => self.add(&id, &entries),
                // Unreadable: only this pack's blobs are affected. Its files stay as they are
                // (gc never deletes a pack), for a later repair or by hand.
                Err(err) => {
                    self.damaged.insert(Arc::clone(&id), err.to_string());
                }
            }
            self.loaded.insert(id);
        }
        Ok(())
    }

    fn add(&mut self, id: &Arc<str>, entries: &[(Digest, u64, u32)]) {
        for (digest, offset, len) in entries {
            self.entries.entry(*digest).or_insert_with(|| PackEntry {
                pack: Arc::clone(id),
                offset: *offset,
                len: *len,
            });
        }
    }

    /// Records a pack this process has just committed.
    pub(crate) fn insert_committed(&mut self, id: &str, entries: &[(Digest, u64, u32)]) {
        let id: Arc<str> = Arc::from(id);
        self.add(&id, entries);
        self.loaded.insert(id);
    }
}

/// A pack being written by one batch.
///
/// Its bytes gather in an aligned buffer; each full buffer is handed back to the caller as a
/// [`PackWrite`] to run after releasing the builder's lock, so that threads keep appending
/// while one waits for the disk. On Linux the writes go past the page cache (`direct.rs`): the
/// batch is flushed before it returns anyway, and on a VM whose host reclaims idle memory,
/// staging 200 MB of packs in fresh cache pages cost more than half of a 50,000-file put.
pub(crate) struct PackBuilder {
    dir: PathBuf,
    current: Option<OpenPack>,
    finished: Vec<FinishedPack>,
    seen: HashSet<Digest>,
    /// Buffers whose writes are done, to be filled again.
    spare: Vec<AlignedBuf>,
}

struct OpenPack {
    temp: TempPath,
    file: Arc<File>,
    buffer: AlignedBuf,
    /// Bytes of `buffer` in use.
    filled: usize,
    /// Where `buffer` starts in the pack: what was handed out to be written before it.
    flushed: u64,
    entries: Vec<(Digest, u64, u32)>,
    size: u64,
}

/// A buffer of a pack's bytes to write at an offset; [`PackWrite::run`] writes it and returns
/// the buffer, for [`PackBuilder::recycle`].
pub(crate) struct PackWrite {
    file: Arc<File>,
    offset: u64,
    buffer: AlignedBuf,
    /// How much of `buffer` to write: all of it but for a pack's last write.
    len: usize,
    dir: PathBuf,
}

impl PackWrite {
    pub(crate) fn run(self) -> Result<AlignedBuf> {
        let data = &self.buffer.as_slice()[..self.len];
        write_at(&self.file, data, self.offset).at("write a pack in", &self.dir)?;
        Ok(self.buffer)
    }
}

/// A written pack waiting for the batch's commit: its two temporary files and final names.
pub(crate) struct FinishedPack {
    pub(crate) id: String,
    pub(crate) pack: (TempPath, PathBuf),
    pub(crate) index: (TempPath, PathBuf),
    pub(crate) entries: Vec<(Digest, u64, u32)>,
    /// Open until the commit, which trims the padding of the last write.
    file: Arc<File>,
    size: u64,
}

/// Bytes gathered before a pack write: few system calls, and little to wait for at the end.
const WRITE_BYTES: usize = 1 << 20;

impl PackBuilder {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            current: None,
            finished: Vec::new(),
            seen: HashSet::new(),
            spare: Vec::new(),
        }
    }

    /// Appends a blob; returns false when this batch packed the same content already, and
    /// the writes the caller must run (outside the lock) before its put is done.
    pub(crate) fn add(&mut self, digest: Digest, data: &[u8]) -> Result<(bool, Vec<PackWrite>)> {
        if !self.seen.insert(digest) {
            return Ok((false, Vec::new()));
        }
        if self.current.is_none() {
            let (file, temp) = temp_in(&self.dir)?.into_parts();
            #[cfg(target_os = "linux")]
            super::direct::enable(&file);
            self.current = Some(OpenPack {
                temp,
                file: Arc::new(file),
                buffer: reuse_or_allocate(&mut self.spare),
                filled: 0,
                flushed: 0,
                entries: Vec::new(),
                size: 0,
            });
        }
        let pack = self.current.as_mut().expect("opened above");
        let len = u32::try_from(data.len()).expect("packable blobs are small");
        pack.entries.push((digest, pack.size, len));
        let mut writes = pack.append(data, &mut self.spare, &self.dir);
        pack.size += data.len() as u64;
        if pack.size >= PACK_TARGET_BYTES {
            writes.extend(self.finish_current()?);
        }
        Ok((true, writes))
    }

    /// Takes back a buffer whose write is done.
    pub(crate) fn recycle(&mut self, buffer: AlignedBuf) {
        self.spare.push(buffer);
    }

    /// Closes the pack being written and writes its index; both stay temporary. Returns the
    /// write of what its buffer holds (padded to the alignment; the commit trims it).
    fn finish_current(&mut self) -> Result<Vec<PackWrite>> {
        let mut writes = Vec::new();
        if let Some(pack) = self.current.as_mut() {
            pack.entries.sort_unstable_by_key(|(digest, ..)| *digest);
            let copy = trailer(&pack.entries);
            writes = pack.append(&copy, &mut self.spare, &self.dir);
            pack.size += copy.len() as u64;
        }
        let Some(OpenPack {
            temp,
            file,
            mut buffer,
            filled,
            flushed,
            entries,
            size,
        }) = self.current.take()
        else {
            return Ok(writes);
        };
        let last = (filled > 0).then(|| {
            let len = filled.div_ceil(ALIGN) * ALIGN;
            buffer.as_mut_slice()[filled..len].fill(0);
            PackWrite {
                file: Arc::clone(&file),
                offset: flushed,
                buffer,
                len,
                dir: self.dir.clone(),
            }
        });
        writes.extend(last);
        let id = new_pack_id();
        let mut index = temp_in(&self.dir)?;
        index
            .write_all(&encode_index(&entries))
            .at("write a pack index in", &self.dir)?;
        self.finished.push(FinishedPack {
            pack: (temp, pack_path(&self.dir, &id)),
            index: (index.into_temp_path(), index_path(&self.dir, &id)),
            entries,
            file,
            size,
            id,
        });
        Ok(writes)
    }

    /// Every pack of the batch, written, closed and indexed, ready to be made durable and
    /// renamed. Every write handed out by [`PackBuilder::add`] must have run.
    pub(crate) fn finish(mut self) -> Result<Vec<FinishedPack>> {
        for write in self.finish_current()? {
            write.run()?;
        }
        for pack in &self.finished {
            pack.file
                .set_len(pack.size)
                .at("write a pack in", &self.dir)?;
        }
        Ok(self.finished)
    }
}

impl OpenPack {
    /// Copies `data` into the buffer, handing out each buffer that fills up to be written.
    fn append(&mut self, data: &[u8], spare: &mut Vec<AlignedBuf>, dir: &Path) -> Vec<PackWrite> {
        let mut writes = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let room = self.buffer.len() - self.filled;
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buffer.as_mut_slice()[self.filled..self.filled + now.len()].copy_from_slice(now);
            self.filled += now.len();
            rest = later;
            if self.filled == self.buffer.len() {
                let next = reuse_or_allocate(spare);
                writes.push(self.hand_out(next, dir));
            }
        }
        writes
    }

    /// Hands out the full buffer to be written, and goes on with `next`.
    fn hand_out(&mut self, next: AlignedBuf, dir: &Path) -> PackWrite {
        let buffer = std::mem::replace(&mut self.buffer, next);
        let offset = self.flushed;
        let len = buffer.len();
        self.flushed += len as u64;
        self.filled = 0;
        PackWrite {
            file: Arc::clone(&self.file),
            offset,
            buffer,
            len,
            dir: dir.to_path_buf(),
        }
    }
}

/// A spare buffer if there is one, else a new one.
fn reuse_or_allocate(spare: &mut Vec<AlignedBuf>) -> AlignedBuf {
    spare.pop().unwrap_or_else(|| AlignedBuf::new(WRITE_BYTES))
}

/// Writes an aligned buffer at an aligned offset, past the page cache where that is on.
#[cfg(target_os = "linux")]
fn write_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    super::direct::write_aligned_at(file, data, offset)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn write_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

#[cfg(windows)]
fn write_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < data.len() {
        // As `write_all`: a write that takes nothing would otherwise loop forever.
        match file.seek_write(&data[done..], offset + done as u64)? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => done += n,
        }
    }
    Ok(())
}

fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(super::lease::temp_prefix())
        .tempfile_in(dir)
        .at("create a file in", dir)
}

/// A unique, time-sortable pack id: milliseconds since the epoch, then 64 bits hashed from the
/// time, process, thread and a counter, in hex.
pub(crate) fn new_pack_id() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    // Time, process, thread and a counter make the id unique; hashing them makes it opaque.
    // Renames into place refuse to replace an existing pack, so a clash could never lose data.
    let mut random = [0u8; 8];
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = format!(
        "{millis}-{}-{count}-{:?}",
        std::process::id(),
        std::thread::current().id()
    );
    random.copy_from_slice(&blake3::hash(seed.as_bytes()).as_bytes()[..8]);
    format!("{millis:012x}-{}", hex::encode(random))
}

/// Reads one packed blob into `out` (exactly its length).
pub(crate) fn read_entry(dir: &Path, entry: &PackEntry, out: &mut [u8]) -> std::io::Result<()> {
    let file = File::open(pack_path(dir, &entry.pack))?;
    read_exact_at(&file, out, entry.offset)
}

/// Pack files held open for the length of one batch of reads (a checkout), shared by its
/// threads: 50,000 small blobs from a handful of packs cost a handful of opens, not 50,000.
/// Packs are never changed in place, so a handle stays good even if a repack removes its file.
pub(crate) struct OpenPacks {
    dir: PathBuf,
    files: std::sync::RwLock<HashMap<Arc<str>, Arc<File>>>,
}

impl OpenPacks {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            files: std::sync::RwLock::default(),
        }
    }

    /// Reads one entry (exactly `out.len()` bytes at its offset).
    pub(crate) fn read(&self, entry: &PackEntry, out: &mut [u8]) -> std::io::Result<()> {
        let known = self
            .files
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&entry.pack)
            .cloned();
        let file = if let Some(file) = known {
            file
        } else {
            let file = Arc::new(File::open(pack_path(&self.dir, &entry.pack))?);
            self.files
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(entry.pack.clone(), file.clone());
            file
        };
        read_exact_at(&file, out, entry.offset)
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, out: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, out, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, out: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(out)
}
