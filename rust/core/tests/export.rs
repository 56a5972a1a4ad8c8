//! Exporting blobs out of the store: single exports and parallel checkouts.

mod common;

use std::fs;

use std::path::Path;

use aidot_core::blobs::{BlobStore, Digest, ExportMethod, Progress};
use aidot_core::Error;
use common::*;

/// `export_many` of one blob to `dest`, copying (no link).
fn export_one(
    store: &BlobStore,
    digest: Digest,
    dest: &Path,
    verify: bool,
) -> aidot_core::Result<Vec<ExportMethod>> {
    store.export_many(
        &[(digest, dest.to_path_buf(), None)],
        false,
        verify,
        &Progress::default(),
    )
}

#[test]
fn export_copies_or_links_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let whole = store.put_bytes(b"exported").unwrap().digest;
    let chunked_data = noise(90_000, 11);
    let chunked = store.put_bytes(&chunked_data).unwrap().digest;
    let out = dir.path().join("out");
    let method = store.export(&whole, &out, false).unwrap();
    assert_ne!(method, ExportMethod::Hardlink);
    assert_eq!(fs::read(&out).unwrap(), b"exported");
    // The copy belongs to the user: writable, and changing it leaves the store intact.
    fs::write(&out, b"changed").unwrap();
    assert_eq!(store.get_bytes(&whole).unwrap(), b"exported");
    assert_eq!(
        store.export(&whole, &out, true).unwrap(),
        ExportMethod::Hardlink
    );
    assert_eq!(fs::read(&out).unwrap(), b"exported");
    assert_eq!(
        store.export(&chunked, &out, true).unwrap(),
        ExportMethod::Copy
    );
    assert_eq!(fs::read(&out).unwrap(), chunked_data);
    assert!(matches!(
        store.export(&whole, dir.path(), false),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn export_many_writes_every_kind_of_blob_with_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (small, chunked, big) = put_packed_and_chunked(&store, dir.path(), 11);
    let out = dir.path().join("out");
    let mut items = vec![(big, out.join("deep/big.bin"), Some(0o600))];
    items.extend(small_items(&small, &out));
    store
        .export_many(&items, false, true, &Progress::default())
        .unwrap();
    assert_eq!(fs::read(out.join("deep/big.bin")).unwrap(), chunked);
    assert_eq!(fs::read(out.join("s/69")).unwrap(), small[69]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(out.join("deep/big.bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // An existing destination is replaced atomically rather than written in place.
    fs::write(out.join("s/0"), b"stale").unwrap();
    store
        .export_many(&items[1..2], false, true, &Progress::default())
        .unwrap();
    assert_eq!(fs::read(out.join("s/0")).unwrap(), small[0]);
}

#[test]
fn export_many_refuses_a_damaged_chunk_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let data = noise(100_000, 12);
    let digest = store.put_bytes(&data).unwrap().digest;
    flip_first_byte(&first_chunk(dir.path()));
    let dest = dir.path().join("out.bin");
    let result = export_one(&store, digest, &dest, true);
    assert!(matches!(result, Err(Error::Corrupt { .. })), "{result:?}");
    assert!(!dest.exists());
}

#[test]
fn export_many_without_verify_trusts_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (small, chunked, big) = put_packed_and_chunked(&store, dir.path(), 14);
    let whole = noise(10_000, 15);
    let whole_digest = store.put_bytes(&whole).unwrap().digest; // a file of its own
    let out = dir.path().join("out");
    let mut items = vec![
        (big, out.join("big.bin"), None),
        (whole_digest, out.join("whole.bin"), None),
    ];
    items.extend(small_items(&small, &out));
    store
        .export_many(&items, false, false, &Progress::default())
        .unwrap();
    assert_eq!(fs::read(out.join("big.bin")).unwrap(), chunked);
    assert_eq!(fs::read(out.join("whole.bin")).unwrap(), whole);
    for (i, data) in small.iter().enumerate() {
        assert_eq!(&fs::read(out.join(format!("s/{i}"))).unwrap(), data);
    }
    // Damage is then copied as it is (what `verify` exists to catch), and a verified export
    // of the same blob refuses it.
    let victim = store.whole_path(&whole_digest).unwrap().unwrap();
    flip_first_byte(&victim);
    let damaged = fs::read(&victim).unwrap();
    assert_ne!(damaged, whole);
    let trusted = dir.path().join("trusted.bin");
    export_one(&store, whole_digest, &trusted, false).unwrap();
    assert_eq!(fs::read(&trusted).unwrap(), damaged);
    let checked = dir.path().join("checked.bin");
    let refused = export_one(&store, whole_digest, &checked, true);
    assert!(matches!(refused, Err(Error::Corrupt { .. })), "{refused:?}");
    assert!(!checked.exists());
}

#[test]
fn export_many_refuses_a_truncated_chunk_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let digest = store.put_bytes(&noise(100_000, 13)).unwrap().digest;
    let victim = first_chunk(dir.path());
    let bytes = fs::read(&victim).unwrap();
    fs::remove_file(&victim).unwrap();
    fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let dest = dir.path().join("out.bin");
    let result = export_one(&store, digest, &dest, true);
    match result {
        Err(Error::Corrupt { detail, .. }) => assert!(detail.contains("shorter"), "{detail}"),
        other => panic!("expected a corrupt blob, got {other:?}"),
    }
    assert!(!dest.exists());
}

#[test]
fn export_many_reads_packs_rewritten_by_another_handle() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (paths, digests) = put_small_files(&store, dir.path(), 100);
    // Another handle (think: another process) indexed the pack before this one rewrote it.
    let other = BlobStore::with_chunking(store.root(), small_chunking()).unwrap();
    assert!(other.has(&digests[1]));
    assert!(store.delete(&digests[0]).unwrap());
    let out = dir.path().join("out");
    let items: Vec<_> = digests[1..]
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, out.join(i.to_string()), None))
        .collect();
    other
        .export_many(&items, false, true, &Progress::default())
        .unwrap();
    for (i, path) in paths[1..].iter().enumerate() {
        assert_eq!(
            fs::read(out.join(i.to_string())).unwrap(),
            fs::read(path).unwrap()
        );
    }
    // The blob that is gone is reported as such, not as damage.
    let gone = export_one(&other, digests[0], &out.join("gone"), true);
    assert!(matches!(gone, Err(Error::BlobNotFound { .. })), "{gone:?}");
    assert!(!out.join("gone").exists());
}
