//! Recovering from faults and crashes: damaged or lost pack indexes, and the temporary files of
//! writers that died.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use aidot_core::blobs::{BlobStore, Digest};
use aidot_core::Error;
use common::*;

fn only_pack(store: &BlobStore, ext: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = fs::read_dir(store.root().join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn flip_byte_at(path: &std::path::Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_pack_index_is_rebuilt_from_its_pack() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, digests) = {
        let store = store(dir.path());
        put_small_files(&store, dir.path(), 80)
    };
    let store_dir = dir.path().join("blobs");
    let index = only_pack(&BlobStore::open(&store_dir).unwrap(), "idx");
    let good = fs::read(&index).unwrap();
    flip_byte_at(&index, 100);
    // A new process opens the store: the index is rebuilt, every blob reads back.
    let store = store(dir.path());
    for (path, digest) in paths.iter().zip(&digests) {
        assert_eq!(store.get_bytes(digest).unwrap(), fs::read(path).unwrap());
    }
    assert_eq!(fs::read(&index).unwrap(), good);
    let report = store.verify(None).unwrap();
    assert!(report.corrupt.is_empty() && report.damaged_packs.is_empty());
}

#[test]
fn gc_keeps_a_pack_whose_index_was_deleted_and_gives_it_back_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (paths, digests) = put_small_files(&store, dir.path(), 80);
    let index = only_pack(&store, "idx");
    fs::remove_file(&index).unwrap();
    let store = common::store(dir.path());
    assert!(!store.has(&digests[0])); // invisible, not gone
    let live: HashSet<Digest> = digests.iter().copied().collect();
    store.gc(&live, Duration::ZERO).unwrap();
    assert!(index.exists());
    for (path, digest) in paths.iter().zip(&digests) {
        assert_eq!(store.get_bytes(digest).unwrap(), fs::read(path).unwrap());
    }
}

#[test]
fn an_index_beyond_repair_affects_only_its_own_pack() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (_, packed) = put_small_files(&store, dir.path(), 80);
    let whole = store.put_bytes(b"a blob of its own").unwrap().digest;
    let pack = only_pack(&store, "pack");
    let index = only_pack(&store, "idx");
    // Both copies of the index damaged: nothing to rebuild it from.
    let size = fs::metadata(&pack).unwrap().len() as usize;
    flip_byte_at(&pack, size - 40);
    flip_byte_at(&index, 100);
    let store = common::store(dir.path());
    assert_eq!(store.get_bytes(&whole).unwrap(), b"a blob of its own");
    assert!(matches!(
        store.get_bytes(&packed[0]),
        Err(Error::BlobNotFound { .. })
    ));
    let report = store.verify(None).unwrap();
    assert_eq!(report.damaged_packs.len(), 1, "{report:?}");
    store.put_bytes(b"still writable").unwrap();
    store.gc(&HashSet::from([whole]), Duration::ZERO).unwrap();
    assert!(pack.exists() && index.exists()); // kept for a repair, never collected
    assert_eq!(store.get_bytes(&whole).unwrap(), b"a blob of its own");
}

#[test]
fn opening_a_store_removes_what_a_dead_writer_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let kept = store.put_bytes(b"kept").unwrap().digest;
    let root = store.root().to_path_buf();
    let shard = store.whole_path(&kept).unwrap().unwrap();
    let shard = shard.parent().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let me = std::process::id();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let lease = |token: &str, host: &str, pid: u32| {
        let path = root.join(format!("writers/{token}-0"));
        fs::write(&path, format!("{}\n{pid}\n", host.trim())).unwrap();
        path
    };
    // What a process killed mid-put leaves: its lease and its temporary files.
    let dead_lease = lease("deadbeef", &host, dead);
    let left = [
        shard.join(".put-deadbeef-a1b2c3"),
        root.join("packs/.put-deadbeef-d4e5f6"),
    ];
    for path in &left {
        fs::write(path, b"partial").unwrap();
    }
    // A writer at work in a live process (this one), or on another host, keeps its files.
    let live_lease = lease("cafe", &host, me);
    let elsewhere = lease("f00d", "another-host", dead);
    let working = [shard.join(".put-cafe-g7h8i9"), shard.join(".put-f00d-j0")];
    for path in &working {
        fs::write(path, b"in progress").unwrap();
    }

    let reopened = BlobStore::open(&root).unwrap();
    assert!(left.iter().all(|p| !p.exists()));
    assert!(!dead_lease.exists());
    assert!(working.iter().all(|p| p.exists()));
    assert!(live_lease.exists() && elsewhere.exists());
    assert_eq!(reopened.get_bytes(&kept).unwrap(), b"kept");
}

#[test]
fn a_put_leaves_no_lease_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    put_small_files(&store, dir.path(), 80);
    store.put_bytes(&noise(300_000, 9)).unwrap();
    let leases: Vec<_> = fs::read_dir(store.root().join("writers"))
        .unwrap()
        .collect();
    assert!(leases.is_empty(), "{leases:?}");
    assert_eq!(temp_files(&store), 0);
}
