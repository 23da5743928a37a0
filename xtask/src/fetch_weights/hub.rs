//! Fetching one file into the Hugging Face hub cache with hf-hub, and turning hub failures into
//! messages that say what to do.
//!
//! hf-hub (1.0, blocking API) asks, for `download_file` into the cache:
//! 1. `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` without following absolute redirects
//!    (`If-None-Match` with the cached ETag when it has one, `Authorization: Bearer` with a token).
//!    It reads `X-Repo-Commit`, `X-Linked-Etag` (else `ETag`: for LFS files the SHA-256 of the
//!    content), `X-Linked-Size` (else `Content-Length`) and `X-Xet-Hash` (xet-stored files, which it
//!    then fetches through the xet CAS protocol instead of step 2).
//! 2. When `blobs/{etag}` is not cached: `GET` the same URL, following the redirect to the CDN, and
//!    streams the body into `blobs/{etag}.incomplete`, renamed to `blobs/{etag}` at the end. It does
//!    not check that body's status or hash; this command does.
//! 3. It writes `refs/{revision}` (the commit) and the symlink `snapshots/{commit}/{file}` →
//!    `../../blobs/{etag}`: the layout Python's `huggingface_hub` uses, so caches are shared.
//!
//! A connection failure or 5xx is retried, then answered from the cache when it holds the file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::anyhow;
use hf_hub::progress::{DownloadEvent, FileStatus, ProgressEvent, ProgressHandler};
use hf_hub::{HFClient, HFClientSync, HFError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::verify::is_sha256_hex;

/// What to fetch and how.
pub struct HubRequest {
    pub repo: String,
    pub revision: String,
    pub file: String,
    /// Download again even if cached.
    pub force: bool,
    /// Never touch the network; answer from the cache or fail.
    pub offline: bool,
    /// Retries after transient failures.
    pub retries: usize,
}

/// A file the hub cache now holds.
pub struct Fetched {
    /// The resolve URL the file comes from.
    pub url: String,
    pub commit: Option<String>,
    /// The hub's SHA-256 of the content (the LFS object id), when the cache blob is named by one.
    pub lfs_sha256: Option<String>,
    pub cache_entry: CacheEntry,
}

/// One file's entry in the hub cache: the snapshot pointer and the blob it points to.
pub struct CacheEntry {
    /// `snapshots/{commit}/{file}`.
    pub snapshot: PathBuf,
    /// `blobs/{etag}`.
    pub blob: PathBuf,
    /// The blob's name: the ETag the hub sent when the file was cached.
    pub etag: String,
}

impl CacheEntry {
    /// Remove the pointer and the blob, so that the next run downloads the file again.
    pub fn remove(&self) -> std::io::Result<()> {
        std::fs::remove_file(&self.blob)?;
        match std::fs::remove_file(&self.snapshot) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

/// `HF_HUB_OFFLINE` set to a true value, as the Python hub client reads it.
pub fn offline_from_env() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| is_truthy(&v))
}

fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Fetch `request.file` into the hub cache (or find it there). `out` only shapes the messages.
pub fn fetch(request: &HubRequest, out: &Path) -> anyhow::Result<Fetched> {
    let client = HFClient::builder()
        .retry_max_attempts(request.retries)
        .build()
        .map_err(|err| anyhow!("cannot set up the hub client (check HF_ENDPOINT): {err}"))?;
    let url = resolve_url(
        client.endpoint(),
        &request.repo,
        &request.revision,
        &request.file,
    );
    let cache_dir = client.cache_dir().to_path_buf();
    let sync = HFClientSync::from_inner(client.clone())
        .map_err(|err| anyhow!("cannot start the hub client: {err}"))?;

    let (owner, name) = hf_hub::split_id(&request.repo);
    if name.is_empty() {
        anyhow::bail!(
            "--repo {:?} is not a hub repository id like timm/resnet50.tv_in1k",
            request.repo
        );
    }
    let mode = if request.offline {
        " (offline: hub cache only)"
    } else {
        ""
    };
    eprintln!("fetching {url}{mode}");
    eprintln!("hub cache: {}", cache_dir.display());

    let progress = Arc::new(DownloadProgress::new());
    let result = sync
        .model(owner, name)
        .download_file()
        .filename(request.file.clone())
        .revision(request.revision.clone())
        .force_download(request.force)
        .local_files_only(request.offline)
        .progress(progress.clone())
        .send();
    progress.finish();
    let snapshot = result.map_err(|err| explain(err, request, &url, client.endpoint(), out))?;
    if progress.transferred() {
        eprintln!("downloaded {} into the hub cache", mib(progress.total()));
    } else {
        eprintln!("found in the hub cache, nothing downloaded");
    }

    let cache_entry = cache_entry(&snapshot)?;
    let lfs_sha256 = Some(cache_entry.etag.to_ascii_lowercase()).filter(|e| is_sha256_hex(e));
    Ok(Fetched {
        url,
        commit: commit_of(&snapshot),
        lfs_sha256,
        cache_entry,
    })
}

/// `{endpoint}/{repo}/resolve/{revision}/{file}`, as hf-hub builds it (for messages and the manifest).
pub fn resolve_url(endpoint: &str, repo: &str, revision: &str, file: &str) -> String {
    format!(
        "{}/{repo}/resolve/{revision}/{file}",
        endpoint.trim_end_matches('/')
    )
}

/// The blob a snapshot pointer links to, and its name (the ETag it was stored under).
fn cache_entry(snapshot: &Path) -> anyhow::Result<CacheEntry> {
    let target = std::fs::read_link(snapshot).map_err(|err| {
        anyhow!(
            "{} is not a symlink into the cache's blobs/ ({err}); cannot learn the hub's hash of it",
            snapshot.display()
        )
    })?;
    let blob = snapshot
        .parent()
        .map(|dir| dir.join(&target))
        .unwrap_or(target);
    let blob = std::fs::canonicalize(&blob).unwrap_or(blob);
    let etag = blob
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("cache blob {} has no usable name", blob.display()))?
        .to_string();
    Ok(CacheEntry {
        snapshot: snapshot.to_path_buf(),
        blob,
        etag,
    })
}

/// The commit a snapshot path belongs to: the folder right below `snapshots/`.
fn commit_of(snapshot: &Path) -> Option<String> {
    let mut parts = snapshot.iter().map(|p| p.to_string_lossy());
    parts.find(|p| p == "snapshots")?;
    parts.next().map(|c| c.into_owned())
}

/// Turn an hf-hub error into a message that names the cause and the way out.
fn explain(
    err: HFError,
    request: &HubRequest,
    url: &str,
    endpoint: &str,
    out: &Path,
) -> anyhow::Error {
    let repo = &request.repo;
    let manual = format!(
        "To fetch it by hand: download {url} (a browser, or `curl -L -o model.safetensors {url}`), then \
         run `cargo xtask fetch-weights --from-file model.safetensors --out {out}` to verify and install it \
         (or put it at {out} yourself).",
        out = out.display()
    );
    match &err {
        HFError::Request { source, .. } if source.is_connect() || source.is_timeout() => anyhow!(
            "cannot reach the hub at {endpoint} ({err}), and the hub cache does not hold the file. \
             Check the network, a proxy, or HF_ENDPOINT. {manual}"
        ),
        HFError::Request { .. } => anyhow!(
            "the transfer of {url} broke off ({err}); nothing was written to {}. Run again to retry. {manual}",
            out.display()
        ),
        HFError::LocalEntryNotFound { .. } => anyhow!(
            "offline (--offline or HF_HUB_OFFLINE) and the hub cache does not hold {repo}@{}:{}. {manual}",
            request.revision,
            request.file
        ),
        HFError::EntryNotFound { .. } | HFError::RepoNotFound { .. } | HFError::RevisionNotFound { .. } => anyhow!(
            "not found (404): {url}. Either the repository {repo} does not exist, or it has no revision {:?} \
             or no file {:?}. Check --repo, --revision and --file; the repository's files are listed at \
             {endpoint}/{repo}/tree/{}",
            request.revision,
            request.file,
            request.revision
        ),
        HFError::AuthRequired { context } => {
            let why = match context.error_code.as_deref() {
                Some("RepoNotFound") => format!("the repository {repo} does not exist, or it is private"),
                Some("GatedRepo") => format!("{repo} is gated: accept its terms at {endpoint}/{repo}"),
                _ => "the hub wants a token".to_string(),
            };
            anyhow!(
                "access refused (401) for {url}: {why}. Set HF_TOKEN to a token with read access \
                 ({endpoint}/settings/tokens), or check --repo. ({err})"
            )
        }
        HFError::Forbidden { .. } => anyhow!(
            "access refused (403) for {url}: the token in use may not read {repo} (gated or private). \
             Check HF_TOKEN and the repository's access page {endpoint}/{repo}. ({err})"
        ),
        HFError::MalformedResponse { .. } => anyhow!(
            "the server at {endpoint} did not answer like a Hugging Face hub ({err}); check HF_ENDPOINT. {manual}"
        ),
        _ => anyhow!("fetching {url} failed: {err}. {manual}"),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// hf-hub's download events drawn as a terminal progress bar (hidden when stderr is not a terminal),
/// remembering whether any bytes moved so the caller can tell a download from a cache hit.
struct DownloadProgress {
    bar: ProgressBar,
    total: AtomicU64,
    transferred: AtomicBool,
}

impl DownloadProgress {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        Self {
            bar,
            total: AtomicU64::new(0),
            transferred: AtomicBool::new(false),
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn transferred(&self) -> bool {
        self.transferred.load(Ordering::Relaxed)
    }
}

impl ProgressHandler for DownloadProgress {
    fn on_progress(&self, event: &ProgressEvent) {
        let ProgressEvent::Download(event) = event else {
            return;
        };
        match event {
            DownloadEvent::Start { total_bytes, .. } => {
                self.total.store(*total_bytes, Ordering::Relaxed);
                self.bar.set_length(*total_bytes);
            }
            DownloadEvent::Progress { files } => {
                for file in files {
                    if file.status != FileStatus::Complete {
                        self.transferred.store(true, Ordering::Relaxed);
                    }
                    self.bar.set_position(file.bytes_completed);
                }
            }
            DownloadEvent::AggregateProgress {
                bytes_completed, ..
            } => {
                self.transferred.store(true, Ordering::Relaxed);
                self.bar.set_position(*bytes_completed);
            }
            DownloadEvent::Complete => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_the_folder_below_snapshots() {
        let p = Path::new("/c/models--a--b/snapshots/0123abc/sub/model.safetensors");
        assert_eq!(commit_of(p).as_deref(), Some("0123abc"));
        assert_eq!(commit_of(Path::new("/tmp/model.safetensors")), None);
    }

    #[test]
    fn resolve_url_matches_hub_layout() {
        assert_eq!(
            resolve_url(
                "http://h:1/",
                "timm/resnet50.tv_in1k",
                "main",
                "model.safetensors"
            ),
            "http://h:1/timm/resnet50.tv_in1k/resolve/main/model.safetensors"
        );
    }

    #[test]
    fn offline_values_follow_the_python_client() {
        for v in ["1", "true", "YES", " on "] {
            assert!(is_truthy(v), "{v}");
        }
        for v in ["0", "false", "", "no"] {
            assert!(!is_truthy(v), "{v}");
        }
    }
}
