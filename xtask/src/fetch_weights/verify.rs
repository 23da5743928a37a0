//! Checks on downloaded bytes: their SHA-256, and that they hold a ResNet50 backbone in
//! torchvision naming (every expected tensor present, with its shape, as finite floats).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::{anyhow, bail};
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

/// How many names each kind of problem lists before summarising the rest.
const LISTED: usize = 6;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `text` is a lower-case 64-digit hex string, the form the hub uses for LFS hashes.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What the content check found in a valid file.
#[derive(Debug)]
pub struct BackboneSummary {
    /// Expected tensors found with the right shape.
    pub checked: usize,
    /// The float dtypes they use, e.g. `F32`.
    pub dtypes: String,
    /// Tensors in the file that are not part of the backbone (`fc.*`, `num_batches_tracked`, ...).
    pub ignored: usize,
}

/// Check that `bytes` is a safetensors file holding every `(name, shape)` of `expected` as a float
/// tensor with finite values. Extra tensors are ignored. The error names every kind of problem with
/// the tensors concerned.
pub fn check_backbone(
    bytes: &[u8],
    expected: &[(String, Vec<usize>)],
) -> anyhow::Result<BackboneSummary> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|err| anyhow!("not a safetensors file: {err}"))?;
    let mut missing = Vec::new();
    let mut misshaped = Vec::new();
    let mut not_float = Vec::new();
    let mut non_finite = Vec::new();
    let mut dtypes = BTreeSet::new();
    for (name, shape) in expected {
        let Ok(view) = file.tensor(name) else {
            missing.push(name.clone());
            continue;
        };
        if view.shape() != shape.as_slice() {
            misshaped.push(format!("{name} is {:?}, expected {shape:?}", view.shape()));
            continue;
        }
        match count_non_finite(view.dtype(), view.data()) {
            None => not_float.push(format!("{name} is {:?}", view.dtype())),
            Some(0) => {
                dtypes.insert(format!("{:?}", view.dtype()));
            }
            Some(bad) => non_finite.push(format!("{name} has {bad} NaN/infinite values")),
        }
    }

    if missing.len() + misshaped.len() + not_float.len() + non_finite.len() > 0 {
        let mut message = format!(
            "not a ResNet50 backbone in torchvision naming ({} of {} expected tensors wrong)",
            missing.len() + misshaped.len() + not_float.len() + non_finite.len(),
            expected.len()
        );
        list(&mut message, "missing", &missing);
        list(&mut message, "wrong shape", &misshaped);
        list(&mut message, "not a float dtype", &not_float);
        list(&mut message, "not finite", &non_finite);
        if missing.len() * 2 > expected.len() {
            let mut names = file.names();
            names.sort_unstable();
            names.truncate(LISTED);
            let _ = write!(
                message,
                "; the file's tensors are named like: {}",
                names.join(", ")
            );
        }
        bail!(message);
    }
    let expected_names: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let ignored = file
        .names()
        .iter()
        .filter(|n| !expected_names.contains(*n))
        .count();
    Ok(BackboneSummary {
        checked: expected.len(),
        dtypes: dtypes.into_iter().collect::<Vec<_>>().join("+"),
        ignored,
    })
}

/// Append `; {kind}: a, b, ... (and N more)` when `items` is not empty.
fn list(message: &mut String, kind: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let shown = &items[..items.len().min(LISTED)];
    let _ = write!(message, "; {kind}: {}", shown.join(", "));
    if items.len() > shown.len() {
        let _ = write!(message, " (and {} more)", items.len() - shown.len());
    }
}

/// How many values of a little-endian float tensor are NaN or infinite; `None` when the dtype is
/// not a float. Works on the raw bits (all exponent bits set), so no conversion is needed.
fn count_non_finite(dtype: Dtype, data: &[u8]) -> Option<usize> {
    let count = match dtype {
        Dtype::F64 => data
            .chunks_exact(8)
            .filter(|c| {
                let bits = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                bits & 0x7FF0_0000_0000_0000 == 0x7FF0_0000_0000_0000
            })
            .count(),
        Dtype::F32 => data
            .chunks_exact(4)
            .filter(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & 0x7F80_0000 == 0x7F80_0000)
            .count(),
        Dtype::F16 => data
            .chunks_exact(2)
            .filter(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7C00 == 0x7C00)
            .count(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .filter(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7F80 == 0x7F80)
            .count(),
        _ => return None,
    };
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    fn specs() -> Vec<(String, Vec<usize>)> {
        vec![
            ("conv1.weight".to_string(), vec![2, 1, 3, 3]),
            ("bn1.running_var".to_string(), vec![2]),
        ]
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Serialise `(name, dtype, shape, data)` tensors into a safetensors file.
    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn good() -> Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)> {
        vec![
            (
                "conv1.weight",
                Dtype::F32,
                vec![2, 1, 3, 3],
                f32_bytes(&[0.5; 18]),
            ),
            (
                "bn1.running_var",
                Dtype::F32,
                vec![2],
                f32_bytes(&[1.0, 2.0]),
            ),
            ("fc.weight", Dtype::F32, vec![3, 2], f32_bytes(&[0.0; 6])),
        ]
    }

    #[test]
    fn accepts_complete_file_and_ignores_extras() {
        let summary = check_backbone(&file(&good()), &specs()).unwrap();
        assert_eq!(
            (summary.checked, summary.ignored, summary.dtypes.as_str()),
            (2, 1, "F32")
        );
    }

    #[test]
    fn accepts_half_precision() {
        let mut tensors = good();
        tensors[0] = ("conv1.weight", Dtype::F16, vec![2, 1, 3, 3], vec![0; 36]);
        let summary = check_backbone(&file(&tensors), &specs()).unwrap();
        assert_eq!(summary.dtypes, "F16+F32");
    }

    #[test]
    fn names_missing_and_misshaped_tensors() {
        let tensors = vec![(
            "conv1.weight",
            Dtype::F32,
            vec![2, 1, 1, 1],
            f32_bytes(&[0.0; 2]),
        )];
        let err = check_backbone(&file(&tensors), &specs())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing: bn1.running_var"), "{err}");
        assert!(
            err.contains("conv1.weight is [2, 1, 1, 1], expected [2, 1, 3, 3]"),
            "{err}"
        );
    }

    #[test]
    fn rejects_integer_and_non_finite_tensors() {
        let mut tensors = good();
        tensors[0] = ("conv1.weight", Dtype::I32, vec![2, 1, 3, 3], vec![0; 72]);
        tensors[1] = (
            "bn1.running_var",
            Dtype::F32,
            vec![2],
            f32_bytes(&[1.0, f32::NAN]),
        );
        let err = check_backbone(&file(&tensors), &specs())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a float dtype: conv1.weight is I32"),
            "{err}"
        );
        assert!(
            err.contains("bn1.running_var has 1 NaN/infinite values"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bytes_that_are_not_safetensors() {
        let err = check_backbone(b"<html>rate limited</html>", &specs())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a safetensors file"), "{err}");
    }

    #[test]
    fn non_finite_bit_patterns() {
        assert_eq!(
            count_non_finite(Dtype::F16, &[0x00, 0x7C, 0x00, 0x3C]),
            Some(1)
        );
        assert_eq!(
            count_non_finite(Dtype::BF16, &[0xC0, 0x7F, 0x80, 0x3F]),
            Some(1)
        );
        assert_eq!(
            count_non_finite(Dtype::F64, &f64::INFINITY.to_le_bytes()),
            Some(1)
        );
        assert_eq!(count_non_finite(Dtype::U8, &[1]), None);
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256_hex(&sha256_hex(b"")));
        assert!(!is_sha256_hex("ABC"));
    }
}
