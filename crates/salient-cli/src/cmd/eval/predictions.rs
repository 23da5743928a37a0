//! Where predicted maps come from. The scorer consumes `(stem, Prediction)` pairs, so any source
//! plugs in: a folder of files (here) or a model run over the split yielding
//! `Prediction::Map`s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use salient_data::{load_map, MapF32};

use super::npy::read_npy;

/// Extensions read as predicted maps.
pub const PREDICTION_EXTENSIONS: &[&str] = &["png", "npy"];

/// One predicted map: a file still to decode (decoded on the scoring threads), or a map in memory.
pub enum Prediction {
    File(PathBuf),
    /// What a model source (`--checkpoint`) yields.
    Map(MapF32),
}

impl Prediction {
    /// The map: PNG (8 or 16 bit, grey or colour, scaled to [0, 1]) or `.npy` (f32/f64/u8, as is).
    pub fn into_map(self) -> anyhow::Result<MapF32> {
        match self {
            Prediction::Map(map) => Ok(map),
            Prediction::File(path) => {
                let ext = extension(&path);
                if ext == "npy" {
                    read_npy(&path)
                } else {
                    load_map(&path)
                        .with_context(|| format!("reading prediction {}", path.display()))
                }
            }
        }
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// A folder of predicted maps, indexed by stem: the path relative to the folder without extension
/// (`Action/001`), which is how salient-data names samples; a file directly in the folder also
/// answers to its bare name when nothing else claims it.
pub struct PredictionDir {
    by_stem: HashMap<String, PathBuf>,
    by_name: HashMap<String, Vec<PathBuf>>,
}

impl PredictionDir {
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        if !root.is_dir() {
            bail!("--predictions {}: not a folder", root.display());
        }
        let mut by_stem: HashMap<String, PathBuf> = HashMap::new();
        let mut by_name: HashMap<String, Vec<PathBuf>> = HashMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let entries =
                std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
            for entry in entries {
                let path = entry
                    .with_context(|| format!("listing {}", dir.display()))?
                    .path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                if !PREDICTION_EXTENSIONS.contains(&extension(&path).as_str()) {
                    continue;
                }
                let relative = path
                    .strip_prefix(root)
                    .expect("under root")
                    .with_extension("");
                let stem = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                if let Some(previous) = by_stem.insert(stem.clone(), path.clone()) {
                    bail!(
                        "two predictions for stem {stem:?}: {} and {}",
                        previous.display(),
                        path.display()
                    );
                }
                let name = stem.rsplit('/').next().unwrap_or(&stem).to_string();
                by_name.entry(name).or_default().push(path);
            }
        }
        if by_stem.is_empty() {
            bail!(
                "--predictions {}: no .png or .npy files in it",
                root.display()
            );
        }
        Ok(Self { by_stem, by_name })
    }

    /// The file predicted for a sample's stem, if any (exact relative stem first, then a unique
    /// file of the same bare name).
    pub fn find(&self, stem: &str) -> Option<&Path> {
        if let Some(path) = self.by_stem.get(stem) {
            return Some(path.as_path());
        }
        let name = stem.rsplit('/').next().unwrap_or(stem);
        match self.by_name.get(name).map(Vec::as_slice) {
            Some([only]) => Some(only.as_path()),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.by_stem.len()
    }
}
