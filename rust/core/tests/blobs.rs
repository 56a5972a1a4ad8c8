//! Behaviour of the blob store through its public API (exports: `export.rs`).

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use aidot_core::blobs::{BlobStore, Chunking, Digest, ExportMethod, Progress};
use aidot_core::Error;
use common::*;
use proptest::prelude::*;

#[test]
fn digest_is_blake3_of_the_full_content_whole_or_chunked() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    for len in [0, 1, 1000, 16 << 10, (16 << 10) + 1, 300_000] {
        let data = noise(len, len as u64);
        let report = store.put_bytes(&data).unwrap();
        assert_eq!(
            report.digest.to_hex(),
            blake3::hash(&data).to_hex().as_str()
        );
        assert_eq!(store.get_bytes(&report.digest).unwrap(), data);
        let path = write(dir.path(), "f", &data);
        assert_eq!(store.put_file(&path).unwrap().digest, report.digest);
        assert_eq!(store.stat(&report.digest).unwrap().size, len as u64);
        assert_eq!(store.stat(&report.digest).unwrap().chunked, len > 16 << 10);
    }
}

#[test]
fn appending_stores_only_the_new_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut data = noise(2 << 20, 7);
    let first = store.put_bytes(&data).unwrap();
    assert!(first.chunks > 100);
    let before = store.usage().unwrap().bytes;
    data.extend(noise(64 << 10, 8));
    let path = write(dir.path(), "grown", &data);
    let second = store.put_file(&path).unwrap();
    let added = store.usage().unwrap().bytes - before;
    // 64 KiB appended: the old last chunk, the new data and a manifest, not a second copy.
    assert!(added < 128 << 10, "appending 64 KiB stored {added} bytes");
    assert_eq!(second.bytes_written, added);
    assert_eq!(store.get_bytes(&second.digest).unwrap(), data);
}

#[test]
fn putting_the_same_content_again_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let paths: Vec<PathBuf> = (0..20)
        .map(|i| write(dir.path(), &format!("f{i}"), &noise(i * 5000, i as u64)))
        .collect();
    let first = store.put_files(&paths, &Progress::default()).unwrap();
    let usage = store.usage().unwrap();
    let progress = Progress::default();
    let again = store.put_files(&paths, &progress).unwrap();
    assert!(again.iter().all(|r| r.bytes_written == 0));
    assert_eq!(store.usage().unwrap(), usage);
    assert_eq!(
        first.iter().map(|r| r.digest).collect::<Vec<_>>(),
        again.iter().map(|r| r.digest).collect::<Vec<_>>()
    );
    assert_eq!(progress.files_done(), 20);
    assert_eq!(progress.bytes_done(), progress.bytes_total());
    assert_eq!(temp_files(&store), 0);
}

/// Drops the clean cached pages of every file under `dir`, as if the store had gone cold.
fn evict_from_page_cache(dir: &std::path::Path) {
    use std::os::fd::AsRawFd;
    for path in walk(dir) {
        let file = fs::File::open(&path).unwrap();
        // SAFETY: the descriptor is open; the call only drops clean cached pages.
        let status =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(status, 0);
    }
}

/// Writes each of `contents` to a file `f{index}` in `dir`.
fn write_numbered(dir: &std::path::Path, contents: &[Vec<u8>]) -> Vec<PathBuf> {
    contents
        .iter()
        .enumerate()
        .map(|(i, data)| write(dir, &format!("f{i}"), data))
        .collect()
}

#[test]
fn large_and_small_files_in_one_batch_report_in_order_and_read_back_cold() {
    // The default chunking: chunks of about 1 MiB, written past the page cache.
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path().join("blobs")).unwrap();
    let sizes = [9 << 20, 100, (6 << 20) + 7, 5000, 0, 5 << 20];
    let contents: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| noise(len, i as u64))
        .collect();
    let paths = write_numbered(dir.path(), &contents);
    let reports = store.put_files(&paths, &Progress::default()).unwrap();
    for (report, data) in reports.iter().zip(&contents) {
        assert_eq!(report.digest.to_hex(), blake3::hash(data).to_hex().as_str());
        assert_eq!(report.size, data.len() as u64);
        assert!(report.bytes_written >= report.size);
    }
    assert!(reports[0].chunks > 3 && reports[2].chunks > 3);
    evict_from_page_cache(store.root());
    for (i, (report, data)) in reports.iter().zip(&contents).enumerate() {
        assert_eq!(store.get_bytes(&report.digest).unwrap(), *data);
        let out = dir.path().join(format!("out{i}"));
        store.export(&report.digest, &out, false).unwrap();
        assert_eq!(fs::read(&out).unwrap(), *data);
    }
    let again = store.put_files(&paths, &Progress::default()).unwrap();
    assert!(again.iter().all(|r| r.bytes_written == 0));
    assert_eq!(again[0].chunks, reports[0].chunks);
    assert_eq!(temp_files(&store), 0);
}

#[test]
fn a_batch_with_a_bad_path_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let good = write(dir.path(), "good", b"hello");
    let missing = dir.path().join("missing");
    let err = store
        .put_files(&[good.clone(), missing.clone()], &Progress::default())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if *path == missing),
        "{err}"
    );
    let err = store
        .put_files(&[good, dir.path().to_path_buf()], &Progress::default())
        .unwrap_err();
    assert!(matches!(err, Error::NotAFile { .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert_eq!(temp_files(&store), 0);
}

#[test]
fn a_cancelled_batch_makes_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let paths: Vec<PathBuf> = (0..50)
        .map(|i| write(dir.path(), &format!("f{i}"), &noise(100, i)))
        .collect();
    let progress = Progress::default();
    progress.cancel();
    assert!(matches!(
        store.put_files(&paths, &progress),
        Err(Error::Cancelled)
    ));
    assert!(store.list().unwrap().is_empty());
    assert_eq!(temp_files(&store), 0);
}

#[test]
fn concurrent_writers_of_the_same_content_never_corrupt_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let data: Vec<Vec<u8>> = (0..8).map(|i| noise(40_000 + i * 1000, i as u64)).collect();
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                let store = BlobStore::with_chunking(&root, small_chunking()).unwrap();
                for blob in &data {
                    store.put_bytes(blob).unwrap();
                }
            });
        }
    });
    let store = BlobStore::with_chunking(&root, small_chunking()).unwrap();
    assert_eq!(store.list().unwrap().len(), data.len());
    assert!(store.verify(None).unwrap().corrupt.is_empty());
    for blob in &data {
        assert_eq!(&store.get_bytes(&Digest::of(blob)).unwrap(), blob);
    }
}

#[test]
fn damage_is_found_by_verify_and_refused_by_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let whole = store.put_bytes(b"precious bytes").unwrap().digest;
    let chunked = store.put_bytes(&noise(100_000, 3)).unwrap().digest;
    let fine = store.put_bytes(b"untouched").unwrap().digest;
    // Flip a byte of the whole blob and of the first chunk of the chunked one.
    let whole_path = find_file(store.root(), &whole.to_hex());
    flip_first_byte(&whole_path);
    let chunk_dir = store.root().join("chunks");
    let first_chunk = walk(&chunk_dir).into_iter().next().unwrap();
    flip_first_byte(&first_chunk);

    let report = store.verify(None).unwrap();
    assert_eq!(report.checked, 3);
    let corrupt: HashSet<Digest> = report.corrupt.iter().map(|(d, _)| *d).collect();
    assert!(corrupt.contains(&whole));
    assert!(!corrupt.contains(&fine));
    assert!(matches!(
        store.get_bytes(&whole),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(store.verify(Some(&fine)), Ok(r) if r.corrupt.is_empty()));
    let mut buffer = vec![0u8; 14];
    assert!(matches!(
        store.read_into(&whole, &mut buffer),
        Err(Error::Corrupt { .. })
    ));
    let _ = chunked;
}

#[test]
fn missing_and_malformed_digests_are_specific_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let absent = Digest::of(b"never stored");
    assert!(matches!(
        store.get_bytes(&absent),
        Err(Error::BlobNotFound { .. })
    ));
    assert!(matches!(
        store.stat(&absent),
        Err(Error::BlobNotFound { .. })
    ));
    assert!(matches!(
        store.verify(Some(&absent)),
        Err(Error::BlobNotFound { .. })
    ));
    assert!(!store.has(&absent));
    assert!(!store.delete(&absent).unwrap());
    assert!(matches!(
        Digest::parse("xyz"),
        Err(Error::InvalidDigest { .. })
    ));
    let digest = store.put_bytes(b"0123456789").unwrap().digest;
    let mut small = [0u8; 4];
    assert!(matches!(
        store.read_into(&digest, &mut small),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn gc_keeps_live_blobs_and_their_chunks_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let shared = noise(60_000, 1);
    let mut extended = shared.clone();
    extended.extend(noise(30_000, 2));
    let live = store.put_bytes(&extended).unwrap().digest;
    let dead = store.put_bytes(&shared).unwrap().digest;
    let dead_small = store.put_bytes(b"dead").unwrap().digest;

    // Within the grace period nothing goes.
    let kept = store
        .gc(&HashSet::from([live]), Duration::from_secs(3600))
        .unwrap();
    assert_eq!(kept.blobs_removed, 0);
    let report = store.gc(&HashSet::from([live]), Duration::ZERO).unwrap();
    assert_eq!(report.blobs_removed, 2);
    assert!(report.bytes_freed > 0);
    assert!(!store.has(&dead) && !store.has(&dead_small));
    assert_eq!(store.get_bytes(&live).unwrap(), extended);
    assert!(store.verify(None).unwrap().corrupt.is_empty());
}

#[test]
fn a_folder_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "notes.txt", b"mine");
    assert!(matches!(
        BlobStore::open(dir.path()),
        Err(Error::NotAStore { .. })
    ));
    assert!(fs::read(dir.path().join("notes.txt")).is_ok());
    let bad = Chunking {
        min_size: 3,
        ..Chunking::default()
    };
    assert!(matches!(
        BlobStore::with_chunking(dir.path().join("x"), bad),
        Err(Error::InvalidArgument(_))
    ));
}

fn pack_files(store: &BlobStore, ext: &str) -> usize {
    fs::read_dir(store.root().join("packs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == ext)
        })
        .count()
}

#[test]
fn a_batch_of_small_files_is_packed_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let paths = small_files(dir.path(), 300);
    let reports = store.put_files(&paths, &Progress::default()).unwrap();
    assert_eq!(
        (pack_files(&store, "pack"), pack_files(&store, "idx")),
        (1, 1)
    );
    assert!(
        walk(&store.root().join("objects")).is_empty(),
        "small blobs of a batch are packed"
    );
    let reopened = BlobStore::with_chunking(store.root(), small_chunking()).unwrap();
    for (path, report) in paths.iter().zip(&reports) {
        let data = fs::read(path).unwrap();
        assert_eq!(report.digest, Digest::of(&data));
        assert_eq!(reopened.get_bytes(&report.digest).unwrap(), data);
        assert!(reopened.has(&report.digest));
        assert_eq!(
            reopened.stat(&report.digest).unwrap().size,
            data.len() as u64
        );
    }
    assert_eq!(reopened.list().unwrap().len(), 300);
    assert!(reopened.verify(None).unwrap().corrupt.is_empty());
    let again = reopened.put_files(&paths, &Progress::default()).unwrap();
    assert!(again.iter().all(|r| r.bytes_written == 0));
    assert_eq!(pack_files(&store, "pack"), 1);
    // A single small put of packed content finds it too.
    assert_eq!(
        store
            .put_bytes(&fs::read(&paths[0]).unwrap())
            .unwrap()
            .bytes_written,
        0
    );
    let out = dir.path().join("exported");
    assert_eq!(
        store.export(&reports[5].digest, &out, true).unwrap(),
        ExportMethod::Copy
    );
    assert_eq!(fs::read(&out).unwrap(), fs::read(&paths[5]).unwrap());
}

#[test]
fn a_batch_larger_than_a_pack_fills_several_and_reads_back_cold() {
    // Packs close past 64 MiB and are written 1 MiB at a time, so most of these blobs of odd
    // sizes straddle a write and one straddles two packs' worth.
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path().join("blobs")).unwrap();
    let contents: Vec<Vec<u8>> = (0..1_200u64)
        .map(|i| noise(56_000 + (i as usize * 37) % 9_000, i))
        .collect();
    let paths = write_numbered(dir.path(), &contents);
    let reports = store.put_files(&paths, &Progress::default()).unwrap();
    assert_eq!(
        (pack_files(&store, "pack"), pack_files(&store, "idx")),
        (2, 2)
    );
    let packed: u64 = walk(&store.root().join("packs"))
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    let total: usize = contents.iter().map(Vec::len).sum();
    // Each pack ends with a copy of its index: header, entries, checksum, length and magic.
    let copies = 2 * (16 + 32 + 8 + 8) + contents.len() * 44;
    assert_eq!(
        packed,
        (total + copies) as u64,
        "packs hold the blobs and a copy of their index, nothing else"
    );
    evict_from_page_cache(store.root());
    let reopened = BlobStore::open(store.root()).unwrap();
    for (report, data) in reports.iter().zip(&contents) {
        assert_eq!(report.digest, Digest::of(data));
        assert_eq!(reopened.get_bytes(&report.digest).unwrap(), *data);
    }
    assert!(reopened.verify(None).unwrap().corrupt.is_empty());
    assert_eq!(temp_files(&store), 0);
}

#[test]
fn deleting_a_packed_blob_rewrites_its_pack_for_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (paths, digests) = put_small_files(&store, dir.path(), 100);
    // Another handle (think: another process) indexed the pack before the rewrite.
    let other = BlobStore::with_chunking(store.root(), small_chunking()).unwrap();
    assert!(store.delete(&digests[0]).unwrap());
    assert!(!store.delete(&digests[0]).unwrap());
    assert!(!store.has(&digests[0]));
    assert!(matches!(
        other.get_bytes(&digests[0]),
        Err(Error::BlobNotFound { .. })
    ));
    for (path, digest) in paths.iter().zip(&digests).skip(1) {
        assert_eq!(other.get_bytes(digest).unwrap(), fs::read(path).unwrap());
    }
    assert_eq!(pack_files(&store, "pack"), 1);
    assert_eq!(store.list().unwrap().len(), 99);
}

#[test]
fn gc_rewrites_or_removes_packs() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (paths, digests) = put_small_files(&store, dir.path(), 100);
    let live: HashSet<Digest> = digests[..10].iter().copied().collect();
    assert_eq!(
        store
            .gc(&live, Duration::from_secs(3600))
            .unwrap()
            .blobs_removed,
        0
    );
    let before = store.usage().unwrap().bytes;
    let report = store.gc(&live, Duration::ZERO).unwrap();
    assert_eq!(report.blobs_removed, 90);
    assert!(store.usage().unwrap().bytes < before);
    assert_eq!(
        store.list().unwrap().into_iter().collect::<HashSet<_>>(),
        live
    );
    for (path, digest) in paths.iter().zip(&digests).take(10) {
        assert_eq!(store.get_bytes(digest).unwrap(), fs::read(path).unwrap());
    }
    let report = store.gc(&HashSet::new(), Duration::ZERO).unwrap();
    assert_eq!(report.blobs_removed, 10);
    assert_eq!(
        (pack_files(&store, "pack"), pack_files(&store, "idx")),
        (0, 0)
    );
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn damage_inside_a_pack_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (_, digests) = put_small_files(&store, dir.path(), 80);
    let pack = walk(&store.root().join("packs"))
        .into_iter()
        .find(|p| p.extension().unwrap() == "pack")
        .unwrap();
    flip_first_byte(&pack);
    let report = store.verify(None).unwrap();
    assert_eq!(report.corrupt.len(), 1);
    let damaged = report.corrupt[0].0;
    assert!(matches!(
        store.get_bytes(&damaged),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(
        digests
            .iter()
            .filter(|d| store.get_bytes(d).is_ok())
            .count(),
        79
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..70_000)) {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let digest = store.put_bytes(&data).unwrap().digest;
        prop_assert_eq!(digest, Digest::of(&data));
        prop_assert_eq!(store.get_bytes(&digest).unwrap(), data);
    }
}

#[test]
fn whole_buffers_are_one_file_each_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let big = noise(3 << 20, 7); // above the chunking threshold of the test store
    let small = noise(1000, 8);
    let reports = store
        .put_buffers_whole(&[big.as_slice(), small.as_slice(), big.as_slice()])
        .unwrap();
    assert_eq!(reports[0].digest, Digest::of(&big));
    assert_eq!(reports[0].chunks, 1);
    assert_eq!(reports[0].digest, reports[2].digest);
    assert_eq!(
        reports[0].bytes_written + reports[2].bytes_written,
        big.len() as u64
    );
    let path = store.whole_path(&reports[0].digest).unwrap().unwrap();
    assert_eq!(fs::read(&path).unwrap(), big);
    assert_eq!(store.get_bytes(&reports[1].digest).unwrap(), small);
    store
        .verify_digests(&[reports[0].digest, reports[1].digest])
        .unwrap();

    let again = store.put_buffers_whole(&[big.as_slice()]).unwrap();
    assert_eq!(again[0].bytes_written, 0);
    // Chunked content has no single file to map.
    let chunked = store.put_bytes(&noise(3 << 20, 9)).unwrap();
    assert!(store.whole_path(&chunked.digest).unwrap().is_none());
}

#[test]
fn verify_digests_names_the_damaged_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let data = noise(2 << 20, 3);
    let digest = store.put_buffers_whole(&[data.as_slice()]).unwrap()[0].digest;
    let path = store.whole_path(&digest).unwrap().unwrap();
    let mut perms = fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&path, perms).unwrap();
    let mut damaged = data.clone();
    damaged[12345] ^= 1;
    fs::write(&path, &damaged).unwrap();
    match store.verify_digests(&[digest]) {
        Err(Error::Corrupt { digest: named, .. }) => assert_eq!(named, digest.to_hex()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let missing = Digest::of(b"never stored");
    assert!(matches!(
        store.verify_digests(&[missing]),
        Err(Error::BlobNotFound { .. })
    ));
}

#[test]
fn push_and_pull_through_a_folder_remote_move_only_what_is_missing() {
    use aidot_core::blobs::Remote;

    let dir = tempfile::tempdir().unwrap();
    let source = store(dir.path());
    let big = noise(300_000, 21); // chunked in the test store
    let small = noise(1_000, 22);
    let d_big = source.put_bytes(&big).unwrap().digest;
    let d_small = source.put_bytes(&small).unwrap().digest;
    let url = format!("file://{}", dir.path().join("remote").display());
    let remote = Remote::open(&url, &[], &dir.path().join("cache-a")).unwrap();
    let first = remote
        .push(&source, &[d_big, d_small], &Progress::default())
        .unwrap();
    assert!(first.objects >= 3); // the small blob, the chunks, the manifest
    let again = remote
        .push(&source, &[d_big, d_small], &Progress::default())
        .unwrap();
    assert_eq!(again.objects, 0); // the index says everything is there

    // Another machine: its own store and cache, fetching the index segments it lacks.
    let target = BlobStore::with_chunking(dir.path().join("other"), small_chunking()).unwrap();
    let other = Remote::open(&url, &[], &dir.path().join("cache-b")).unwrap();
    let pulled = other
        .pull(&target, &[d_big, d_small], &Progress::default())
        .unwrap();
    assert_eq!(pulled.objects, first.objects);
    assert_eq!(target.get_bytes(&d_big).unwrap(), big);
    assert_eq!(target.get_bytes(&d_small).unwrap(), small);
    let nothing = other.pull(&target, &[d_big], &Progress::default()).unwrap();
    assert_eq!(nothing.objects, 0);

    // Appending to the large blob pushes its new chunks only.
    let mut grown = big.clone();
    grown.extend(noise(20_000, 23));
    let d_grown = source.put_bytes(&grown).unwrap().digest;
    let delta = remote
        .push(&source, &[d_grown], &Progress::default())
        .unwrap();
    assert!(delta.bytes < 120_000, "{delta:?}");

    let unknown = Digest::of(b"never pushed");
    let missing = other.pull(&target, &[unknown], &Progress::default());
    assert!(matches!(missing, Err(Error::Remote { .. })), "{missing:?}");
    remote.put_meta("datasets/a/v1.json", b"{}").unwrap();
    assert_eq!(
        remote.get_meta("datasets/a/v1.json").unwrap().unwrap(),
        b"{}"
    );
    assert!(remote.get_meta("datasets/a/v2.json").unwrap().is_none());
    assert_eq!(
        other.list_meta("datasets/a").unwrap(),
        ["datasets/a/v1.json"]
    );
    assert!(Remote::open("ftp://x/y", &[], dir.path()).is_err());
}

#[test]
fn delete_stale_spares_recent_and_reused_blobs_and_removes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (_, packed) = put_small_files(&store, dir.path(), 20);
    let whole = store.put_bytes(&noise(60_000, 3)).unwrap().digest;
    let kept = store.put_bytes(b"kept").unwrap().digest;
    let mut doomed = vec![whole];
    doomed.extend(&packed[..5]);

    // Everything was just written: a grace of an hour spares it all.
    let report = store
        .delete_stale(&doomed, Duration::from_secs(3600))
        .unwrap();
    assert_eq!(report.blobs_removed, 0);
    assert!(doomed.iter().all(|d| store.has(d)));

    let report = store.delete_stale(&doomed, Duration::ZERO).unwrap();
    assert_eq!(report.blobs_removed, 6);
    assert!(doomed.iter().all(|d| !store.has(d)));
    assert!(packed[5..].iter().all(|d| store.has(d)));
    assert_eq!(store.get_bytes(&kept).unwrap(), b"kept");
    assert!(store.verify(None).unwrap().corrupt.is_empty());
}

#[test]
fn verify_each_reports_every_missing_and_damaged_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let good = store.put_bytes(b"good").unwrap().digest;
    let damaged = store.put_bytes(b"will be damaged").unwrap().digest;
    let missing = Digest::of(b"never stored");
    let path = store.whole_path(&damaged).unwrap().unwrap();
    let mut permissions = fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    fs::set_permissions(&path, permissions).unwrap();
    fs::write(&path, b"something else").unwrap();

    let report = store.verify_each(&[good, damaged, missing, good]).unwrap();
    assert_eq!(report.checked, 3);
    let found: std::collections::HashMap<_, _> = report.corrupt.into_iter().collect();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&missing], aidot_core::blobs::MISSING);
    assert!(found[&damaged].contains("hash to"), "{}", found[&damaged]);
}
