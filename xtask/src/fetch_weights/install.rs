//! Installing verified bytes: each file is written in full to a temporary file in the destination
//! folder, flushed to disk, then renamed over the destination, so readers see the old file or the
//! new one, never a part; on any failure the temporary files are removed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

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
    // old pair untouched.
    let weights = StagedFile::write(out, bytes)?;
    let meta = StagedFile::write(&meta_path, &json)?;
    weights.commit()?;
    if let Err(err) = meta.commit() {
        // The weights are new now: an old manifest would describe the wrong file.
        let _ = std::fs::remove_file(&meta_path);
        return Err(err);
    }
    Ok(())
}

/// A fully written temporary file waiting to be renamed onto its destination; removed on drop
/// unless committed.
struct StagedFile {
    temp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl StagedFile {
    fn write(dest: &Path, bytes: &[u8]) -> anyhow::Result<Self> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dest.with_file_name(format!(".{name}.{}.partial", std::process::id()));
        let staged = Self {
            temp,
            dest: dest.to_path_buf(),
            committed: false,
        };
        let mut file = File::create(&staged.temp)
            .with_context(|| format!("creating {}", staged.temp.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", staged.temp.display()))?;
        Ok(staged)
    }

    fn commit(mut self) -> anyhow::Result<()> {
        std::fs::rename(&self.temp, &self.dest).with_context(|| {
            format!(
                "renaming {} to {}",
                self.temp.display(),
                self.dest.display()
            )
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
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
