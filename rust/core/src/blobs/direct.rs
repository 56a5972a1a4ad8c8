//! Writing chunks of large files straight to disk, past the page cache (Linux `O_DIRECT`).
//!
//! A large add is flushed before it returns anyway, so staging its bytes in the page cache buys
//! nothing: it costs a copy and a fresh page of memory per 4 KiB, which on a VM whose host
//! reclaims idle memory costs microseconds each (a buffered 2 GiB `dd` plus `sync` here took
//! 6.3-7.3 s, 5-5.8 s of it in the kernel; with `O_DIRECT` 2.1-2.3 s). It also keeps the
//! user's own working set in the cache instead of evicting it for store content nobody reads
//! yet. Where the filesystem refuses direct I/O (tmpfs, some network filesystems), the write
//! falls back to the page cache, so the result is the same file either way.
//!
//! Reads stay buffered: reading cold chunks past the cache as well was measured (checkouts of
//! the 2 GiB right after adding it) and gained nothing, since without readahead each chunk is
//! one synchronous request to the disk.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::aligned::{AlignedBuf, ALIGN};

/// Content at least this large goes past the page cache; below it, the cache is cheaper than
/// a synchronous trip to the disk.
pub(crate) const DIRECT_MIN: usize = 1 << 20;

/// Bytes copied into the aligned buffer per write: the largest default chunk (4 MiB), so a
/// chunk is usually one system call.
const PIECE: usize = 4 << 20;

thread_local! {
    /// Each writing thread's aligned staging buffer, allocated on first use and then reused.
    static STAGING: RefCell<Option<AlignedBuf>> = const { RefCell::new(None) };
}

/// Writes all of `data` at the start of `file` (a new, empty file), past the page cache where
/// the filesystem allows, through the page cache otherwise.
pub(crate) fn write_all(file: &File, data: &[u8]) -> io::Result<()> {
    let aligned = data.len() / ALIGN * ALIGN;
    if aligned > 0 && enable(file) {
        with_staging(aligned.min(PIECE), |buffer| {
            data[..aligned]
                .chunks(PIECE)
                .enumerate()
                .try_for_each(|(index, piece)| {
                    buffer[..piece.len()].copy_from_slice(piece);
                    write_aligned_at(file, &buffer[..piece.len()], (index * PIECE) as u64)
                })
        })?;
        set_direct(file, false)?;
    }
    // The unaligned tail goes through the cache.
    file.write_all_at(&data[aligned..], aligned as u64)
}

/// Runs `f` on this thread's staging buffer, aligned for direct I/O and at least `len` bytes
/// (rounded up to the alignment); the buffer is allocated once per thread and reused.
fn with_staging<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    let len = len.div_ceil(ALIGN) * ALIGN;
    STAGING.with_borrow_mut(|staging| {
        let buffer = match staging {
            Some(buffer) if buffer.len() >= len => buffer,
            // Not grown in place: the old contents need no copying.
            _ => staging.insert(AlignedBuf::new(len)),
        };
        f(&mut buffer.as_mut_slice()[..len])
    })
}

/// Turns direct I/O on for `file` where the filesystem allows it; returns whether it did.
pub(crate) fn enable(file: &File) -> bool {
    set_direct(file, true).is_ok()
}

/// Writes all of `data` at `offset`, both multiples of [`ALIGN`] (and `data` aligned in memory)
/// when `file` has direct I/O on. A direct write the filesystem refuses turns direct I/O off
/// for the file and is written again through the page cache.
pub(crate) fn write_aligned_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    if file.write_all_at(data, offset).is_ok() {
        return Ok(());
    }
    set_direct(file, false)?;
    file.write_all_at(data, offset)
}

/// Turns direct I/O on or off for an open file.
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is open for the duration of both calls, which only read and set its flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = if on {
            flags | libc::O_DIRECT
        } else {
            flags & !libc::O_DIRECT
        };
        if libc::fcntl(fd, libc::F_SETFL, flags) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    /// Drops `file`'s clean pages from the page cache: what is read next comes from the disk.
    fn evict(file: &File) {
        use std::os::fd::AsRawFd;
        file.sync_all().unwrap();
        // SAFETY: the descriptor is open; the call only drops clean cached pages.
        let status =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(status, 0);
    }

    /// tmpfs keeps files in the page cache by design; there "past the cache" cannot hold.
    fn on_tmpfs(file: &File) -> bool {
        use std::os::fd::AsRawFd;
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        // SAFETY: `stat` is plain data that `fstatfs` fills for an open descriptor.
        let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
        let status = unsafe { libc::fstatfs(file.as_raw_fd(), &raw mut stat) };
        assert_eq!(status, 0);
        // `f_type`'s width differs between platforms; on some the conversion is a no-op.
        #[allow(clippy::useless_conversion)]
        let kind = i64::from(stat.f_type);
        kind == TMPFS_MAGIC
    }

    /// Whether any of the first `len` bytes of `file` are in the page cache (`mincore` on a
    /// mapping; true when that cannot be told).
    fn any_page_cached(file: &File, len: usize) -> bool {
        // SAFETY: a read-only private mapping that is only passed to `mincore`, never read.
        let Ok(map) = (unsafe { memmap2::MmapOptions::new().len(len).map(file) }) else {
            return true;
        };
        let pages = len.div_ceil(page_size());
        let mut resident = vec![0u8; pages];
        // SAFETY: `map` covers `len` bytes and `resident` has one byte per page of it.
        let status = unsafe {
            libc::mincore(
                map.as_ptr() as *mut libc::c_void,
                len,
                resident.as_mut_ptr(),
            )
        };
        status != 0 || resident.iter().any(|page| page & 1 != 0)
    }

    fn page_size() -> usize {
        // SAFETY: `sysconf` only reads a system constant.
        usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
    }

    fn new_file(path: &std::path::Path) -> File {
        File::options()
            .create_new(true)
            .write(true)
            .read(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn writes_of_any_length_read_back_whole_from_the_cache_and_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            DIRECT_MIN + 123,
            PIECE + ALIGN + 5,
            9 << 20,
        ] {
            let data = noise(len);
            let path = dir.path().join(format!("f{len}"));
            let file = new_file(&path);
            write_all(&file, &data).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), data, "{len} bytes");
            evict(&file);
            assert_eq!(
                std::fs::read(&path).unwrap(),
                data,
                "{len} bytes from the disk"
            );
        }
    }

    #[test]
    fn large_writes_leave_the_page_cache_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = new_file(&dir.path().join("chunk"));
        if on_tmpfs(&file) {
            return;
        }
        let data = noise(3 * DIRECT_MIN);
        write_all(&file, &data).unwrap();
        assert!(
            !any_page_cached(&file, data.len()),
            "the write went through the page cache"
        );
    }

    #[test]
    fn packs_of_a_batch_leave_the_page_cache_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::blobs::BlobStore::open(dir.path().join("blobs")).unwrap();
        let data = noise(3 << 20);
        // 300 small files that fill three pack buffers and part of a fourth.
        let paths: Vec<_> = data
            .chunks(10_001)
            .enumerate()
            .map(|(i, piece)| {
                let path = dir.path().join(format!("f{i}"));
                std::fs::write(&path, piece).unwrap();
                path
            })
            .collect();
        store
            .put_files(&paths, &crate::blobs::Progress::default())
            .unwrap();
        let pack = std::fs::read_dir(store.root().join("packs"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| path.extension().is_some_and(|ext| ext == "pack"))
            .unwrap();
        let file = File::open(&pack).unwrap();
        if on_tmpfs(&file) {
            return;
        }
        // The blobs, then the copy of the pack's index (44 bytes an entry and 64 of framing).
        let copy = paths.len() as u64 * 44 + 64;
        assert_eq!(file.metadata().unwrap().len(), data.len() as u64 + copy);
        assert!(
            !any_page_cached(&file, data.len()),
            "the pack went through the page cache"
        );
    }
}
