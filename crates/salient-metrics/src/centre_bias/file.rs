//! A centre-bias model on disk, reusable at any image size: a safetensors file holding the
//! normalised fixations and the parameters.
//!
//! Layout: one tensor `fixations`, `F64`, shape `(N, 2)`, rows `[x, y]` in normalised coordinates
//! (little-endian, as safetensors stores every dtype); metadata (strings): `format` =
//! `salient-centre-bias`, `version` = `1`, `bandwidth`, `eps` (shortest round-trip decimal),
//! `keep_aspect` (`true`/`false`), `count` (= N), `source` (free text). Any safetensors reader
//! (Python `safetensors.numpy.load_file`) can rebuild the model from these with pysaliency's
//! recipe (docs/metrics.md).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::{CentreBiasError, CentreBiasModel, CentreBiasParams};

const FORMAT: &str = "salient-centre-bias";
const VERSION: &str = "1";
const TENSOR: &str = "fixations";

fn io_error(path: &Path, source: std::io::Error) -> CentreBiasError {
    CentreBiasError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn file_error(path: &Path, reason: impl Into<String>) -> CentreBiasError {
    CentreBiasError::File {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl CentreBiasModel {
    /// Writes the model to `path` (safetensors, layout in the module documentation), atomically:
    /// a temporary file in the same folder is renamed over `path` once complete, so an
    /// interrupted save never leaves a truncated file.
    pub fn save(&self, path: &Path) -> Result<(), CentreBiasError> {
        let data: Vec<u8> = self
            .xy
            .iter()
            .flat_map(|p| p.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        let view = TensorView::new(Dtype::F64, vec![self.xy.len(), 2], &data)
            .map_err(|e| file_error(path, e.to_string()))?;
        let params = self.params;
        let metadata: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("bandwidth", params.bandwidth.to_string()),
            ("eps", params.eps.to_string()),
            ("keep_aspect", params.keep_aspect.to_string()),
            ("count", self.xy.len().to_string()),
            ("source", self.source.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bytes = safetensors::serialize([(TENSOR, view)], Some(metadata))
            .map_err(|e| file_error(path, e.to_string()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error(path, e))?;
        tmp.write_all(&bytes).map_err(|e| io_error(path, e))?;
        tmp.as_file().sync_all().map_err(|e| io_error(path, e))?;
        tmp.persist(path).map_err(|e| io_error(path, e.error))?;
        Ok(())
    }

    /// Reads a model written by [`Self::save`]. A file that is not safetensors, lacks a field,
    /// has the wrong dtype or shape, or holds NaN/out-of-range coordinates or parameters is an
    /// error naming the file.
    pub fn load(path: &Path) -> Result<Self, CentreBiasError> {
        let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
        let (_, header) =
            SafeTensors::read_metadata(&bytes).map_err(|e| file_error(path, e.to_string()))?;
        let tensors =
            SafeTensors::deserialize(&bytes).map_err(|e| file_error(path, e.to_string()))?;
        let empty = HashMap::new();
        let meta = header.metadata().as_ref().unwrap_or(&empty);
        let field = |key: &str| {
            meta.get(key)
                .ok_or_else(|| file_error(path, format!("metadata has no {key:?}")))
        };
        if field("format")? != FORMAT {
            return Err(file_error(
                path,
                format!("metadata format is {:?}, not {FORMAT:?}", meta["format"]),
            ));
        }
        if field("version")? != VERSION {
            return Err(file_error(
                path,
                format!("unsupported version {:?}", meta["version"]),
            ));
        }
        let number = |key: &str| -> Result<f64, CentreBiasError> {
            let text = field(key)?;
            text.parse()
                .map_err(|_| file_error(path, format!("{key} {text:?} is not a number")))
        };
        let keep_aspect = match field("keep_aspect")?.as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(file_error(
                    path,
                    format!("keep_aspect {other:?} is not true/false"),
                ))
            }
        };
        let params = CentreBiasParams {
            bandwidth: number("bandwidth")?,
            eps: number("eps")?,
            keep_aspect,
        };
        let count: usize = field("count")?
            .parse()
            .map_err(|_| file_error(path, format!("count {:?} is not a count", meta["count"])))?;
        let source = field("source")?.clone();

        let view = tensors
            .tensor(TENSOR)
            .map_err(|_| file_error(path, format!("no tensor {TENSOR:?}")))?;
        if view.dtype() != Dtype::F64 {
            return Err(file_error(
                path,
                format!("{TENSOR} is {:?}, not F64", view.dtype()),
            ));
        }
        if view.shape() != [count, 2] {
            return Err(file_error(
                path,
                format!(
                    "{TENSOR} has shape {:?}, not [{count}, 2] (count {count})",
                    view.shape()
                ),
            ));
        }
        let xy: Vec<[f64; 2]> = view
            .data()
            .chunks_exact(16)
            .map(|row| {
                let v = |k: usize| {
                    f64::from_le_bytes(row[8 * k..8 * k + 8].try_into().expect("8-byte slice"))
                };
                [v(0), v(1)]
            })
            .collect();
        CentreBiasModel::new(xy, params, source).map_err(|e| file_error(path, e.to_string()))
    }
}
