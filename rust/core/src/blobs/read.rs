//! Reading blobs back: whole, into a caller's buffer, or out to a file. Every read that sees the
//! bytes checks them against the digest.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::digest::Digest;
use super::layout::Kind;
use super::manifest::Manifest;
use super::pack::{pack_path, read_entry, OpenPacks, PackEntry};
use super::BlobStore;
use crate::error::IoContext;
use crate::{Error, Result};

/// Size and shape of a stored blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobStat {
    /// Content size in bytes.
    pub size: u64,
    /// Number of chunks (1 for a blob stored whole).
    pub chunks: u32,
    /// Whether the blob is stored as chunks plus a manifest.
    pub chunked: bool,
}

/// How [`BlobStore::export`] produced the destination file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportMethod {
    /// A copy-on-write clone sharing the store's blocks.
    Reflink,
    /// A hard link to the store's (read-only) file.
    Hardlink,
    /// A plain byte copy.
    Copy,
}

impl ExportMethod {
    /// Lower-case name, for display.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportMethod::Reflink => "reflink",
            ExportMethod::Hardlink => "hardlink",
            ExportMethod::Copy => "copy",
        }
    }
}

/// Where a blob's bytes are.
pub(crate) enum Located {
    Whole { path: PathBuf, size: u64 },
    Chunked(Manifest),
    Packed(PackEntry),
}

impl Located {
    fn size(&self) -> u64 {
        match self {
            Located::Whole { size, .. } => *size,
            Located::Chunked(m) => m.size,
            Located::Packed(entry) => u64::from(entry.len),
        }
    }
}

impl BlobStore {
    /// Whether a blob with this digest is stored.
    pub fn has(&self, digest: &Digest) -> bool {
        self.locate(digest).is_ok()
    }

    /// Size and chunk count of a stored blob.
    pub fn stat(&self, digest: &Digest) -> Result<BlobStat> {
        Ok(match self.locate(digest)? {
            Located::Whole { size, .. } => BlobStat {
                size,
                chunks: 1,
                chunked: false,
            },
            Located::Chunked(m) => BlobStat {
                size: m.size,
                chunks: u32::try_from(m.chunks.len()).unwrap_or(u32::MAX),
                chunked: true,
            },
            Located::Packed(entry) => BlobStat {
                size: u64::from(entry.len),
                chunks: 1,
                chunked: false,
            },
        })
    }

    /// The whole content, checked against its digest.
    pub fn get_bytes(&self, digest: &Digest) -> Result<Vec<u8>> {
        let blob = self.open_blob(digest)?;
        let mut out = vec![0u8; usize::try_from(blob.size()).expect("blob fits in memory")];
        blob.read_into(&mut out)?;
        Ok(out)
    }

    /// Finds a blob once, to learn its size and then read it without looking it up again.
    pub fn open_blob(&self, digest: &Digest) -> Result<OpenBlob<'_>> {
        Ok(OpenBlob {
            store: self,
            digest: *digest,
            located: self.locate(digest)?,
        })
    }

    /// Reads the content into the start of `buffer` (no intermediate copy) and returns its size.
    /// On a digest mismatch the buffer holds the damaged bytes and the call fails.
    pub fn read_into(&self, digest: &Digest, buffer: &mut [u8]) -> Result<u64> {
        self.open_blob(digest)?.read_into(buffer)
    }

    /// Reads a packed blob. Another process may have rewritten its pack (deleting a neighbour)
    /// since this process indexed it: then the index is refreshed and the read tried again.
    fn read_packed(&self, digest: &Digest, entry: &PackEntry, out: &mut [u8]) -> Result<()> {
        let dir = self.layout.packs_dir();
        match read_entry(&dir, entry, out) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.refresh_packs()?;
                let moved = self
                    .packs()
                    .get(digest)
                    .cloned()
                    .ok_or_else(|| self.not_found(digest))?;
                read_entry(&dir, &moved, out).map_err(|err| truncated(digest, &err))
            }
            Err(err) => Err(truncated(digest, &err)),
        }
    }

    fn not_found(&self, digest: &Digest) -> Error {
        Error::BlobNotFound {
            digest: digest.to_hex(),
            root: self.root().to_path_buf(),
        }
    }

    /// Exports many blobs at once, in parallel (see [`Self::export`]), creating missing parent
    /// folders, for checkouts. `mode` (default `0o644`) is given to each written file; hard
    /// links share the store's read-only file and keep its mode. A destination that does not
    /// exist yet is written in place (no temporary file and rename: half the metadata work of
    /// a 50,000-file checkout); one that exists is replaced atomically. With `verify`, every
    /// byte written is checked against its digest on the way (a damaged blob fails the export
    /// and leaves no file); without, the store is trusted and whole files are copied by the
    /// kernel (replacing an existing destination always checks). Checks cancellation between
    /// files.
    pub fn export_many(
        &self,
        items: &[(Digest, std::path::PathBuf, Option<u32>)],
        link: bool,
        verify: bool,
        progress: &super::Progress,
    ) -> Result<Vec<ExportMethod>> {
        use rayon::prelude::*;
        use std::collections::BTreeSet;

        let parents: BTreeSet<&Path> = items.iter().filter_map(|(_, p, _)| p.parent()).collect();
        for parent in parents {
            fs::create_dir_all(parent).at("create", parent)?;
        }
        let packs = OpenPacks::new(self.layout.packs_dir());
        super::put::io_pool().install(|| {
            items
                .par_iter()
                .map(|(digest, dest, mode)| {
                    if progress.is_cancelled() {
                        return Err(Error::Cancelled);
                    }
                    let mode = mode.unwrap_or(0o644);
                    let method = if let Some(method) =
                        self.export_new(digest, dest, link, verify, mode, &packs)?
                    {
                        method
                    } else {
                        let method = self.export(digest, dest, link)?;
                        if method != ExportMethod::Hardlink {
                            set_mode(dest, mode)?;
                        }
                        method
                    };
                    progress
                        .files_done
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(method)
                })
                .collect()
        })
    }

    /// Writes the blob to `dest` directly when `dest` does not exist (`None` when it does);
    /// removes a partial file on failure. A packed blob (the usual small file) is read through
    /// `packs` before anything else is looked up, so it costs one read, one create and one
    /// write.
    fn export_new(
        &self,
        digest: &Digest,
        dest: &Path,
        link: bool,
        verify: bool,
        mode: u32,
        packs: &OpenPacks,
    ) -> Result<Option<ExportMethod>> {
        let packed = if link {
            None // a hard link needs the blob's own file, if it has one
        } else {
            self.packs().get(digest).cloned()
        };
        let located = match packed {
            Some(entry) => {
                let mut data = vec![0u8; entry.len as usize];
                match packs.read(&entry, &mut data) {
                    Ok(()) => {
                        check_if(verify, digest, &data)?;
                        let Some(mut out) = new_file(dest, mode)? else {
                            return Ok(None);
                        };
                        return finish_new(out.write_all(&data).at("write", dest), out, dest);
                    }
                    // Repacked by another process since this one indexed it: look it up anew.
                    Err(_) => self.locate(digest)?,
                }
            }
            None => self.locate(digest)?,
        };
        if let Located::Whole { path, .. } = &located {
            if link && fs::hard_link(path, dest).is_ok() {
                return Ok(Some(ExportMethod::Hardlink));
            }
            if reflink_copy::reflink(path, dest).is_ok() {
                set_mode(dest, mode)?;
                return Ok(Some(ExportMethod::Reflink));
            }
        }
        let Some(mut out) = new_file(dest, mode)? else {
            return Ok(None);
        };
        let written = match located {
            Located::Chunked(manifest) => self.write_chunks(digest, &manifest, &out, dest, verify),
            Located::Whole { path, .. } if verify => copy_verified(digest, &path, &mut out, dest),
            Located::Whole { path, .. } => File::open(&path)
                .and_then(|mut input| std::io::copy(&mut input, &mut out))
                .map(drop)
                .at("copy", &path),
            Located::Packed(entry) => {
                let mut data = vec![0u8; entry.len as usize];
                self.read_packed(digest, &entry, &mut data)
                    .and_then(|()| check_if(verify, digest, &data))
                    .and_then(|()| out.write_all(&data).at("write", dest))
            }
        };
        finish_new(written, out, dest)
    }

    /// Writes a chunked blob's chunks into `out` at their offsets, in parallel, each checked
    /// against its digest with `verify` (the manifest, named by the whole content's digest,
    /// binds them).
    ///
    /// Chunks are read (not mapped: a read of a chunk that is not in the page cache is one
    /// large request to the disk, where a mapping faults it in piece by piece) into a buffer
    /// each thread keeps.
    fn write_chunks(
        &self,
        digest: &Digest,
        manifest: &super::manifest::Manifest,
        out: &File,
        dest: &Path,
        verify: bool,
    ) -> Result<()> {
        use rayon::prelude::*;

        out.set_len(manifest.size).at("write", dest)?;
        let mut offsets = Vec::with_capacity(manifest.chunks.len());
        let mut offset = 0u64;
        for chunk in &manifest.chunks {
            offsets.push(offset);
            offset += u64::from(chunk.len);
        }
        manifest
            .chunks
            .par_iter()
            .zip(offsets.par_iter())
            .try_for_each(|(chunk, &at)| {
                CHUNK_BUFFER.with_borrow_mut(|buffer| {
                    // Grown once per thread and reused: no zeroing of a fresh buffer per chunk.
                    let len = chunk.len as usize;
                    if buffer.len() < len {
                        buffer.resize(len, 0);
                    }
                    let bytes = &mut buffer[..len];
                    self.read_chunk(digest, chunk.digest, bytes)?;
                    if verify && Digest::of(bytes) != chunk.digest {
                        return Err(Error::Corrupt {
                            digest: digest.to_hex(),
                            detail: format!("its chunk {} is damaged", chunk.digest),
                        });
                    }
                    write_all_at(out, bytes, at).at("write", dest)
                })
            })
    }

    /// Writes the blob to `dest` atomically (a temporary file in `dest`'s folder, then a rename).
    /// With `link`, hard-links the stored file when it is stored whole and on the same
    /// filesystem (the result is read-only and shares the store's inode); otherwise clones it
    /// copy-on-write where the filesystem can, else copies. Chunked and packed blobs are always
    /// assembled by copy, and checked against their digest on the way.
    pub fn export(&self, digest: &Digest, dest: &Path, link: bool) -> Result<ExportMethod> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if dest.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "export destination {} is a folder; name the file to create",
                dest.display()
            )));
        }
        let tmp_builder = || {
            let mut b = tempfile::Builder::new();
            b.prefix(".aidot-export-");
            b
        };
        let (tmp, method) = match self.locate(digest)? {
            Located::Whole { path, .. } => {
                let linked = if link {
                    tmp_builder().make_in(dir, |p| fs::hard_link(&path, p)).ok()
                } else {
                    None
                };
                if let Some(tmp) = linked {
                    (tmp.into_temp_path(), ExportMethod::Hardlink)
                } else if let Ok(tmp) =
                    tmp_builder().make_in(dir, |p| reflink_copy::reflink(&path, p))
                {
                    (tmp.into_temp_path(), ExportMethod::Reflink)
                } else {
                    let mut out = tmp_builder().tempfile_in(dir).at("create a file in", dir)?;
                    copy_verified(digest, &path, out.as_file_mut(), dest)?;
                    (out.into_temp_path(), ExportMethod::Copy)
                }
            }
            Located::Packed(entry) => {
                let mut data = vec![0u8; entry.len as usize];
                self.read_packed(digest, &entry, &mut data)?;
                check_digest(digest, Digest::of(&data))?;
                let mut out = tmp_builder().tempfile_in(dir).at("create a file in", dir)?;
                out.write_all(&data).at("write", dest)?;
                (out.into_temp_path(), ExportMethod::Copy)
            }
            Located::Chunked(manifest) => {
                let mut out = tmp_builder().tempfile_in(dir).at("create a file in", dir)?;
                let mut hasher = blake3::Hasher::new();
                let mut buf = Vec::new();
                for chunk in &manifest.chunks {
                    buf.resize(chunk.len as usize, 0);
                    self.read_chunk(digest, chunk.digest, &mut buf)?;
                    hasher.update(&buf);
                    out.write_all(&buf).at("write", dest)?;
                }
                check_digest(digest, hasher.finalize().into())?;
                (out.into_temp_path(), ExportMethod::Copy)
            }
        };
        if method != ExportMethod::Hardlink {
            make_writable(&tmp);
        }
        tmp.persist(dest)
            .map_err(|err| Error::io("rename into", dest, err.error))?;
        Ok(method)
    }

    /// The file holding the blob when it is stored whole as a file of its own (what
    /// [`Self::put_buffers_whole`] writes), for callers that memory-map it; `None` when it is
    /// packed or chunked. The file is read-only and never changes while it exists.
    pub fn whole_path(&self, digest: &Digest) -> Result<Option<std::path::PathBuf>> {
        Ok(match self.locate(digest)? {
            Located::Whole { path, .. } => Some(path),
            Located::Packed(_) | Located::Chunked(_) => None,
        })
    }

    pub(crate) fn locate(&self, digest: &Digest) -> Result<Located> {
        let path = self.layout.path(Kind::Object, digest);
        if let Ok(meta) = fs::metadata(&path) {
            return Ok(Located::Whole {
                path,
                size: meta.len(),
            });
        }
        let manifest_path = self.layout.path(Kind::Manifest, digest);
        match fs::read(&manifest_path) {
            Ok(bytes) => return Ok(Located::Chunked(Manifest::decode(&bytes, digest)?)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(Error::io("read", &manifest_path, err)),
        }
        let known = self.packs().get(digest).cloned();
        if let Some(entry) = known {
            // Another process may have rewritten that pack without this blob since.
            if pack_path(&self.layout.packs_dir(), &entry.pack).exists() {
                return Ok(Located::Packed(entry));
            }
        }
        // Perhaps another process packed or repacked it since we last looked.
        self.refresh_packs()?;
        let packs = self.packs();
        packs
            .get(digest)
            .map(|entry| Located::Packed(entry.clone()))
            .ok_or_else(|| self.not_found(digest))
    }

    /// Reads one chunk of blob `blob` into `out` (exactly its length).
    fn read_chunk(&self, blob: &Digest, chunk: Digest, out: &mut [u8]) -> Result<()> {
        let path = self.layout.path(Kind::Chunk, &chunk);
        let mut file = File::open(&path).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => Error::Corrupt {
                digest: blob.to_hex(),
                detail: format!("its chunk {chunk} is missing"),
            },
            _ => Error::io("open", &path, err),
        })?;
        file.read_exact(out).map_err(|err| truncated(blob, &err))?;
        Ok(())
    }
}

thread_local! {
    /// Each checkout thread's buffer for one chunk at a time: at most the largest chunk size
    /// (4 MiB by default) per thread of the store's I/O pool.
    static CHUNK_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A blob located in the store (see [`BlobStore::open_blob`]).
pub struct OpenBlob<'a> {
    pub(crate) store: &'a BlobStore,
    pub(crate) digest: Digest,
    pub(crate) located: Located,
}

impl OpenBlob<'_> {
    /// Content size in bytes.
    pub fn size(&self) -> u64 {
        self.located.size()
    }

    /// Reads the content into the start of `buffer` (no intermediate copy) and returns its
    /// size. On a digest mismatch the buffer holds the damaged bytes and the call fails.
    pub fn read_into(&self, buffer: &mut [u8]) -> Result<u64> {
        let (store, digest) = (self.store, &self.digest);
        let size = self.size();
        let Some(target) = usize::try_from(size).ok().and_then(|n| buffer.get_mut(..n)) else {
            return Err(Error::InvalidArgument(format!(
                "buffer of {} bytes is too small for blob {digest} of {size} bytes; pass a buffer of at least {size} bytes",
                buffer.len()
            )));
        };
        match &self.located {
            Located::Whole { path, .. } => {
                let mut file = File::open(path).at("open", path)?;
                file.read_exact(target)
                    .map_err(|err| truncated(digest, &err))?;
            }
            Located::Chunked(manifest) => {
                let mut offset = 0;
                for chunk in &manifest.chunks {
                    let end = offset + chunk.len as usize;
                    store.read_chunk(digest, chunk.digest, &mut target[offset..end])?;
                    offset = end;
                }
            }
            Located::Packed(entry) => store.read_packed(digest, entry, target)?,
        }
        check_digest(
            digest,
            Digest::from(blake3::Hasher::new().update_rayon(target).finalize()),
        )?;
        Ok(size)
    }
}

fn check_digest(expected: &Digest, actual: Digest) -> Result<()> {
    if actual == *expected {
        Ok(())
    } else {
        Err(Error::Corrupt {
            digest: expected.to_hex(),
            detail: format!("its bytes hash to {actual}"),
        })
    }
}

/// [`check_digest`] when `verify` is set.
fn check_if(verify: bool, digest: &Digest, data: &[u8]) -> Result<()> {
    if verify {
        check_digest(digest, Digest::of(data))
    } else {
        Ok(())
    }
}

fn truncated(digest: &Digest, err: &std::io::Error) -> Error {
    Error::Corrupt {
        digest: digest.to_hex(),
        detail: format!("a stored file is shorter than recorded ({err})"),
    }
}

/// Exports are the user's files: give them the usual permissions rather than the store's 0444.
fn make_writable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o644));
    }
    #[cfg(not(unix))]
    {
        if let Ok(meta) = fs::metadata(path) {
            let mut perms = meta.permissions();
            perms.set_readonly(false);
            let _ = fs::set_permissions(path, perms);
        }
    }
}

/// Creates `dest` with permission bits `mode`; `None` when it already exists.
fn new_file(dest: &Path, mode: u32) -> Result<Option<File>> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    match options.open(dest) {
        Ok(file) => Ok(Some(file)),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(err) => Err(Error::io("create", dest, err)),
    }
}

/// Ends a direct export: a copy that failed leaves no partial file behind.
fn finish_new(written: Result<()>, out: File, dest: &Path) -> Result<Option<ExportMethod>> {
    drop(out);
    match written {
        Ok(()) => Ok(Some(ExportMethod::Copy)),
        Err(err) => {
            let _ = fs::remove_file(dest);
            Err(err)
        }
    }
}

/// Sets `dest`'s permission bits (ignoring the process umask, as a checkout should).
fn set_mode(dest: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dest, fs::Permissions::from_mode(mode)).at("set permissions of", dest)
    }
    #[cfg(not(unix))]
    {
        let _ = (dest, mode);
        Ok(())
    }
}

/// Copies a whole stored file into `out`, hashing on the way, and fails if the bytes no longer
/// match `digest`.
fn copy_verified(digest: &Digest, src: &Path, out: &mut File, dest: &Path) -> Result<()> {
    let mut input = File::open(src).at("open", src)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).at("read", src)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).at("write", dest)?;
    }
    check_digest(digest, hasher.finalize().into())
}

#[cfg(unix)]
fn write_all_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

#[cfg(not(unix))]
fn write_all_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(data)
}
