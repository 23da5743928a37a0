//! Installing verified bytes: each file is written in full to a temporary file in the destination
//! folder, flushed to disk, then renamed over the destination (`salient_model::atomic`), so
//! readers see the old file or the new one, never a part; on any failure the temporary files are
//! removed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use salient_model::atomic::{commit, temp_beside};
use tempfile::NamedTempFile;

use super::manifest::{manifest_path, WeightsManifest};

/// Write `bytes` to `out` and `manifest` to `<out>.json`, both atomically, weights first.
pub fn install(out: &Path, bytes: &[u8], manifest: &WeightsManifest) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(manifest).context("serialising the manifest")?;
    let meta_path = manifest_path(out);
    // Both temporaries are complete before either rename, so a failure while writing leaves the
    // old pair untouched (an uncommitted temporary is removed when dropped).
    let weights = staged(out, bytes)?;
    let meta = staged(&meta_path, &json)?;
    commit(weights, out).with_context(|| format!("writing {}", out.display()))?;
    if let Err(err) = commit(meta, &meta_path) {
        // The weights are new now: an old manifest would describe the wrong file.
        let _ = std::fs::remove_file(&meta_path);
        return Err(err).with_context(|| format!("writing {}", meta_path.display()));
    }
    Ok(())
}

/// A temporary file beside `dest` holding `bytes`, not yet renamed onto it.
fn staged(dest: &Path, bytes: &[u8]) -> anyhow::Result<NamedTempFile> {
    let mut temp = temp_beside(dest)
        .with_context(|| format!("creating a temporary file beside {}", dest.display()))?;
    temp.as_file_mut()
        .write_all(bytes)
        .with_context(|| format!("writing {}", temp.path().display()))?;
    Ok(temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> WeightsManifest {
        WeightsManifest {
            repo: "r/x".into(),
            revision: "main".into(),
            commit: None,
            file: "model.safetensors".into(),
            source: "file:/x".into(),
            sha256: "00".repeat(32),
            size: 3,
            dtype: "F32".into(),
            fetched_at: "1970-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn writes_both_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sub/w.safetensors");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::fs::write(&out, b"old").unwrap();
        install(&out, b"new", &manifest()).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        let json: WeightsManifest =
            serde_json::from_slice(&std::fs::read(manifest_path(&out)).unwrap()).unwrap();
        assert_eq!(json, manifest());
        let names: Vec<_> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn failed_install_keeps_the_old_pair_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        // The destination is a non-empty folder, so renaming the weights onto it fails.
        let out = dir.path().join("w.safetensors");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("keep"), b"x").unwrap();
        std::fs::write(manifest_path(&out), b"old manifest").unwrap();
        assert!(install(&out, b"new", &manifest()).is_err());
        assert_eq!(std::fs::read(manifest_path(&out)).unwrap(), b"old manifest");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "temporaries left behind: {names:?}");
    }
}
