//! Blob store throughput against writing the same bytes with `std::fs` (the floor any store
//! pays), in one run: `cargo bench -p aidot-core`.

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use aidot_core::blobs::BlobStore;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn put_vs_plain_write(c: &mut Criterion) {
    let mut group = c.benchmark_group("put_bytes");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for mib in [1usize, 64] {
        let data = noise(mib << 20);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("baseline: fs::write + fsync", mib),
            &data,
            |b, data| {
                let dir = tempfile::tempdir().unwrap();
                b.iter(|| {
                    let mut f = File::create(dir.path().join("copy")).unwrap();
                    f.write_all(data).unwrap();
                    f.sync_all().unwrap();
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("aidot: new content", mib),
            &data,
            |b, data| {
                b.iter_batched(
                    || {
                        let dir = tempfile::tempdir().unwrap();
                        let store = BlobStore::open(dir.path().join("blobs")).unwrap();
                        (dir, store)
                    },
                    |(_dir, store)| store.put_bytes(data).unwrap(),
                    criterion::BatchSize::PerIteration,
                );
            },
        );
        group.bench_with_input(
            BenchmarkId::new("aidot: already stored", mib),
            &data,
            |b, data| {
                let dir = tempfile::tempdir().unwrap();
                let store = BlobStore::open(dir.path().join("blobs")).unwrap();
                store.put_bytes(data).unwrap();
                b.iter(|| store.put_bytes(data).unwrap());
            },
        );
    }
    group.finish();
}

criterion_group!(benches, put_vs_plain_write);
criterion_main!(benches);
