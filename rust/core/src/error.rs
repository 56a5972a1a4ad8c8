//! The one error type of the core crate. The Python bindings map every variant onto a class of
//! `aidot.errors`, so each message says what was wrong and what to do about it.

use std::io;
use std::path::{Path, PathBuf};

/// Result alias used throughout the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A string that is not a BLAKE3 digest in hex.
    #[error("invalid digest {value:?}: expected 64 hexadecimal characters (a BLAKE3 digest, as printed by b3sum)")]
    InvalidDigest { value: String },

    /// The digest is well formed but no blob with it is stored.
    #[error(
        "blob {digest} is not in the store at {root}; put its content first or check the digest"
    )]
    BlobNotFound { digest: String, root: PathBuf },

    /// The stored bytes no longer hash to their digest.
    #[error("blob {digest} is corrupt: {detail}; delete it and put the original content again")]
    Corrupt { digest: String, detail: String },

    /// A path that should be a regular file is something else (a directory, a socket...).
    #[error("{path} is not a regular file; pass a file (use put_files over a directory's files for a folder)")]
    NotAFile { path: PathBuf },

    /// A folder exists but does not hold an aidot blob store.
    #[error(
        "{path} exists but is not an aidot blob store ({detail}); choose an empty or new folder"
    )]
    NotAStore { path: PathBuf, detail: String },

    /// An argument outside what the call accepts.
    #[error("{0}")]
    InvalidArgument(String),

    /// A remote (S3-compatible object storage, or a folder) failed or refused a request.
    #[error("remote {url}: {detail}")]
    Remote { url: String, detail: String },

    /// The caller asked the operation to stop (Ctrl-C from Python, say).
    #[error("operation cancelled; nothing partial was made visible")]
    Cancelled,

    /// An operating-system error on a path, with the action that failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the action and the path it concerned.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Attaches an action and a path to an I/O result, in the style of `anyhow::Context`.
pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::io(action, path, source))
    }
}
