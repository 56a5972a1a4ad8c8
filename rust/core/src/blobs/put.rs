//! Putting content into the store: bytes, one file, or many files in parallel.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;

use fastcdc::v2020::{FastCDC, StreamCDC};
use rayon::prelude::*;

use super::digest::Digest;
use super::layout::Kind;
use super::manifest::{ChunkRef, Manifest};
use super::write::{Durability, Outcome, Writer};
use super::{BlobStore, Progress, PutReport};
use crate::error::IoContext;
use crate::{Error, Result};

/// Chunks in flight between the reader and the writer thread of one large file: enough to keep
/// both busy, few enough to bound memory at a few max-size chunks.
const CHUNKS_IN_FLIGHT: usize = 4;

impl BlobStore {
    /// Stores `data` and returns its digest; durable when the call returns.
    pub fn put_bytes(&self, data: &[u8]) -> Result<PutReport> {
        if data.len() as u64 <= self.chunking.threshold {
            let writer = Writer::new(&self.layout, Durability::PerFile);
            return self.put_whole(data, &writer);
        }
        let writer = Writer::new(&self.layout, Durability::Batch);
        let c = self.chunking;
        let chunks = FastCDC::new(data, c.min_size, c.avg_size, c.max_size);
        let mut refs = Vec::new();
        let mut written = 0;
        for chunk in chunks {
            let piece = &data[chunk.offset..chunk.offset + chunk.length];
            let (chunk_ref, outcome) = self.put_chunk(piece, &writer)?;
            refs.push(chunk_ref);
            written += outcome.bytes_written();
        }
        let digest = Digest::from(blake3::Hasher::new().update_rayon(data).finalize());
        let report = self.put_manifest(digest, refs, written, &writer)?;
        writer.commit()?;
        Ok(report)
    }

    /// Stores the file at `path`, streaming it (a large file is never read whole into memory).
    pub fn put_file(&self, path: &Path) -> Result<PutReport> {
        let writer = Writer::new(&self.layout, Durability::Batch);
        let report = self.put_path(path, &writer, &Progress::default())?;
        writer.commit()?;
        Ok(report)
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
        let writer = Writer::new(&self.layout, Durability::Batch);
        let reports = paths
            .par_iter()
            .map(|path| {
                if progress.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let report = self.put_path(path, &writer, progress)?;
                progress.files_done.fetch_add(1, Ordering::Relaxed);
                Ok(report)
            })
            .collect::<Result<Vec<_>>>()?;
        writer.commit()?;
        Ok(reports)
    }

    fn put_path(&self, path: &Path, writer: &Writer<'_>, progress: &Progress) -> Result<PutReport> {
        let mut file = File::open(path).at("open", path)?;
        let meta = file.metadata().at("read", path)?;
        if !meta.is_file() {
            return Err(Error::NotAFile {
                path: path.to_path_buf(),
            });
        }
        if meta.len() > self.chunking.threshold {
            return self.put_stream(file, path, writer, progress);
        }
        // Below the threshold a bounded buffer is read whole: one read, one hash, one write.
        let mut data = Vec::with_capacity(meta.len() as usize + 1);
        file.read_to_end(&mut data).at("read", path)?;
        progress.add_bytes(data.len() as u64);
        if data.len() as u64 > self.chunking.threshold {
            // The file grew while we read it: still correct, just chunked in memory.
            return self.put_bytes(&data);
        }
        self.put_whole(&data, writer)
    }

    fn put_whole(&self, data: &[u8], writer: &Writer<'_>) -> Result<PutReport> {
        let digest = Digest::of(data);
        let outcome = writer.write(self.layout.path(Kind::Object, &digest), data)?;
        Ok(PutReport {
            digest,
            size: data.len() as u64,
            bytes_written: outcome.bytes_written(),
            chunks: 1,
        })
    }

    /// Chunks a stream: this thread reads, cuts and hashes the whole content while a second one
    /// hashes and writes the chunks, so hashing hides behind the copy.
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
        let outcome = writer.write(self.layout.path(Kind::Chunk, &digest), data)?;
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

fn cdc_error(err: fastcdc::v2020::Error, path: &Path) -> Error {
    match err {
        fastcdc::v2020::Error::IoError(source) => Error::io("read", path, source),
        other => Error::io("chunk", path, std::io::Error::other(other.to_string())),
    }
}
