//! Remotes: a blob store's content mirrored in S3-compatible object storage (AWS S3, MinIO,
//! any S3 protocol server) or a plain folder, through the `object_store` crate.
//!
//! Layout under the remote's prefix:
//!
//! ```text
//! objects/<digest>     blobs stored whole (and packed ones, uploaded on their own)
//! chunks/<digest>      chunks of chunked blobs
//! manifests/<digest>   the chunk lists of chunked blobs (uploaded after their chunks)
//! index/<id>.idx       one segment per push, listing what it uploaded ("o|c|m <digest>")
//! meta/...             small documents written by callers (dataset versions)
//! ```
//!
//! The index is what keeps a push or pull in proportion to what changed: a client lists
//! `index/` (one key per earlier push, not one per blob), fetches only the segments it has not
//! cached locally, and so knows everything the remote holds without listing or probing millions
//! of objects. A segment is written last, after every object it names, so a push that dies
//! half-way leaves objects that a later push simply uploads again and indexes.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::digest::Digest;
use super::layout::Kind;
use super::manifest::Manifest;
use super::read::Located;
use super::write::{Durability, Writer};
use super::{BlobStore, Progress};
use crate::error::IoContext;
use crate::{Error, Result};

/// Requests in flight at once: enough to hide a round trip behind others.
const CONCURRENCY: usize = 16;

/// What a push or pull moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Objects (whole blobs, chunks, manifests) sent or received.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// An object store holding mirrored blobs, opened from a URL.
pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    cache: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// Opens `s3://bucket/prefix` (credentials and region from the usual `AWS_*` variables,
    /// overridden by `options` such as `aws_endpoint`, `aws_allow_http`,
    /// `aws_access_key_id`) or `file:///path`. Index segments already read are cached under
    /// `cache`.
    pub fn open(url: &str, options: &[(String, String)], cache: &FsPath) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|err| {
            Error::InvalidArgument(format!(
                "remote {url:?} is not a URL ({err}); use s3://bucket/prefix or file:///path"
            ))
        })?;
        let fail = |detail: String| Error::Remote {
            url: url.to_owned(),
            detail,
        };
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match parsed.scheme() {
            "s3" | "s3a" => {
                let bucket = parsed.host_str().unwrap_or_default();
                if bucket.is_empty() {
                    return Err(Error::InvalidArgument(format!(
                        "remote {url:?} names no bucket; use s3://bucket/prefix"
                    )));
                }
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(object_store::RetryConfig::default());
                for (key, value) in options {
                    let key = key.parse().map_err(|_| {
                        Error::InvalidArgument(format!(
                            "unknown S3 option {key:?} for remote {url}; use names such as \
                             aws_endpoint, aws_region, aws_allow_http, aws_access_key_id"
                        ))
                    })?;
                    builder = builder.with_config(key, value);
                }
                let store = builder.build().map_err(|e| fail(e.to_string()))?;
                (Arc::new(store), Path::from(parsed.path().trim_matches('/')))
            }
            "file" => {
                let root = parsed.to_file_path().map_err(|()| {
                    Error::InvalidArgument(format!("remote {url:?} is not a local path"))
                })?;
                fs::create_dir_all(&root).at("create", &root)?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
                    .map_err(|e| fail(e.to_string()))?;
                (Arc::new(store), Path::default())
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "remote {url:?} uses {other}://, which aidot does not speak; use s3:// \
                     (AWS S3, MinIO and other S3-compatible stores) or file://"
                )))
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aidot-remote")
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the remote client of", cache, e))?;
        Ok(Self {
            url: url.to_owned(),
            store,
            prefix,
            cache: cache.to_path_buf(),
            runtime,
        })
    }

    /// The URL the remote was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Uploads what the remote lacks of the blobs `digests` (for a chunked blob: its missing
    /// chunks, then its manifest), in parallel with retries, then indexes them.
    pub fn push(
        &self,
        blobs: &BlobStore,
        digests: &[Digest],
        progress: &Progress,
    ) -> Result<Transfer> {
        let index = self.index()?;
        let mut plan: Vec<(char, Digest)> = Vec::new();
        let mut manifests: Vec<(Digest, Vec<u8>)> = Vec::new();
        let mut planned: HashSet<Digest> = HashSet::new();
        for digest in digests {
            if index.contains_key(digest) || !planned.insert(*digest) {
                continue;
            }
            match blobs.locate(digest)? {
                Located::Whole { .. } | Located::Packed(_) => plan.push(('o', *digest)),
                Located::Chunked(manifest) => {
                    for chunk in &manifest.chunks {
                        if !index.contains_key(&chunk.digest) && planned.insert(chunk.digest) {
                            plan.push(('c', chunk.digest));
                        }
                    }
                    manifests.push((*digest, manifest.encode()));
                }
            }
        }
        let total: u64 = plan.len() as u64 + manifests.len() as u64;
        progress.bytes_total.store(total, Ordering::Relaxed);
        let transfer = self.runtime.block_on(async {
            let mut sent = Transfer::default();
            let uploads = stream::iter(plan.iter().map(|&(kind, digest)| async move {
                if progress.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let data = if kind == 'o' {
                    blobs.get_bytes(&digest)?
                } else {
                    let path = blobs.layout.path(Kind::Chunk, &digest);
                    fs::read(&path).at("read", &path)?
                };
                let len = data.len() as u64;
                self.put(&object_path(&self.prefix, kind, &digest), data)
                    .await?;
                progress.add_bytes(1);
                Ok::<u64, Error>(len)
            }))
            .buffer_unordered(CONCURRENCY);
            let sizes: Vec<u64> = uploads.try_collect().await?;
            sent.objects += sizes.len() as u64;
            sent.bytes += sizes.iter().sum::<u64>();
            // Manifests after every chunk they list: a reader that finds one finds them all.
            for (digest, bytes) in &manifests {
                sent.objects += 1;
                sent.bytes += bytes.len() as u64;
                self.put(&object_path(&self.prefix, 'm', digest), bytes.clone())
                    .await?;
                progress.add_bytes(1);
            }
            Ok::<Transfer, Error>(sent)
        })?;
        let mut lines = String::new();
        for (kind, digest) in plan
            .iter()
            .copied()
            .chain(manifests.iter().map(|(d, _)| ('m', *d)))
        {
            let _ = writeln!(lines, "{kind} {digest}");
        }
        if !lines.is_empty() {
            let name = format!("{}.idx", segment_name());
            let key = self.prefix.clone().join("index").join(name.as_str());
            self.runtime
                .block_on(self.put(&key, lines.clone().into_bytes()))?;
            self.cache_segment(&name, lines.as_bytes())?;
        }
        Ok(transfer)
    }

    /// Downloads the blobs `digests` that the local store lacks (a chunked blob's missing
    /// chunks, then its manifest), verifying each against its digest, and makes them durable
    /// in `blobs` at once. A digest the remote does not hold is an error naming it.
    pub fn pull(
        &self,
        blobs: &BlobStore,
        digests: &[Digest],
        progress: &Progress,
    ) -> Result<Transfer> {
        let wanted: Vec<Digest> = digests.iter().filter(|d| !blobs.has(d)).copied().collect();
        if wanted.is_empty() {
            return Ok(Transfer::default());
        }
        let index = self.index()?;
        let writer = Writer::new(&blobs.layout, Durability::Batch);
        let transfer = self.runtime.block_on(async {
            let mut received = Transfer::default();
            let mut objects = Vec::new();
            let mut manifests = Vec::new();
            for digest in &wanted {
                match index.get(digest) {
                    Some('o') => objects.push(('o', *digest)),
                    Some('m') => {
                        let bytes = self.get(&object_path(&self.prefix, 'm', digest)).await?;
                        let manifest = Manifest::decode(&bytes, digest)?;
                        for chunk in &manifest.chunks {
                            if !blobs.layout.path(Kind::Chunk, &chunk.digest).exists() {
                                objects.push(('c', chunk.digest));
                            }
                        }
                        manifests.push((*digest, bytes));
                    }
                    _ => {
                        return Err(Error::Remote {
                            url: self.url.clone(),
                            detail: format!(
                                "it does not hold blob {digest}; push it from a store that has it"
                            ),
                        })
                    }
                }
            }
            objects.sort_unstable();
            objects.dedup();
            progress
                .bytes_total
                .store(objects.len() as u64, Ordering::Relaxed);
            let writer = &writer;
            let downloads = stream::iter(objects.iter().map(|&(kind, digest)| async move {
                if progress.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let data = self.get(&object_path(&self.prefix, kind, &digest)).await?;
                if Digest::of_parallel(&data) != digest {
                    return Err(Error::Remote {
                        url: self.url.clone(),
                        detail: format!("its copy of {digest} is damaged; push it again"),
                    });
                }
                let local = blobs.layout.path(
                    if kind == 'o' {
                        Kind::Object
                    } else {
                        Kind::Chunk
                    },
                    &digest,
                );
                writer.write(local, &data)?;
                progress.add_bytes(1);
                Ok::<u64, Error>(data.len() as u64)
            }))
            .buffer_unordered(CONCURRENCY);
            let sizes: Vec<u64> = downloads.try_collect().await?;
            received.objects = sizes.len() as u64;
            received.bytes = sizes.iter().sum();
            for (digest, bytes) in &manifests {
                writer.write(blobs.layout.path(Kind::Manifest, digest), bytes)?;
                received.objects += 1;
                received.bytes += bytes.len() as u64;
            }
            Ok::<Transfer, Error>(received)
        })?;
        writer.commit()?;
        Ok(transfer)
    }

    /// Writes a small document at `meta/<key>`.
    pub fn put_meta(&self, key: &str, data: &[u8]) -> Result<()> {
        let path = meta_path(&self.prefix, key)?;
        self.runtime.block_on(self.put(&path, data.to_vec()))
    }

    /// The document at `meta/<key>`, or `None`.
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = meta_path(&self.prefix, key)?;
        match self.runtime.block_on(self.store.get(&path)) {
            Ok(found) => Ok(Some(
                self.runtime
                    .block_on(found.bytes())
                    .map_err(|e| self.error(&e))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(&e)),
        }
    }

    /// The keys under `meta/<prefix>`, relative to `meta/`, sorted.
    pub fn list_meta(&self, prefix: &str) -> Result<Vec<String>> {
        let root = self.prefix.clone().join("meta");
        let under = meta_path(&self.prefix, prefix)?;
        let mut keys: Vec<String> = self
            .runtime
            .block_on(self.store.list(Some(&under)).try_collect::<Vec<_>>())
            .map_err(|e| self.error(&e))?
            .into_iter()
            .filter_map(|meta| {
                meta.location.prefix_match(&root).map(|parts| {
                    parts
                        .map(|p| p.as_ref().to_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// What the remote holds, from its index segments (new ones fetched, old ones cached).
    fn index(&self) -> Result<HashMap<Digest, char>> {
        let segments_dir = self.segments_dir();
        let listed: Vec<String> = self
            .runtime
            .block_on(
                self.store
                    .list(Some(&self.prefix.clone().join("index")))
                    .try_collect::<Vec<_>>(),
            )
            .map_err(|e| self.error(&e))?
            .into_iter()
            .filter_map(|m| m.location.filename().map(str::to_owned))
            .filter(|name| FsPath::new(name).extension().is_some_and(|e| e == "idx"))
            .collect();
        let missing: Vec<&String> = listed
            .iter()
            .filter(|name| !segments_dir.join(name.as_str()).exists())
            .collect();
        let fetched: Vec<(String, Vec<u8>)> = self.runtime.block_on(
            stream::iter(missing.into_iter().map(|name| async move {
                let key = self.prefix.clone().join("index").join(name.as_str());
                Ok::<_, Error>((name.clone(), self.get(&key).await?))
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect(),
        )?;
        for (name, bytes) in &fetched {
            self.cache_segment(name, bytes)?;
        }
        let mut index = HashMap::new();
        for name in &listed {
            let path = segments_dir.join(name.as_str());
            let text = fs::read_to_string(&path).at("read", &path)?;
            for line in text.lines() {
                let (kind, hex) = line.split_once(' ').unwrap_or(("", line));
                if let (Some(kind), Ok(digest)) = (kind.chars().next(), Digest::parse(hex)) {
                    index.insert(digest, kind);
                }
            }
        }
        Ok(index)
    }

    fn segments_dir(&self) -> PathBuf {
        self.cache.join("segments")
    }

    fn cache_segment(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.segments_dir();
        fs::create_dir_all(&dir).at("create", &dir)?;
        let tmp = dir.join(format!(".{name}.tmp"));
        fs::write(&tmp, bytes).at("write", &tmp)?;
        let path = dir.join(name);
        fs::rename(&tmp, &path).at("write", &path)
    }

    async fn put(&self, path: &Path, data: Vec<u8>) -> Result<()> {
        self.store
            .put(path, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    async fn get(&self, path: &Path) -> Result<Vec<u8>> {
        let found = self.store.get(path).await.map_err(|e| self.error(&e))?;
        Ok(found.bytes().await.map_err(|e| self.error(&e))?.to_vec())
    }

    fn error(&self, err: &object_store::Error) -> Error {
        Error::Remote {
            url: self.url.clone(),
            detail: err.to_string(),
        }
    }
}

fn object_path(prefix: &Path, kind: char, digest: &Digest) -> Path {
    let folder = match kind {
        'o' => "objects",
        'c' => "chunks",
        _ => "manifests",
    };
    prefix.clone().join(folder).join(digest.to_hex().as_str())
}

fn meta_path(prefix: &Path, key: &str) -> Result<Path> {
    let mut path = prefix.clone().join("meta");
    for part in key.split('/').filter(|p| !p.is_empty()) {
        if part == ".." || part == "." {
            return Err(Error::InvalidArgument(format!(
                "remote key {key:?} must not contain '.' or '..'"
            )));
        }
        path = path.join(part);
    }
    Ok(path)
}

/// A new segment's name: time first (so listings sort by age), then randomness.
fn segment_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random = Digest::of(&nanos.to_le_bytes()).to_hex();
    format!("{nanos:032}-{}-{}", std::process::id(), &random[..12])
}
