//! Listing a folder tree fast: every regular file under a root with its size, modification
//! time, inode and mode, read in parallel (one task per directory).
//!
//! Data version control compares such a listing with the stat cache to find the files that
//! changed, so that re-adding or checking the status of a 50,000-file tree costs a walk, not
//! a hash of every file.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::blobs::{hash_file, Digest};
use crate::error::IoContext;
use crate::{Error, Result};

/// One regular file found under the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Path relative to the root, with `/` separators.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Inode number (0 where the platform has none).
    pub inode: u64,
    /// Permission bits (`0o644`...).
    pub mode: u32,
}

/// Every regular file under `root`, sorted by path. `root` may also be a single file, listed
/// under its own name.
///
/// Symbolic links, one rule for everything aidot versions: a link to a file inside `root` is
/// that file's content; any other link (to a file outside `root`, to a folder, or to nothing)
/// is refused with [`Error::InvalidArgument`] naming it, never followed out of the root or
/// dropped silently.
pub fn scan(root: &Path) -> Result<Vec<FileStat>> {
    let meta = fs::metadata(root).at("read", root)?;
    if meta.is_file() {
        let name = root
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| non_utf8(root))?;
        return Ok(vec![stat(name.to_owned(), &meta)]);
    }
    if !meta.is_dir() {
        return Err(Error::NotAFile {
            path: root.to_path_buf(),
        });
    }
    let inside = fs::canonicalize(root).at("read", root)?;
    let mut files = scan_dir(root, "", &inside)?;
    files.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn scan_dir(dir: &Path, prefix: &str, root: &Path) -> Result<Vec<FileStat>> {
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    for entry in fs::read_dir(dir).at("list", dir)? {
        let entry = entry.at("list", dir)?;
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| non_utf8(&entry.path()))?;
        let relative = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().at("read", &entry.path())?;
        if kind.is_dir() {
            subdirs.push((entry.path(), relative));
        } else if kind.is_file() {
            let meta = entry.metadata().at("read", &entry.path())?;
            files.push(stat(relative, &meta));
        } else if kind.is_symlink() {
            files.push(linked_file(&entry.path(), relative, root)?);
        }
    }
    let nested: Vec<Vec<FileStat>> = subdirs
        .par_iter()
        .map(|(path, relative)| scan_dir(path, relative, root))
        .collect::<Result<_>>()?;
    files.extend(nested.into_iter().flatten());
    Ok(files)
}

/// The file a link inside the tree stands for, or why it is refused (see [`scan`]).
fn linked_file(link: &Path, relative: String, root: &Path) -> Result<FileStat> {
    let target = fs::read_link(link).at("read", link)?;
    let refuse = |why: &str| {
        Err(Error::InvalidArgument(format!(
            "{} is a symbolic link to {}, {why}; aidot versions only links to files inside the              folder. Replace it with a copy of what it points to (cp -L), or remove it",
            link.display(),
            target.display()
        )))
    };
    let Ok(resolved) = fs::canonicalize(link) else {
        return refuse("which does not exist");
    };
    let meta = fs::metadata(&resolved).at("read", &resolved)?;
    if meta.is_dir() {
        return refuse("a folder (links to folders are not followed)");
    }
    if !resolved.starts_with(root) {
        return refuse(&format!("outside {}", root.display()));
    }
    if !meta.is_file() {
        return refuse("which is not a regular file");
    }
    Ok(stat(relative, &meta))
}

/// A digest of a listing (every path, size, mtime, inode and mode, in order): equal
/// fingerprints mean nothing in the tree was touched, so a status check of an unchanged
/// 50,000-file tree costs one walk and one comparison.
pub fn fingerprint(files: &[FileStat]) -> Digest {
    let mut hasher = blake3::Hasher::new();
    for f in files {
        hasher.update(&(f.path.len() as u64).to_le_bytes());
        hasher.update(f.path.as_bytes());
        hasher.update(&f.size.to_le_bytes());
        hasher.update(&f.mtime_ns.to_le_bytes());
        hasher.update(&f.inode.to_le_bytes());
        hasher.update(&f.mode.to_le_bytes());
    }
    Digest::from(hasher.finalize())
}

/// BLAKE3 digests of files (what the blob store would name them), in parallel, without
/// storing anything: how `status` tells a modified file from one merely touched.
pub fn hash_files(paths: &[PathBuf]) -> Result<Vec<Digest>> {
    paths.par_iter().map(|path| hash_file(path)).collect()
}

fn non_utf8(path: &Path) -> Error {
    Error::InvalidArgument(format!(
        "{} has a name that is not valid UTF-8; rename it to version it",
        path.display()
    ))
}

#[cfg(unix)]
fn stat(path: String, meta: &fs::Metadata) -> FileStat {
    use std::os::unix::fs::MetadataExt;
    FileStat {
        path,
        size: meta.len(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        inode: meta.ino(),
        mode: meta.mode() & 0o7777,
    }
}

#[cfg(not(unix))]
fn stat(path: String, meta: &fs::Metadata) -> FileStat {
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    FileStat {
        path,
        size: meta.len(),
        mtime_ns,
        inode: 0,
        mode: if meta.permissions().readonly() {
            0o444
        } else {
            0o644
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_nested_files_sorted_with_their_stats() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("b/c")).unwrap();
        fs::write(dir.path().join("b/c/z.txt"), b"zz").unwrap();
        fs::write(dir.path().join("a.txt"), b"a").unwrap();
        fs::write(dir.path().join("b/y.bin"), b"yyy").unwrap();
        fs::create_dir(dir.path().join("empty")).unwrap();
        let files = scan(dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["a.txt", "b/c/z.txt", "b/y.bin"]);
        assert_eq!(files[2].size, 3);
        assert!(files[0].mtime_ns > 0);
        let single = scan(&dir.path().join("b/y.bin")).unwrap();
        assert_eq!(single[0].path, "y.bin");
        assert!(scan(&dir.path().join("missing")).is_err());
        let digests = hash_files(&[dir.path().join("a.txt")]).unwrap();
        assert_eq!(digests[0], Digest::of(b"a"));
        let before = fingerprint(&files);
        assert_eq!(before, fingerprint(&scan(dir.path()).unwrap()));
        fs::write(dir.path().join("a.txt"), b"bb").unwrap(); // another size
        assert_ne!(before, fingerprint(&scan(dir.path()).unwrap()));
    }

    #[cfg(unix)]
    #[test]
    fn follows_links_to_files_inside_and_refuses_every_other_link() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("d")).unwrap();
        fs::write(root.join("d/f"), b"data").unwrap();
        fs::write(dir.path().join("secret"), b"outside").unwrap();
        symlink(root.join("d/f"), root.join("link")).unwrap();
        symlink("d/f", root.join("relative")).unwrap();
        let files = scan(&root).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["d/f", "link", "relative"]);
        assert_eq!(files[1].size, 4);

        for (name, target, why) in [
            ("out", dir.path().join("secret"), "outside"),
            ("loop", root.clone(), "a folder"),
            ("gone", root.join("missing"), "does not exist"),
        ] {
            symlink(&target, root.join(name)).unwrap();
            match scan(&root) {
                Err(Error::InvalidArgument(message)) => {
                    assert!(message.contains(why), "{message}");
                    assert!(message.contains(name), "{message}");
                }
                other => panic!("{name}: expected a refusal, got {other:?}"),
            }
            fs::remove_file(root.join(name)).unwrap();
        }
    }
}
