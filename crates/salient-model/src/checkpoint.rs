//! Safetensors files: reading tensors with checks that name the culprit, the checkpoint metadata
//! (`__metadata__`), and atomic writing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::safetensors::Load;
use candle_core::{DType, Device, Tensor};
use safetensors::SafeTensors;

use crate::{FreezePolicy, ModelError};

/// Metadata key: input size the model was trained at, `"<height>x<width>"`.
pub const META_INPUT_SIZE: &str = "input_size";
/// Metadata key: input normalisation, `"unit"` (the seed's `x / 255`) or `"imagenet"`.
pub const META_NORMALIZE: &str = "normalize";
/// Metadata key: freeze policy the model was trained with.
pub const META_FREEZE: &str = "freeze";
/// Metadata key: which network the file holds.
pub const META_ARCHITECTURE: &str = "architecture";
/// The value of [`META_ARCHITECTURE`] this crate writes.
pub const ARCHITECTURE: &str = "seed-resnet50-unet";
/// Metadata key of a training run's optimiser-state file (`salient-train`'s
/// `last.state.safetensors`, holding the run's position as JSON): such a file is refused where a
/// model checkpoint is expected, naming the model checkpoint beside it.
pub const META_TRAIN_STATE: &str = "salient.train_state";

/// A checkpoint's `__metadata__`: a string map with typed accessors for the keys this project uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointMeta {
    entries: BTreeMap<String, String>,
}

impl CheckpointMeta {
    pub fn new() -> Self {
        Self::default()
    }

    /// The metadata of a safetensors file, without loading its tensors.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        WeightsFile::open(path)?.metadata()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.entries.insert(key.into(), value.into());
        self
    }

    /// Every entry, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(height, width)` from `input_size` (`"256x256"`), if present and well formed.
    pub fn input_size(&self) -> Option<(usize, usize)> {
        let (h, w) = self.get(META_INPUT_SIZE)?.split_once('x')?;
        Some((h.trim().parse().ok()?, w.trim().parse().ok()?))
    }

    pub fn set_input_size(&mut self, height: usize, width: usize) -> &mut Self {
        self.set(META_INPUT_SIZE, format!("{height}x{width}"))
    }

    pub fn normalize(&self) -> Option<String> {
        self.get(META_NORMALIZE).map(str::to_string)
    }

    pub fn set_normalize(&mut self, normalize: impl Into<String>) -> &mut Self {
        self.set(META_NORMALIZE, normalize)
    }

    /// The recorded freeze policy, if present and known.
    pub fn freeze(&self) -> Option<FreezePolicy> {
        self.get(META_FREEZE)?.parse().ok()
    }

    pub fn set_freeze(&mut self, freeze: FreezePolicy) -> &mut Self {
        self.set(META_FREEZE, freeze.as_str())
    }
}

impl From<HashMap<String, String>> for CheckpointMeta {
    fn from(map: HashMap<String, String>) -> Self {
        Self {
            entries: map.into_iter().collect(),
        }
    }
}

/// A safetensors file read into memory: tensors are converted to f32 on demand, with checks.
pub(crate) struct WeightsFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl WeightsFile {
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = Self {
            path: path.to_path_buf(),
            bytes,
        };
        file.parse()?; // fail early, naming the file, when it is not safetensors at all
        file.refuse_optimiser_state()?;
        Ok(file)
    }

    /// A training run's optimiser state (Adam's moments `m.*`, `v.*` and `step`, with the run's
    /// position in the metadata) is not a model: say what it is and where the model is, rather
    /// than "missing tensor". A `*.safetensors` glob over a run's `checkpoints/` picks it up.
    fn refuse_optimiser_state(&self) -> Result<(), ModelError> {
        let names = self.names()?;
        let only_adam_state = names.iter().any(|n| n == "step")
            && names
                .iter()
                .all(|n| n == "step" || n.starts_with("m.") || n.starts_with("v."));
        if !only_adam_state && self.metadata()?.get(META_TRAIN_STATE).is_none() {
            return Ok(());
        }
        Err(ModelError::OptimiserState {
            path: self.path.clone(),
            model: model_beside_state(&self.path).filter(|model| model.is_file()),
        })
    }

    fn parse(&self) -> Result<SafeTensors<'_>, ModelError> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| ModelError::Format {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    pub fn names(&self) -> Result<Vec<String>, ModelError> {
        Ok(self
            .parse()?
            .names()
            .into_iter()
            .map(str::to_string)
            .collect())
    }

    pub fn metadata(&self) -> Result<CheckpointMeta, ModelError> {
        let (_, meta) =
            SafeTensors::read_metadata(&self.bytes).map_err(|e| ModelError::Format {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        Ok(meta
            .metadata()
            .clone()
            .map(CheckpointMeta::from)
            .unwrap_or_default())
    }

    /// The tensor `name` as f32 on `device`, checked for presence, shape, dtype and finiteness.
    pub fn tensor(
        &self,
        name: &str,
        shape: &[usize],
        device: &Device,
    ) -> Result<Tensor, ModelError> {
        let st = self.parse()?;
        let view = st.tensor(name).map_err(|_| ModelError::MissingTensor {
            path: self.path.clone(),
            name: name.to_string(),
        })?;
        if view.shape() != shape {
            return Err(ModelError::ShapeMismatch {
                path: self.path.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        use safetensors::Dtype as D;
        if !matches!(view.dtype(), D::F32 | D::F16 | D::BF16 | D::F64) {
            return Err(ModelError::DType {
                path: self.path.clone(),
                name: name.to_string(),
                dtype: format!("{:?}", view.dtype()),
            });
        }
        let tensor = view.load(&Device::Cpu)?.to_dtype(DType::F32)?;
        let all_finite = tensor
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .all(|v| v.is_finite());
        if !all_finite {
            return Err(ModelError::NonFinite {
                path: self.path.clone(),
                name: name.to_string(),
            });
        }
        Ok(tensor.to_device(device)?)
    }
}

/// The model checkpoint a training run saves beside an optimiser-state file:
/// `checkpoints/last.state.safetensors` → `checkpoints/last.safetensors`; `None` when the name
/// does not end in `.state.safetensors`.
pub(crate) fn model_beside_state(state: &Path) -> Option<PathBuf> {
    let name = state.file_name()?.to_str()?;
    let stem = name.strip_suffix(".state.safetensors")?;
    Some(state.with_file_name(format!("{stem}.safetensors")))
}

/// Writes `tensors` and `meta` to `path` atomically (see [`crate::atomic`]), so a crash never
/// leaves a half-written checkpoint.
pub(crate) fn write_atomic(
    path: &Path,
    tensors: &[(String, Tensor)],
    meta: &CheckpointMeta,
) -> Result<(), ModelError> {
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<candle_core::Result<_>>()?;
    let info: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    crate::atomic::write_atomic_with(path, |tmp| {
        safetensors::serialize_to_file(cpu.iter().map(|(n, t)| (n.as_str(), t)), Some(info), tmp)
            .map_err(std::io::Error::other)
    })
    .map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, names: &[&str], meta: Option<(&str, &str)>) {
        let t = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
        let info = meta.map(|(k, v)| HashMap::from([(k.to_string(), v.to_string())]));
        safetensors::serialize_to_file(names.iter().map(|n| (*n, &t)), info, path).unwrap();
    }

    fn open_error(path: &Path) -> String {
        match WeightsFile::open(path) {
            Ok(_) => panic!("{} opened as a model", path.display()),
            Err(e) => e.to_string(),
        }
    }

    /// An optimiser-state file is named as such wherever a model is loaded, with the model
    /// checkpoint beside it; a model checkpoint is not mistaken for one.
    #[test]
    fn optimiser_state_is_refused_naming_the_model_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("last.state.safetensors");
        let model = dir.path().join("last.safetensors");
        write(
            &state,
            &["m.conv1.weight", "v.conv1.weight"],
            Some((META_TRAIN_STATE, "{}")),
        );
        let expected = format!(
            "{} is the optimiser state of a training run, not a model checkpoint; ",
            state.display()
        );
        let err = open_error(&state);
        assert_eq!(
            err,
            format!(
                "{expected}its model checkpoint would be {}, which does not exist",
                model.display()
            )
        );
        write(&model, &["conv1.weight"], None);
        assert_eq!(
            open_error(&state),
            format!("{expected}the model is {}", model.display())
        );
        assert!(WeightsFile::open(&model).is_ok());
        let meta_err = CheckpointMeta::from_file(&state).unwrap_err().to_string();
        assert!(meta_err.contains("optimiser state"), "{meta_err}");

        // Adam's tensors alone, without the metadata and under another name, are recognised too.
        let odd = dir.path().join("moments.safetensors");
        write(&odd, &["step", "m.a", "v.a"], None);
        assert_eq!(
            open_error(&odd),
            format!(
                "{} is the optimiser state of a training run, not a model checkpoint; load the \
                 model checkpoint saved with it instead",
                odd.display()
            )
        );
        // A checkpoint whose tensors merely start with m./v. but has no step is a model file.
        write(&odd, &["m.a", "v.a"], None);
        assert!(WeightsFile::open(&odd).is_ok());
    }
}
