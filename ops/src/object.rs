//! Data roots on S3-compatible object storage (AWS S3, Ceph RGW, MinIO, s3s): a root
//! `s3://bucket/prefix` is listed into the catalog like a directory, and its objects are
//! read by byte ranges. A file of such a root is named by its URL
//! (`s3://bucket/prefix/rel/path.nc`) wherever a local file has its path.
//!
//! The client is the `object_store` crate (SigV4, paged listings, retries with
//! backoff, request timeouts). Its calls are async; the engine reads in blocking
//! threads, so [`ObjectStores`] owns a small runtime and each call waits for its task
//! there. Credentials come from the standard `AWS_*` variables, the shared credentials
//! file (`~/.aws/credentials`, profile `AWS_PROFILE`) or the configuration, and are
//! never logged.

use crate::model::SourceFile;
use crate::{Error, Result};
use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The URL scheme of object-storage data roots.
pub const SCHEME: &str = "s3://";

/// True when `path` names a Zarr store (a `*.zarr` prefix) of object storage.
pub fn is_zarr(path: &Path) -> bool {
    is_object(path) && path.to_str().is_some_and(|s| s.trim_end_matches('/').ends_with(".zarr"))
}

/// True when `path` names an object (`s3://bucket/key`), not a local file.
pub fn is_object(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.starts_with(SCHEME))
}

/// `s3://bucket/key` → (bucket, key); the key may be empty (a whole bucket).
fn split(path: &Path) -> Option<(&str, &str)> {
    let rest = path.to_str()?.strip_prefix(SCHEME)?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, key.trim_matches('/')))
}

/// How object-storage roots are reached (each `None` leaves the `AWS_*` environment
/// variable, or the client's default, in force).
#[derive(Clone)]
pub struct S3Options {
    /// Endpoint URL (`AWS_ENDPOINT_URL`), e.g. a Ceph RGW `https://rgw.example.org`.
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION`; `us-east-1` when none is given anywhere).
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), as Ceph RGW and most
    /// S3-compatible servers need; false: virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Plain http endpoints (`AWS_ALLOW_HTTP=true`).
    pub allow_http: Option<bool>,
    /// Access key id and secret (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Shared credentials file (default `~/.aws/credentials`, `AWS_SHARED_CREDENTIALS_FILE`).
    pub credentials_file: Option<PathBuf>,
    /// Profile of the credentials file (default `AWS_PROFILE` or `default`).
    pub profile: Option<String>,
    /// Time limit of one request (connect, send, receive).
    pub timeout: Duration,
    /// Retries of a failed request (with exponential backoff from 100 ms).
    pub retries: usize,
}

/// Never shows the secret.
impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<hidden>"))
            .field("profile", &self.profile)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Default for S3Options {
    fn default() -> S3Options {
        S3Options {
            endpoint: None,
            region: None,
            path_style: true,
            allow_http: None,
            access_key_id: None,
            secret_access_key: None,
            credentials_file: None,
            profile: None,
            timeout: Duration::from_secs(30),
            retries: 3,
        }
    }
}

/// Access key and secret of a profile of an AWS shared credentials file.
fn file_credentials(opts: &S3Options) -> Option<(String, String, Option<String>)> {
    let path = opts
        .credentials_file
        .clone()
        .or_else(|| std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))?;
    let ini = ini::Ini::load_from_file(&path).ok()?;
    let profile = opts.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok()).unwrap_or("default".into());
    let sec = ini.section(Some(profile.as_str()))?;
    Some((
        sec.get("aws_access_key_id")?.to_string(),
        sec.get("aws_secret_access_key")?.to_string(),
        sec.get("aws_session_token").map(str::to_string),
    ))
}

/// The object stores of the data roots, by bucket, and the runtime their calls run on.
pub struct ObjectStores {
    rt: Option<tokio::runtime::Runtime>,
    stores: HashMap<String, Arc<AmazonS3>>,
    timeout: Duration,
    /// Objects found missing since the last listing (deleted after indexing).
    missing: Missing,
}

/// Objects a read found gone, until the next listing.
type Missing = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

impl Drop for ObjectStores {
    fn drop(&mut self) {
        // dropped from async code at shutdown: do not wait for the workers
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for ObjectStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStores").field("buckets", &self.stores.keys().collect::<Vec<_>>()).finish()
    }
}

impl Default for ObjectStores {
    fn default() -> ObjectStores {
        ObjectStores { rt: None, stores: HashMap::new(), timeout: Duration::from_secs(30), missing: Missing::default() }
    }
}

impl ObjectStores {
    /// Clients for the buckets of the `s3://` roots among `roots` (no request is sent:
    /// [`ObjectStores::check`] tries them).
    pub fn new(roots: &[PathBuf], opts: &S3Options) -> Result<ObjectStores> {
        let buckets: Vec<&str> = roots.iter().filter_map(|r| split(r)).map(|(b, _)| b).collect();
        if buckets.is_empty() {
            return Ok(ObjectStores::default());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cirrus-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("object storage runtime: {e}")))?;
        let from_file = if opts.access_key_id.is_none() && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            file_credentials(opts)
        } else {
            None
        };
        let mut stores = HashMap::new();
        for bucket in buckets {
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
                b = b.with_region("us-east-1");
            }
            if let Some(e) = &opts.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &opts.region {
                b = b.with_region(r);
            }
            if let Some((id, secret, token)) = &from_file {
                b = b.with_access_key_id(id).with_secret_access_key(secret);
                if let Some(t) = token {
                    b = b.with_token(t);
                }
            }
            if let Some(id) = &opts.access_key_id {
                b = b.with_access_key_id(id);
            }
            if let Some(s) = &opts.secret_access_key {
                b = b.with_secret_access_key(s);
            }
            let mut client = ClientOptions::new().with_timeout(opts.timeout).with_connect_timeout(opts.timeout);
            if let Some(h) = opts.allow_http {
                client = client.with_allow_http(h);
            } else if let Ok(v) = std::env::var("AWS_ALLOW_HTTP") {
                client = client.with_allow_http(v.eq_ignore_ascii_case("true") || v == "1");
            }
            let retry = RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: opts.retries,
                retry_timeout: opts.timeout * (opts.retries as u32 + 1),
            };
            b = b
                .with_config(AmazonS3ConfigKey::VirtualHostedStyleRequest, (!opts.path_style).to_string())
                .with_client_options(client)
                .with_retry(retry);
            let store = b
                .build()
                .map_err(|e| Error::Unsupported(format!("object storage bucket '{bucket}': {}", chain(&e))))?;
            stores.insert(bucket.to_string(), Arc::new(store));
        }
        Ok(ObjectStores { rt: Some(rt), stores, timeout: opts.timeout, missing: Missing::default() })
    }

    /// True when no root is on object storage.
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    fn run<T: Send + 'static>(&self, fut: impl std::future::Future<Output = T> + Send + 'static) -> Result<T> {
        let rt = self.rt.as_ref().ok_or_else(|| Error::Internal("no object storage is configured".into()))?;
        wait(rt.handle(), fut)
    }

    /// Every object under `prefix` (an object URL), all pages.
    fn metas(&self, prefix: &Path) -> Result<Vec<object_store::ObjectMeta>> {
        use futures::TryStreamExt;
        let (store, loc) = self.store(prefix)?;
        let url = prefix.display().to_string();
        self.run(async move { store.list(Some(&loc)).try_collect::<Vec<_>>().await })?
            .map_err(|e| object_error(&url, &e))
    }

    fn store(&self, path: &Path) -> Result<(Arc<AmazonS3>, ObjectPath)> {
        let (bucket, key) =
            split(path).ok_or_else(|| Error::Internal(format!("not an object URL: {}", path.display())))?;
        let store = self
            .stores
            .get(bucket)
            .ok_or_else(|| Error::Internal(format!("no object storage client for bucket '{bucket}'")))?;
        Ok((store.clone(), ObjectPath::from(key)))
    }

    /// Try each `s3://` root: one listing request. Wrong credentials, a missing bucket
    /// or an unreachable endpoint fail here, with the reason.
    pub fn check(&self, roots: &[PathBuf]) -> Result<()> {
        for root in roots.iter().filter(|r| is_object(r)) {
            let (store, prefix) = self.store(root)?;
            let url = root.display().to_string();
            let u = url.clone();
            self.run(async move {
                store.list_with_delimiter(Some(&prefix)).await.map(|_| ()).map_err(|e| object_error(&u, &e))
            })??;
        }
        Ok(())
    }

    /// The objects reads found gone since the last listing (deleted after indexing: their
    /// datasets answer 503 until a rescan drops them).
    pub fn missing(&self) -> Vec<String> {
        self.missing.lock().map(|m| m.iter().cloned().collect()).unwrap_or_default()
    }

    /// The NetCDF objects under `start` (a root or a prefix below it), with keys relative
    /// to `root`, sorted; the listing is paged by the client. Forgets the objects found
    /// missing under `start`.
    pub fn list(&self, root: &Path, start: &Path) -> Result<Vec<SourceFile>> {
        let (_, root_key) = split(root).unwrap_or(("", ""));
        let root_url = root.to_string_lossy().trim_end_matches('/').to_string();
        let url = start.display().to_string();
        let metas = self.metas(start)?;
        if let Ok(mut m) = self.missing.lock() {
            m.retain(|u| !u.starts_with(&format!("{url}/")));
        }
        let mut out: Vec<SourceFile> = Vec::new();
        // a Zarr store (a `*.zarr` prefix) is one entry: its size the sum of its
        // objects', its date the latest of theirs
        let mut stores: std::collections::BTreeMap<String, (u64, SystemTime)> = std::collections::BTreeMap::new();
        for m in metas {
            let key = m.location.as_ref();
            let Some(rel) = key.strip_prefix(root_key).map(|r| r.trim_start_matches('/').to_string()) else { continue };
            if rel.split('/').any(|c| c.starts_with('.') && !c.starts_with(".z")) {
                continue;
            }
            let mtime = SystemTime::from(m.last_modified);
            if let Some(end) = rel.split('/').position(|c| c.ends_with(".zarr")) {
                let store = rel.split('/').take(end + 1).collect::<Vec<_>>().join("/");
                let e = stores.entry(store).or_insert((0, SystemTime::UNIX_EPOCH));
                e.0 += m.size;
                e.1 = e.1.max(mtime);
                continue;
            }
            let name = rel.rsplit('/').next().unwrap_or_default();
            let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
            if rel.split('/').any(|c| c.starts_with('.')) || !crate::catalog::EXTENSIONS.contains(&ext.as_str()) {
                continue;
            }
            out.push(SourceFile { path: PathBuf::from(format!("{root_url}/{rel}")), rel, size: m.size, mtime });
        }
        for (rel, (size, mtime)) in stores {
            out.push(SourceFile { path: PathBuf::from(format!("{root_url}/{rel}")), rel, size, mtime });
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// An object of size `size` to read by byte ranges.
    pub fn object(&self, path: &Path, size: u64) -> Result<Object> {
        let (store, location) = self.store(path)?;
        let rt = self.rt.as_ref().ok_or_else(|| Error::Internal("no object storage is configured".into()))?;
        Ok(Object {
            store,
            location,
            handle: rt.handle().clone(),
            url: path.to_path_buf(),
            size,
            timeout: self.timeout,
            missing: self.missing.clone(),
        })
    }

    /// Whole small objects (metadata, Zarr chunks), fetched concurrently; `None` for
    /// one that is not there.
    pub fn get_many(&self, paths: &[PathBuf]) -> Result<Vec<Option<Bytes>>> {
        use futures::{StreamExt, TryStreamExt};
        let mut jobs = Vec::with_capacity(paths.len());
        for p in paths {
            let (store, loc) = self.store(p)?;
            jobs.push((store, loc, p.display().to_string()));
        }
        let t = self.timeout;
        let got = self.run(async move {
            futures::stream::iter(jobs)
                .map(|(store, loc, url)| async move {
                    match store.get(&loc).await {
                        Ok(r) => r.bytes().await.map(Some).map_err(|e| object_error_in(&url, &e, t)),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(object_error_in(&url, &e, t)),
                    }
                })
                .buffered(16)
                .try_collect::<Vec<_>>()
                .await
        })?;
        got
    }

    /// The keys under `prefix` (an object URL), as URLs.
    pub fn list_keys(&self, prefix: &Path) -> Result<Vec<PathBuf>> {
        let (bucket, _) = split(prefix).unwrap_or(("", ""));
        Ok(self.metas(prefix)?.into_iter().map(|m| PathBuf::from(format!("{SCHEME}{bucket}/{}", m.location))).collect())
    }

    /// Size and last modification of an object.
    pub fn head(&self, path: &Path) -> Result<(u64, SystemTime)> {
        let (store, location) = self.store(path)?;
        let url = path.display().to_string();
        let meta = self.run(async move { store.head(&location).await })?.map_err(|e| object_error(&url, &e))?;
        Ok((meta.size, SystemTime::from(meta.last_modified)))
    }
}

/// Run `fut` on the object-storage runtime and wait for it (from a blocking thread).
fn wait<T: Send + 'static>(
    rt: &tokio::runtime::Handle,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T> {
    futures::executor::block_on(rt.spawn(fut)).map_err(|e| Error::Internal(format!("object storage task: {e}")))
}

/// Requests one read sends at once.
pub const IN_FLIGHT: usize = 8;

/// Ranges closer than this are read in one request (the bytes between are cheaper than
/// another round trip).
const MERGE_GAP: u64 = 256 << 10;

/// The requests that read `ranges`: (byte range, indices of the ranges it holds). Nearby
/// ranges are merged up to a size that spreads the read over [`IN_FLIGHT`] requests
/// (at least 256 KiB, at most 16 MiB each); a range is never cut.
fn plan_requests(ranges: &[Range<u64>]) -> Vec<(Range<u64>, Vec<usize>)> {
    let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let target = (total / IN_FLIGHT as u64).clamp(256 << 10, 16 << 20);
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| (ranges[i].start, ranges[i].end));
    let mut out: Vec<(Range<u64>, Vec<usize>)> = Vec::new();
    for i in order {
        let r = &ranges[i];
        match out.last_mut() {
            Some((cur, members)) if r.start <= cur.end + MERGE_GAP && cur.end - cur.start < target => {
                cur.end = cur.end.max(r.end);
                members.push(i);
            }
            _ => out.push((r.clone(), vec![i])),
        }
    }
    out
}

/// One object, read by byte ranges (blocking calls; several ranges are fetched at
/// once, nearby ones coalesced into one request).
#[derive(Clone)]
pub struct Object {
    store: Arc<AmazonS3>,
    location: ObjectPath,
    handle: tokio::runtime::Handle,
    url: PathBuf,
    size: u64,
    timeout: Duration,
    missing: Missing,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Object({})", self.url.display())
    }
}

impl Object {
    /// The object's URL.
    pub fn url(&self) -> &Path {
        &self.url
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn run<T: Send + 'static>(&self, fut: impl std::future::Future<Output = T> + Send + 'static) -> Result<T> {
        wait(&self.handle, fut)
    }

    /// The engine's error for a failed call on this object (a missing object is noted).
    fn error(&self, e: &object_store::Error) -> Error {
        if matches!(e, object_store::Error::NotFound { .. }) {
            tracing::warn!(object = %self.url.display(), "object gone since it was indexed");
            if let Ok(mut m) = self.missing.lock() {
                m.insert(self.url.display().to_string());
            }
        }
        object_error_in(&self.url.display().to_string(), e, self.timeout)
    }

    /// The bytes `range`.
    pub fn fetch(&self, range: Range<u64>) -> Result<Bytes> {
        Ok(self.fetch_all(vec![range])?.pop().unwrap_or_default())
    }

    /// The bytes of each of `ranges`: nearby ranges are merged into one request, the
    /// requests cut so that a large read is spread over up to [`IN_FLIGHT`] of them,
    /// fetched at once.
    pub fn fetch_all(&self, ranges: Vec<Range<u64>>) -> Result<Vec<Bytes>> {
        use futures::{StreamExt, TryStreamExt};
        if let Some(r) = ranges.iter().find(|r| r.end > self.size) {
            return Err(Error::File {
                path: self.url.clone(),
                message: format!("bytes {}..{} are past the end of the object ({} bytes)", r.start, r.end, self.size),
            });
        }
        let parts = plan_requests(&ranges);
        let (store, loc) = (self.store.clone(), self.location.clone());
        let requests: Vec<Range<u64>> = parts.iter().map(|(r, _)| r.clone()).collect();
        let got = self
            .run(async move {
                futures::stream::iter(requests)
                    .map(|r| {
                        let (store, loc) = (store.clone(), loc.clone());
                        async move { store.get_range(&loc, r).await }
                    })
                    .buffered(IN_FLIGHT)
                    .try_collect::<Vec<Bytes>>()
                    .await
            })?
            .map_err(|e| self.error(&e))?;
        let mut out = vec![Bytes::new(); ranges.len()];
        for ((req, members), bytes) in parts.iter().zip(got) {
            for &i in members {
                let r = &ranges[i];
                let (a, b) = ((r.start - req.start) as usize, (r.end - req.start) as usize);
                out[i] = bytes.slice(a.min(bytes.len())..b.min(bytes.len()));
            }
        }
        Ok(out)
    }

    /// The object (or the bytes `range` of it) as a stream of byte blocks (a download).
    pub fn stream(&self, range: Option<Range<u64>>) -> futures::stream::BoxStream<'static, std::io::Result<Bytes>> {
        use futures::StreamExt;
        let (store, loc, url) = (self.store.clone(), self.location.clone(), self.url.display().to_string());
        let t = self.timeout;
        let (tx, rx) = futures::channel::mpsc::channel::<std::io::Result<Bytes>>(4);
        self.handle.spawn(async move {
            use futures::SinkExt;
            let mut tx = tx;
            let opts = object_store::GetOptions { range: range.map(Into::into), ..Default::default() };
            match store.get_opts(&loc, opts).await {
                Ok(r) => {
                    let mut s = r.into_stream();
                    while let Some(b) = s.next().await {
                        let b = b.map_err(|e| std::io::Error::other(object_error_in(&url, &e, t)));
                        let stop = b.is_err();
                        if tx.send(b).await.is_err() || stop {
                            break;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(object_error_in(&url, &e, t)))).await;
                }
            }
        });
        rx.boxed()
    }

    /// The object as `hdf5-reader`/`netcdf-reader` storage, read in blocks of
    /// `block` bytes (the last `blocks` kept): headers and B-trees lie close together.
    pub fn storage(&self, block: usize, blocks: usize) -> hdf5_reader::storage::DynStorage {
        Arc::new(hdf5_reader::BlockCacheStorage::new(Arc::new(self.clone()), block, blocks))
    }
}

impl hdf5_reader::storage::Storage for Object {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_range(&self, offset: u64, len: usize) -> hdf5_reader::error::Result<hdf5_reader::storage::StorageBuffer> {
        let end = (offset + len as u64).min(self.size);
        let bytes = self.fetch(offset.min(end)..end).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(hdf5_reader::storage::StorageBuffer::from_vec(bytes.to_vec()))
    }
}

/// The messages of an error and its sources, joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        src = s.source();
    }
    msg
}

fn object_error(url: &str, e: &object_store::Error) -> Error {
    object_error_in(url, e, Duration::ZERO)
}

/// The engine's error for a failed object-storage call: a missing object, refused
/// credentials, a timeout or an unreachable store.
fn object_error_in(url: &str, e: &object_store::Error, timeout: Duration) -> Error {
    let url = url.to_string();
    let detail = chain(e);
    match e {
        object_store::Error::NotFound { .. } => Error::StorageUnavailable {
            url,
            message: "the object is not there (deleted since it was indexed?); its dataset is unavailable until \
                      the next rescan"
                .into(),
        },
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            Error::StorageUnavailable { url, message: format!("access denied: check the credentials ({detail})") }
        }
        _ if {
            let d = detail.replace("retry_timeout", "");
            d.contains("timed out") || d.contains("deadline has elapsed") || d.contains("Timeout")
        } =>
        {
            let secs = timeout.as_secs_f64();
            Error::StorageTimeout { url, message: format!("no answer within the request timeout ({secs} s): {detail}") }
        }
        _ if detail.contains("403") || detail.contains("SignatureDoesNotMatch") || detail.contains("AccessDenied") => {
            Error::StorageUnavailable { url, message: format!("access denied: check the credentials ({detail})") }
        }
        _ => Error::StorageUnavailable { url, message: detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_split_into_bucket_and_key() {
        assert!(is_object(Path::new("s3://b/p/x.nc")));
        assert!(!is_object(Path::new("/data/x.nc")));
        assert_eq!(split(Path::new("s3://b/p/x.nc")), Some(("b", "p/x.nc")));
        assert_eq!(split(Path::new("s3://b")), Some(("b", "")));
        assert_eq!(split(Path::new("s3://b/")), Some(("b", "")));
        assert_eq!(split(Path::new("s3:///x")), None);
    }

    #[test]
    fn reads_are_merged_and_spread_over_requests() {
        // small nearby ranges: one request, each range sliced back out
        let p = plan_requests(&[10..20, 0..5, 30..40]);
        assert_eq!(p, [(0..40, vec![1, 0, 2])]);
        // far apart: separate requests
        let p = plan_requests(&[0..10, (1 << 30)..(1 << 30) + 10]);
        assert_eq!(p.len(), 2);
        // 32 adjacent chunks of 1 MiB: cut into IN_FLIGHT requests of 4 MiB
        let mib = 1u64 << 20;
        let chunks: Vec<Range<u64>> = (0..32).map(|i| i * mib..(i + 1) * mib).collect();
        let p = plan_requests(&chunks);
        assert_eq!(p.len(), IN_FLIGHT);
        assert!(p.iter().all(|(r, m)| r.end - r.start == 4 * mib && m.len() == 4));
        // one range larger than the target is never cut
        let whole = std::iter::once(0..(64u64 << 20)).collect::<Vec<_>>();
        assert_eq!(plan_requests(&whole), [(0..(64 << 20), vec![0])]);
    }

    #[test]
    fn no_object_roots_need_no_client() {
        let s = ObjectStores::new(&[PathBuf::from("/data")], &S3Options::default()).expect("stores");
        assert!(s.is_empty());
    }
}
