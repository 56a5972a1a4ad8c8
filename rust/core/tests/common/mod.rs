//! Helpers shared by the blob store's integration tests.
// Each test crate uses a different subset of these.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use aidot_core::blobs::{BlobStore, Chunking, Digest, Progress};

/// Small chunking so that tests exercise chunked blobs with kilobytes, not megabytes.
pub fn small_chunking() -> Chunking {
    Chunking {
        threshold: 16 << 10,
        min_size: 1 << 10,
        avg_size: 4 << 10,
        max_size: 16 << 10,
    }
}

pub fn store(dir: &Path) -> BlobStore {
    BlobStore::with_chunking(dir.join("blobs"), small_chunking()).unwrap()
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough for chunking.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, data).unwrap();
    path
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

pub fn find_file(root: &Path, name: &str) -> PathBuf {
    walk(root)
        .into_iter()
        .find(|p| p.file_name().unwrap() == name)
        .unwrap()
}

pub fn flip_first_byte(path: &Path) {
    let mut perms = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms).unwrap();
    let mut bytes = fs::read(path).unwrap();
    bytes[0] ^= 0xFF;
    fs::write(path, bytes).unwrap();
}

pub fn small_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|i| write(dir, &format!("s{i}"), &noise(100 + i * 7, i as u64 + 1000)))
        .collect()
}

/// Puts `count` small files in one batch; returns their paths and digests.
pub fn put_small_files(store: &BlobStore, dir: &Path, count: usize) -> (Vec<PathBuf>, Vec<Digest>) {
    let paths = small_files(dir, count);
    let reports = store.put_files(&paths, &Progress::default()).unwrap();
    (paths, reports.iter().map(|r| r.digest).collect())
}

/// The first chunk file of a store (temporary files, named with a leading dot, skipped).
pub fn first_chunk(root: &Path) -> PathBuf {
    walk(&root.join("blobs/chunks"))
        .into_iter()
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .unwrap()
}

/// Stores 70 small files in one batch (packed) and one blob above the test store's 16 KiB
/// chunking threshold; returns the small contents, the large one and its digest.
pub fn put_packed_and_chunked(
    store: &BlobStore,
    dir: &Path,
    seed: u64,
) -> (Vec<Vec<u8>>, Vec<u8>, Digest) {
    let chunked = noise(200_000, seed);
    let small: Vec<Vec<u8>> = (0..70)
        .map(|i| noise(100 + i, seed * 100 + i as u64))
        .collect();
    let sources: Vec<PathBuf> = small
        .iter()
        .enumerate()
        .map(|(i, data)| write(dir, &format!("s{i}"), data))
        .collect();
    store.put_files(&sources, &Progress::default()).unwrap();
    let digest = store.put_bytes(&chunked).unwrap().digest;
    (small, chunked, digest)
}

/// Export items writing each small content to `out/s/INDEX`.
pub fn small_items(small: &[Vec<u8>], out: &Path) -> Vec<(Digest, PathBuf, Option<u32>)> {
    small
        .iter()
        .enumerate()
        .map(|(i, d)| (Digest::of(d), out.join(format!("s/{i}")), None))
        .collect()
}

/// Files of writes in progress or interrupted, anywhere in the store.
pub fn temp_files(store: &BlobStore) -> usize {
    walk(store.root())
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".put-")
        })
        .count()
}
