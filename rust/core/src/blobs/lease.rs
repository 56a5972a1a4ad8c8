//! Cleaning up after writers that died: a process killed in the middle of a large put (a model
//! registered, a dataset added) leaves its temporary files behind, hundreds of megabytes of
//! them, which `gc` would keep for its grace period.
//!
//! So a writer takes a *lease* before it creates its first temporary file: a file
//! `ROOT/writers/TOKEN-N` holding its host name and process id, removed when the batch ends
//! (committed or dropped). `TOKEN` is random per process, and the process's temporary files are
//! named `.put-TOKEN-...`. Opening a store lists `writers/` (one small folder, empty unless a
//! writer is at work or died) and, for each lease of this host whose process is gone, deletes
//! the files of its token and the lease. Leases of other hosts (a folder shared over a network
//! file system) are left alone. A store is scanned only after a crash.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::layout::{Kind, Layout, TEMP_PREFIX};
use crate::error::IoContext;
use crate::Result;

/// The folder of leases, under the store's root.
pub(crate) const WRITERS_DIR: &str = "writers";

/// This process's token: random, so that no two processes, here or on another host, share it.
fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = format!("{}-{}-{nanos}", host(), std::process::id());
        blake3::hash(seed.as_bytes()).to_hex()[..16].to_owned()
    })
}

/// `.put-TOKEN-`: the prefix of this process's temporary files.
pub(crate) fn temp_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("{TEMP_PREFIX}{}-", token()))
}

/// This machine's name, as a lease records it.
fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .map_or_else(|_| "unknown".to_owned(), |h| h.trim().to_owned())
}

/// A writer's lease: removed when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    path: Option<PathBuf>,
}

impl Lease {
    /// Takes a lease on the store at `root`. Best effort: a store whose `writers/` cannot be
    /// written to (read-only, or made by an older aidot and not yet opened by this one) still
    /// takes puts, and their leftovers go by `gc`'s grace period as before.
    pub(crate) fn take(root: &Path) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = root.join(WRITERS_DIR).join(format!("{}-{n}", token()));
        let taken = fs::write(&path, format!("{}\n{}\n", host(), std::process::id())).is_ok();
        Self {
            path: taken.then_some(path),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = fs::remove_file(path);
        }
    }
}

/// Deletes the temporary files of every writer whose lease outlived its process, then the
/// leases; returns how many files went. Cheap when no writer died: one listing of `writers/`.
pub(crate) fn clean_after_dead_writers(layout: &Layout) -> Result<u64> {
    let dir = layout.root().join(WRITERS_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(0);
    };
    let here = host();
    let mut dead = Vec::new();
    for entry in entries {
        let entry = entry.at("list", &dir)?;
        let name = entry.file_name();
        let Some(token) = name.to_str().and_then(|n| n.split('-').next()) else {
            continue;
        };
        // A lease being written is empty for a moment: not yet anyone's to judge.
        let Ok(content) = fs::read_to_string(entry.path()) else {
            continue;
        };
        let mut lines = content.lines();
        let (Some(host), Some(pid)) = (lines.next(), lines.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if host == here && !alive(pid) {
            dead.push((format!("{TEMP_PREFIX}{token}-"), entry.path()));
        }
    }
    if dead.is_empty() {
        return Ok(0);
    }
    let prefixes: Vec<&str> = dead.iter().map(|(prefix, _)| prefix.as_str()).collect();
    let mut removed = 0;
    let mut folders = vec![layout.packs_dir()];
    for kind in Kind::ALL {
        let top = layout.kind_dir(kind);
        if let Ok(shards) = fs::read_dir(&top) {
            folders.extend(shards.filter_map(|s| s.ok().map(|s| s.path())));
        }
    }
    for folder in folders {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if prefixes.iter().any(|p| name.starts_with(p)) && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    for (_, lease) in dead {
        let _ = fs::remove_file(lease);
    }
    Ok(removed)
}

/// Whether process `pid` exists on this machine (a lease names a process of this host: stores
/// shared by several machines are object stores, which have no temporary files).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 checks that the process exists and sends nothing.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return true;
        }
        std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true // unknown: leave the files to gc's grace period
    }
}
