//! Putting content into the store: bytes, one file, or many files in parallel.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Mutex, PoisonError};

use fastcdc::v2020::{FastCDC, StreamCDC};
use rayon::prelude::*;

use super::digest::Digest;
use super::layout::Kind;
use super::manifest::{ChunkRef, Manifest};
use super::pack::{pack_path, PACKABLE_MAX, PACK_MIN_BATCH};
use super::write::{exists_and_touch, Durability, Outcome, Writer};
use super::{BlobStore, Progress, PutReport};
use crate::error::IoContext;
use crate::{Error, Result};

/// Chunks in flight between the reader and the writer thread of one large file: enough to keep
/// both busy, few enough to bound memory at a few max-size chunks.
const CHUNKS_IN_FLIGHT: usize = 4;

impl BlobStore {
    /// Stores `data` and returns its digest; durable when the call returns.
    pub fn put_bytes(&self, data: &[u8]) -> Result<PutReport> {
        if !self.chunking.cuts(data.len() as u64) {
            let writer = Writer::new(&self.layout, Durability::PerFile);
            return self.put_whole(data, &writer);
        }
        let writer = Writer::new(&self.layout, Durability::Batch);
        let report = self.put_chunked(data, &writer, &Progress::default())?;
        writer.commit()?;
        Ok(report)
    }

    /// Stores several buffers in parallel, each as one file however large it is (never chunked
    /// or packed), so that a reader can memory-map it; durable once for the whole batch when
    /// the call returns. This is how checkpoints store arrays: an unchanged array is found by
    /// its digest and costs one hash.
    pub fn put_buffers_whole(&self, buffers: &[&[u8]]) -> Result<Vec<PutReport>> {
        let writer = Writer::new(&self.layout, Durability::Batch);
        let reports = io_pool().install(|| {
            let digests: Vec<Digest> = buffers.par_iter().map(|b| Digest::of_parallel(b)).collect();
            // The same content twice in one batch (tied weights) is written once.
            let mut first_of = std::collections::HashMap::new();
            for (index, digest) in digests.iter().enumerate() {
                first_of.entry(*digest).or_insert(index);
            }
            buffers
                .par_iter()
                .zip(digests.par_iter())
                .enumerate()
                .map(|(index, (data, digest))| {
                    let bytes_written = if first_of[digest] == index {
                        let object = self.layout.path(Kind::Object, digest);
                        writer.write(object, data)?.bytes_written()
                    } else {
                        0
                    };
                    Ok(PutReport {
                        digest: *digest,
                        size: data.len() as u64,
                        bytes_written,
                        chunks: 1,
                    })
                })
                .collect::<Result<Vec<_>>>()
        })?;
        writer.commit()?;
        Ok(reports)
    }

    /// Stores the file at `path`, streaming it (a large file is never read whole into memory).
    pub fn put_file(&self, path: &Path) -> Result<PutReport> {
        let mut reports = self.put_files(&[path.to_path_buf()], &Progress::default())?;
        Ok(reports.remove(0))
    }

    /// Stores many files in parallel and makes them durable once for the whole batch. Fails
    /// before writing anything when a path is missing or not a file; on any later failure or on
    /// cancellation nothing of the batch becomes visible (what was already stored stays).
    pub fn put_files(&self, paths: &[PathBuf], progress: &Progress) -> Result<Vec<PutReport>> {
        let sizes: Vec<u64> = paths
            .par_iter()
            .map(|path| {
                let meta = std::fs::metadata(path).at("read", path)?;
                if meta.is_file() {
                    Ok(meta.len())
                } else {
                    Err(Error::NotAFile { path: path.clone() })
                }
            })
            .collect::<Result<_>>()?;
        progress
            .bytes_total
            .store(sizes.iter().sum(), Ordering::Relaxed);
        let mut writer = Writer::new(&self.layout, Durability::Batch);
        if paths.len() >= PACK_MIN_BATCH {
            // Dedup checks below consult the pack index in memory: bring it up to date once.
            self.refresh_packs()?;
            writer = writer.with_packs(&self.packs);
        }
        let put_one = |index: usize| -> Result<(usize, PutReport)> {
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let report = self.put_path(&paths[index], sizes[index], &writer, progress)?;
            progress.files_done.fetch_add(1, Ordering::Relaxed);
            Ok((index, report))
        };
        let large = |index: &usize| self.chunking.cuts(sizes[*index]);
        let (small, large) = io_pool().install(|| {
            // Small files in parallel. Large files one at a time, each cut on one thread while
            // the others hash and write its chunks: cutting them all at once would keep every
            // thread cutting while the disk waits.
            rayon::join(
                || {
                    (0..paths.len())
                        .into_par_iter()
                        .filter(|i| !large(i))
                        .map(put_one)
                        .collect::<Result<Vec<_>>>()
                },
                || {
                    chunk_pool().install(|| {
                        (0..paths.len())
                            .filter(large)
                            .map(put_one)
                            .collect::<Result<Vec<_>>>()
                    })
                },
            )
        });
        let mut reports = small?;
        reports.extend(large?);
        reports.sort_unstable_by_key(|(index, _)| *index);
        writer.commit()?;
        Ok(reports.into_iter().map(|(_, report)| report).collect())
    }

    /// Stores one file whose size was `size` when listed (it may change; what is read counts).
    fn put_path(
        &self,
        path: &Path,
        size: u64,
        writer: &Writer<'_>,
        progress: &Progress,
    ) -> Result<PutReport> {
        let mut file = File::open(path).at("open", path)?;
        if self.chunking.cuts(size) {
            // SAFETY: the map is read-only and private to this call. If another process
            // truncates the file meanwhile, reading the lost pages raises SIGBUS, as with
            // `b3sum`, which maps files the same way; nothing partial becomes visible.
            return match unsafe { memmap2::Mmap::map(&file) } {
                Ok(map) => {
                    #[cfg(unix)]
                    let _ = map.advise(memmap2::Advice::Sequential);
                    self.put_chunked(&map, writer, progress)
                }
                // Filesystems that cannot map files are read as a stream instead.
                Err(_) => self.put_stream(file, path, writer, progress),
            };
        }
        // Below the threshold a bounded buffer is read whole: one read, one hash, one write.
        let data = read_small(&mut file, size).at("read", path)?;
        progress.add_bytes(data.len() as u64);
        if self.chunking.cuts(data.len() as u64) {
            // The file grew while we read it: still correct, just chunked in memory.
            return self.put_bytes(&data);
        }
        self.put_whole(&data, writer)
    }

    fn put_whole(&self, data: &[u8], writer: &Writer<'_>) -> Result<PutReport> {
        let digest = Digest::of(data);
        let object = self.layout.path(Kind::Object, &digest);
        let outcome = if writer.packing() && data.len() <= PACKABLE_MAX {
            if self.is_packed_and_touch(&digest) || exists_and_touch(&object) {
                Outcome::Existing
            } else {
                writer.pack(digest, data)?
            }
        } else if self.is_packed_and_touch(&digest) {
            Outcome::Existing
        } else {
            writer.write(object, data)?
        };
        Ok(PutReport {
            digest,
            size: data.len() as u64,
            bytes_written: outcome.bytes_written(),
            chunks: 1,
        })
    }

    /// Whether the pack index in memory lists `digest`; its pack's time is then refreshed, as
    /// `exists_and_touch` does for files, so a concurrent `gc` spares it.
    fn is_packed_and_touch(&self, digest: &Digest) -> bool {
        let packs = self.packs();
        let Some(entry) = packs.get(digest) else {
            return false;
        };
        exists_and_touch(&pack_path(&self.layout.packs_dir(), &entry.pack))
    }

    /// Stores content above the chunking threshold that is in memory (or mapped).
    ///
    /// Content that is already stored costs one hash on every core (a 2 GiB re-put is one
    /// parallel hash); whether it may be stored shows in its first chunk. New content is
    /// hashed whole while this thread cuts chunks and the rest of the pool hashes and writes
    /// them, so the disk is busy from the first chunk on.
    fn put_chunked(
        &self,
        data: &[u8],
        writer: &Writer<'_>,
        progress: &Progress,
    ) -> Result<PutReport> {
        let known = if self.first_chunk_stored(data) {
            let digest = Digest::from(blake3::Hasher::new().update_rayon(data).finalize());
            if let Some(report) = self.already_stored(digest, data.len() as u64, progress)? {
                return Ok(report);
            }
            Some(digest)
        } else {
            None
        };
        let whole: std::sync::OnceLock<Digest> = std::sync::OnceLock::new();
        let c = self.chunking;
        let written: Mutex<Vec<(usize, ChunkRef, u64)>> = Mutex::new(Vec::new());
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let failed = AtomicBool::new(false);
        rayon::scope(|scope| {
            if known.is_none() {
                let whole = &whole;
                scope.spawn(move |_| {
                    let _ = whole.set(blake3::Hasher::new().update_rayon(data).finalize().into());
                });
            }
            for (index, chunk) in FastCDC::new(data, c.min_size, c.avg_size, c.max_size).enumerate()
            {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                if progress.is_cancelled() {
                    *failure.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(Error::Cancelled);
                    failed.store(true, Ordering::Relaxed);
                    break;
                }
                let piece = &data[chunk.offset..chunk.offset + chunk.length];
                let (written, failure, failed) = (&written, &failure, &failed);
                scope.spawn(move |_| match self.put_chunk(piece, writer) {
                    Ok((chunk_ref, outcome)) => {
                        progress.add_bytes(piece.len() as u64);
                        let entry = (index, chunk_ref, outcome.bytes_written());
                        written
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(entry);
                    }
                    Err(err) => {
                        failure
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get_or_insert(err);
                        failed.store(true, Ordering::Relaxed);
                    }
                });
            }
        });
        if let Some(err) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(err);
        }
        let mut written = written.into_inner().unwrap_or_else(PoisonError::into_inner);
        written.sort_unstable_by_key(|(index, ..)| *index);
        let bytes_written = written.iter().map(|(_, _, n)| n).sum();
        let refs = written
            .into_iter()
            .map(|(_, chunk_ref, _)| chunk_ref)
            .collect();
        let digest = known
            .or_else(|| whole.into_inner())
            .expect("the whole-content hash ran in the scope");
        self.put_manifest(digest, refs, bytes_written, writer)
    }

    /// Whether the first chunk `data` would be cut into is stored: cheap (one chunk's hash),
    /// and false for almost all new content.
    fn first_chunk_stored(&self, data: &[u8]) -> bool {
        let c = self.chunking;
        FastCDC::new(data, c.min_size, c.avg_size, c.max_size)
            .next()
            .is_some_and(|chunk| {
                let first = &data[chunk.offset..chunk.offset + chunk.length];
                self.layout.path(Kind::Chunk, &Digest::of(first)).exists()
            })
    }

    /// The report for content whose manifest is stored under `digest`, whose time is then
    /// refreshed (see `exists_and_touch`); `None` when it is not stored.
    fn already_stored(
        &self,
        digest: Digest,
        size: u64,
        progress: &Progress,
    ) -> Result<Option<PutReport>> {
        if !exists_and_touch(&self.layout.path(Kind::Manifest, &digest)) {
            return Ok(None);
        }
        progress.add_bytes(size);
        let chunks = match self.locate(&digest)? {
            super::read::Located::Chunked(m) => u32::try_from(m.chunks.len()).unwrap_or(u32::MAX),
            super::read::Located::Whole { .. } | super::read::Located::Packed(_) => 1,
        };
        Ok(Some(PutReport {
            digest,
            size,
            bytes_written: 0,
            chunks,
        }))
    }

    /// Chunks a stream, for files that cannot be memory-mapped: this thread reads, cuts and
    /// hashes the whole content while a second one hashes and writes the chunks.
    fn put_stream(
        &self,
        file: File,
        path: &Path,
        writer: &Writer<'_>,
        progress: &Progress,
    ) -> Result<PutReport> {
        let c = self.chunking;
        let (sender, receiver) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        std::thread::scope(|scope| {
            let chunk_writer = scope.spawn(move || -> Result<(Vec<ChunkRef>, u64)> {
                let mut refs = Vec::new();
                let mut written = 0;
                for data in receiver {
                    let (chunk_ref, outcome) = self.put_chunk(&data, writer)?;
                    refs.push(chunk_ref);
                    written += outcome.bytes_written();
                }
                Ok((refs, written))
            });
            let mut hasher = blake3::Hasher::new();
            let mut read_error = None;
            for chunk in StreamCDC::new(file, c.min_size, c.avg_size, c.max_size) {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(err) => {
                        read_error = Some(cdc_error(err, path));
                        break;
                    }
                };
                if progress.is_cancelled() {
                    read_error = Some(Error::Cancelled);
                    break;
                }
                hasher.update(&chunk.data);
                progress.add_bytes(chunk.length as u64);
                if sender.send(chunk.data).is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            drop(sender);
            let written = chunk_writer.join().expect("chunk writer thread panicked");
            if let Some(err) = read_error {
                return Err(err);
            }
            let (refs, written) = written?;
            self.put_manifest(hasher.finalize().into(), refs, written, writer)
        })
    }

    fn put_chunk(&self, data: &[u8], writer: &Writer<'_>) -> Result<(ChunkRef, Outcome)> {
        let digest = Digest::of(data);
        let outcome = writer.write_chunk(self.layout.path(Kind::Chunk, &digest), data)?;
        let len = u32::try_from(data.len()).expect("chunks are at most 16 MiB");
        Ok((ChunkRef { digest, len }, outcome))
    }

    fn put_manifest(
        &self,
        digest: Digest,
        refs: Vec<ChunkRef>,
        chunk_bytes_written: u64,
        writer: &Writer<'_>,
    ) -> Result<PutReport> {
        let manifest = Manifest::new(refs);
        let encoded = manifest.encode();
        let outcome = writer.write(self.layout.path(Kind::Manifest, &digest), &encoded)?;
        Ok(PutReport {
            digest,
            size: manifest.size,
            bytes_written: chunk_bytes_written + outcome.bytes_written(),
            chunks: u32::try_from(manifest.chunks.len()).unwrap_or(u32::MAX),
        })
    }
}

/// Reads a file expected to hold `size` bytes, and whatever it has grown by since. Unlike
/// `read_to_end`, asks the kernel nothing else (no `fstat`, no `lseek`): at 50,000 small files
/// every system call shows.
fn read_small(file: &mut File, size: u64) -> std::io::Result<Vec<u8>> {
    let mut data = vec![
        0u8;
        usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
    ];
    let mut filled = 0;
    loop {
        if filled == data.len() {
            data.resize(data.len() * 2, 0);
        }
        match file.read(&mut data[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    data.truncate(filled);
    Ok(data)
}

/// The pool that runs batch puts. Small-file puts spend most of their time in system calls
/// that block on the filesystem, so more threads than cores keep both cores busy: on this
/// 2-core machine 50,000 files of 4 KiB went from 10,800 files/s (2 threads) to 12,200 (4).
pub(crate) fn io_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| build_pool(2, 4, "aidot-put"))
}

/// The pool that hashes and writes the chunks of large files. Chunks go to the disk past the
/// page cache (`direct.rs`), so each write blocks its thread until the disk has it, and the
/// disk does better with more of them in flight (here 2 GiB in 1 MiB writes: 2.1 s one or two
/// at a time, 1.5 s four at a time). Small files did worse with more threads (50,000 in 1.1-1.6
/// s with 4, 1.7-1.8 s with 8), hence two pools.
fn chunk_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| build_pool(4, 8, "aidot-chunks"))
}

/// A pool of `per_core` threads per core, at least `min`, named `{name}-{i}`.
fn build_pool(per_core: usize, min: usize, name: &'static str) -> rayon::ThreadPool {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    rayon::ThreadPoolBuilder::new()
        .num_threads((cores * per_core).max(min))
        .thread_name(move |i| format!("{name}-{i}"))
        .build()
        .unwrap_or_else(|err| panic!("cannot start the blob store's {name} threads: {err}"))
}

fn cdc_error(err: fastcdc::v2020::Error, path: &Path) -> Error {
    match err {
        fastcdc::v2020::Error::IoError(source) => Error::io("read", path, source),
        other => Error::io("chunk", path, std::io::Error::other(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::Chunking;

    #[test]
    fn streaming_fallback_stores_the_same_blob_as_the_mapped_path() {
        let dir = tempfile::tempdir().unwrap();
        let chunking = Chunking {
            threshold: 16 << 10,
            min_size: 1 << 10,
            avg_size: 4 << 10,
            max_size: 16 << 10,
        };
        let store = BlobStore::with_chunking(dir.path().join("blobs"), chunking).unwrap();
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let path = dir.path().join("data");
        std::fs::write(&path, &data).unwrap();
        let writer = Writer::new(&store.layout, Durability::Batch);
        let streamed = store
            .put_stream(
                File::open(&path).unwrap(),
                &path,
                &writer,
                &Progress::default(),
            )
            .unwrap();
        writer.commit().unwrap();
        assert_eq!(streamed.digest, Digest::of(&data));
        assert!(streamed.chunks > 1);
        let mapped = store.put_file(&path).unwrap();
        assert_eq!(
            (mapped.digest, mapped.chunks, mapped.bytes_written),
            (streamed.digest, streamed.chunks, 0)
        );
        assert_eq!(store.get_bytes(&streamed.digest).unwrap(), data);
    }
}
