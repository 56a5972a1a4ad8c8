//! Where things live inside a store folder.
//!
//! ```text
//! ROOT/AIDOT_BLOBS          format marker
//! ROOT/objects/ab/abcd...   blobs stored whole (named by the digest of their content)
//! ROOT/manifests/ab/abcd... blobs stored as chunks: the ordered list of their chunks
//! ROOT/chunks/ab/abcd...    chunks (named by the digest of the chunk)
//! ROOT/packs/ID.pack, ID.idx many small blobs in one file, and its index
//! ROOT/writers/TOKEN-N      leases of writers at work (see `lease.rs`)
//! ROOT/*/ab/.put-TOKEN-RAND files being written, renamed into place in the same folder when
//!                           complete (a rename across folders would take the filesystem-wide
//!                           rename lock, which serialised batch puts at ~2,000 files/s here)
//! ```
//! Two-character fan-out keeps directories small at millions of entries, as git does; shard
//! folders are created when first written to.

use std::fs;
use std::path::{Path, PathBuf};

use super::digest::Digest;
use crate::error::IoContext;
use crate::{Error, Result};

const MARKER: &str = "AIDOT_BLOBS";
const MARKER_CONTENT: &str = "aidot blob store, format 1\n";

/// The kinds of file a store keeps, each in its own tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Manifest,
    Chunk,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Object, Kind::Manifest, Kind::Chunk];

    fn dir(self) -> &'static str {
        match self {
            Kind::Object => "objects",
            Kind::Manifest => "manifests",
            Kind::Chunk => "chunks",
        }
    }
}

/// Path arithmetic for one store root.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the store at `root`, creating it when the folder is missing or empty.
    pub(crate) fn open_or_create(root: &Path) -> Result<Self> {
        let layout = Self {
            root: root.to_path_buf(),
        };
        let marker = root.join(MARKER);
        match fs::read_to_string(&marker) {
            Ok(content) if content == MARKER_CONTENT => {
                // Stores made before packs (or writer leases) existed get the folders on first
                // open; a read-only store simply has none.
                fs::create_dir_all(layout.packs_dir()).at("create folder", &layout.packs_dir())?;
                let _ = fs::create_dir(root.join(super::lease::WRITERS_DIR));
                return Ok(layout);
            }
            Ok(_) => {
                return Err(Error::NotAStore {
                    path: root.to_path_buf(),
                    detail: format!("{MARKER} names an unknown format"),
                })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(Error::io("read", &marker, err)),
        }
        if root.exists() {
            if !root.is_dir() {
                return Err(Error::NotAStore {
                    path: root.to_path_buf(),
                    detail: "it is a file".into(),
                });
            }
            // Our own folders without the marker mean another process is creating the store
            // right now; creation is idempotent, so join in. The marker itself may have
            // appeared since it was read above: that process has just finished.
            let known = [
                "objects",
                "manifests",
                "chunks",
                "packs",
                super::lease::WRITERS_DIR,
                MARKER,
            ];
            for entry in fs::read_dir(root).at("list", root)? {
                let name = entry.at("list", root)?.file_name();
                let creating_marker = name.to_string_lossy().starts_with(".tmp");
                if !creating_marker && !known.iter().any(|k| name == *k) {
                    return Err(Error::NotAStore {
                        path: root.to_path_buf(),
                        detail: format!("it holds {name:?} but no {MARKER} marker"),
                    });
                }
            }
        }
        layout.create()?;
        Ok(layout)
    }

    /// Creates the top-level folders; the 256 shard folders under each appear on first write
    /// (creating all 768 up front costs about a second on a slow virtual disk).
    fn create(&self) -> Result<()> {
        for kind in Kind::ALL {
            let dir = self.kind_dir(kind);
            fs::create_dir_all(&dir).at("create folder", &dir)?;
        }
        fs::create_dir_all(self.packs_dir()).at("create folder", &self.packs_dir())?;
        let writers = self.root.join(super::lease::WRITERS_DIR);
        fs::create_dir_all(&writers).at("create folder", &writers)?;
        // The marker goes last: a store without it was never completely created.
        let marker = self.root.join(MARKER);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.root).at("create", &marker)?;
        std::io::Write::write_all(&mut tmp, MARKER_CONTENT.as_bytes()).at("write", &marker)?;
        tmp.persist(&marker)
            .map_err(|e| Error::io("create", &marker, e.error))?;
        Ok(())
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Pack files: many small blobs each (see `pack.rs`).
    pub(crate) fn packs_dir(&self) -> PathBuf {
        self.root.join("packs")
    }

    pub(crate) fn kind_dir(&self, kind: Kind) -> PathBuf {
        self.root.join(kind.dir())
    }

    pub(crate) fn path(&self, kind: Kind, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        let mut path = self.root.join(kind.dir());
        path.push(&hex[..2]);
        path.push(hex);
        path
    }

    /// Every digest stored under `kind`, in no particular order, and the temporary files of
    /// writes in progress (or interrupted) there. Other stray names are skipped.
    pub(crate) fn scan(&self, kind: Kind) -> Result<(Vec<Digest>, Vec<PathBuf>)> {
        let mut digests = Vec::new();
        let mut temps = Vec::new();
        let top = self.kind_dir(kind);
        for shard in fs::read_dir(&top).at("list", &top)? {
            let shard = shard.at("list", &top)?.path();
            if !shard.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&shard).at("list", &shard)? {
                let entry = entry.at("list", &shard)?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with(TEMP_PREFIX) {
                    temps.push(entry.path());
                } else if let Ok(digest) = Digest::parse(name) {
                    digests.push(digest);
                }
            }
        }
        Ok((digests, temps))
    }

    /// Every digest stored under `kind`, in no particular order.
    pub(crate) fn list(&self, kind: Kind) -> Result<Vec<Digest>> {
        self.scan(kind).map(|(digests, _)| digests)
    }
}

/// Name prefix of files being written; never a valid digest, so never visible as a blob.
pub(crate) const TEMP_PREFIX: &str = ".put-";
