//! `cargo xtask fetch-weights`: download the pretrained ResNet50 from the Hugging Face hub, verify
//! it, and install it with a manifest.
//!
//! The steps, each in its own module:
//! 1. [`hub`] fetches the file into the shared hub cache through hf-hub (honouring `HF_ENDPOINT`,
//!    `HF_TOKEN`, `HF_HOME`/`HF_HUB_CACHE`, `HF_HUB_OFFLINE`), so a second run, or a file another tool
//!    already cached, downloads nothing; hub failures become messages that say what to do.
//! 2. [`verify`] checks the bytes: SHA-256 against the hub's LFS hash (the cache blob's name, which
//!    is the `X-Linked-Etag` the hub sent) and the content: every ResNet50 backbone tensor, in
//!    torchvision naming, with its shape, as finite floats.
//! 3. [`install`] writes the very bytes it verified to `--out` and the [`manifest`] beside it, each
//!    through a temporary file in the same folder and a rename, so a failure leaves any existing
//!    output untouched.

mod hub;
mod install;
mod manifest;
mod verify;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use manifest::WeightsManifest;

/// Flags of `cargo xtask fetch-weights`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hub model repository holding ResNet50 weights in torchvision naming.
    #[arg(long, default_value = "timm/resnet50.tv_in1k")]
    pub repo: String,
    /// Branch, tag or commit of the repository.
    #[arg(long, default_value = "main")]
    pub revision: String,
    /// File inside the repository.
    #[arg(long, default_value = "model.safetensors")]
    pub file: String,
    /// Where to write the verified weights; the manifest goes beside it as `<out>.json`.
    #[arg(long, default_value = "weights/resnet50.safetensors")]
    pub out: PathBuf,
    /// Download again even when the hub cache already holds the file.
    #[arg(long)]
    pub force: bool,
    /// Use only the hub cache, never the network (also set by `HF_HUB_OFFLINE=1`).
    #[arg(long)]
    pub offline: bool,
    /// Expected SHA-256 (hex) of the file, checked in addition to the hub's own hash.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Install a file downloaded by hand instead of asking the hub (verified the same way;
    /// pass `--sha256` to check its hash too).
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<PathBuf>,
    /// Retries after a transient network failure (connection refused, timeout, 5xx).
    #[arg(long, default_value_t = 5)]
    pub retries: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let pinned = args.sha256.as_deref().map(normalise_sha256).transpose()?;
    let (bytes, provenance) = match &args.from_file {
        Some(path) => read_local(path)?,
        None => fetch_from_hub(&args)?,
    };

    let actual = verify::sha256_hex(&bytes);
    if let Some(expected) = &provenance.hub_sha256 {
        if *expected != actual {
            return Err(hub_hash_mismatch(
                &args,
                &provenance,
                expected,
                &actual,
                bytes.len(),
            ));
        }
    }
    if let Some(expected) = &pinned {
        if *expected != actual {
            bail!(
                "SHA-256 mismatch: --sha256 expects {expected}, the file hashes to {actual}; \
                 nothing was written to {}",
                args.out.display()
            );
        }
    }
    eprintln!(
        "sha256 {actual} verified against {}",
        provenance.hash_source(pinned.is_some())
    );

    let specs = salient_model::resnet50_backbone_specs();
    let summary = verify::check_backbone(&bytes, &specs).with_context(|| {
        format!(
            "{} is not usable; nothing was written to {}",
            provenance.label,
            args.out.display()
        )
    })?;
    eprintln!(
        "content verified: {} ResNet50 backbone tensors ({}), {} other tensors ignored",
        summary.checked, summary.dtypes, summary.ignored
    );

    let manifest = WeightsManifest {
        repo: args.repo.clone(),
        revision: args.revision.clone(),
        commit: provenance.commit.clone(),
        file: args.file.clone(),
        source: provenance.source.clone(),
        sha256: actual,
        size: bytes.len() as u64,
        dtype: summary.dtypes.clone(),
        fetched_at: manifest::utc_now_rfc3339(),
    };
    install::install(&args.out, &bytes, &manifest)?;
    eprintln!(
        "wrote {} ({:.1} MiB) and {}",
        args.out.display(),
        bytes.len() as f64 / (1024.0 * 1024.0),
        manifest::manifest_path(&args.out).display()
    );
    Ok(())
}

/// Where the bytes came from and what the hub said about them.
struct Provenance {
    /// Human-readable name of the file, for messages.
    label: String,
    /// The manifest's `source`: the resolve URL or the local path.
    source: String,
    commit: Option<String>,
    /// The hub's SHA-256 of the file (its LFS object id), when it came from the hub.
    hub_sha256: Option<String>,
    /// The hub cache entry holding the file, removed again if its bytes turn out corrupt.
    cache_entry: Option<hub::CacheEntry>,
}

impl Provenance {
    fn hash_source(&self, pinned: bool) -> &'static str {
        match (self.hub_sha256.is_some(), pinned) {
            (true, true) => "the hub's LFS hash and --sha256",
            (true, false) => "the hub's LFS hash",
            (false, true) => "--sha256",
            (false, false) => "nothing (no --sha256 given for a local file)",
        }
    }
}

fn fetch_from_hub(args: &Args) -> anyhow::Result<(Vec<u8>, Provenance)> {
    let request = hub::HubRequest {
        repo: args.repo.clone(),
        revision: args.revision.clone(),
        file: args.file.clone(),
        force: args.force,
        offline: args.offline || hub::offline_from_env(),
        retries: args.retries,
    };
    let fetched = hub::fetch(&request, &args.out)?;
    let bytes = std::fs::read(&fetched.cache_entry.snapshot).with_context(|| {
        format!(
            "reading the cached file {}",
            fetched.cache_entry.snapshot.display()
        )
    })?;
    let Some(hub_sha256) = fetched.lfs_sha256.clone() else {
        bail!(
            "the hub gave no SHA-256 for {} (cache blob name {:?} is not an LFS hash), so the file cannot be \
             verified; pass --sha256 <hex> from the file's page on the hub, or use --from-file",
            fetched.url,
            fetched.cache_entry.etag
        );
    };
    let provenance = Provenance {
        label: format!("{}@{}:{}", args.repo, args.revision, args.file),
        source: fetched.url,
        commit: fetched.commit,
        hub_sha256: Some(hub_sha256),
        cache_entry: Some(fetched.cache_entry),
    };
    Ok((bytes, provenance))
}

fn read_local(path: &Path) -> anyhow::Result<(Vec<u8>, Provenance)> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading --from-file {}", path.display()))?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let provenance = Provenance {
        label: path.display().to_string(),
        source: format!("file:{}", absolute.display()),
        commit: None,
        hub_sha256: None,
        cache_entry: None,
    };
    Ok((bytes, provenance))
}

/// The hub cache holds bytes that do not hash to the name the hub gave them: remove that entry
/// (it would be served again on every run) and explain.
fn hub_hash_mismatch(
    args: &Args,
    provenance: &Provenance,
    expected: &str,
    actual: &str,
    len: usize,
) -> anyhow::Error {
    let removed = match &provenance.cache_entry {
        Some(entry) => match entry.remove() {
            Ok(()) => format!("removed the bad cache entry {}", entry.blob.display()),
            Err(err) => format!(
                "could not remove the bad cache entry {}: {err}",
                entry.blob.display()
            ),
        },
        None => String::new(),
    };
    anyhow::anyhow!(
        "SHA-256 mismatch for {}: the hub's LFS hash is {expected} but the {len} bytes received hash to {actual} \
         (a corrupt or truncated transfer); {removed}; nothing was written to {}; run again to download afresh",
        provenance.source,
        args.out.display()
    )
}

/// Accept a 64-digit hex SHA-256 in either case, with or without a `sha256:` prefix.
fn normalise_sha256(text: &str) -> anyhow::Result<String> {
    let hex = text
        .trim()
        .trim_start_matches("sha256:")
        .to_ascii_lowercase();
    if !verify::is_sha256_hex(&hex) {
        bail!("--sha256 {text:?} is not 64 hexadecimal digits");
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::normalise_sha256;

    #[test]
    fn sha256_flag_accepts_prefix_and_case_and_rejects_junk() {
        let hex = "AB".repeat(32);
        assert_eq!(
            normalise_sha256(&format!("sha256:{hex}")).unwrap(),
            "ab".repeat(32)
        );
        assert!(normalise_sha256("abc").is_err());
        assert!(normalise_sha256(&"zz".repeat(32)).is_err());
    }
}
