//! A minimal `.npy` reader for predicted maps: one 2-D array (`H×W`, or with singleton
//! leading/trailing axes such as `1×H×W`, `H×W×1`), little-endian `float32`, `float64` or `uint8`
//! (big-endian too), C or Fortran order. Anything else is refused with the reason.

use std::path::Path;

use anyhow::{bail, Context};
use salient_data::MapF32;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a 2-D numeric `.npy` file as a map (values unchanged, `f64` and `u8` converted to `f32`).
pub fn read_npy(path: &Path) -> anyhow::Result<MapF32> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_npy(&bytes).with_context(|| format!("{} is not a usable .npy map", path.display()))
}

fn parse_npy(bytes: &[u8]) -> anyhow::Result<MapF32> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("no NUMPY magic");
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                bail!("truncated header");
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => bail!("unsupported .npy version {v}"),
    };
    let data_start = header_start + header_len;
    if bytes.len() < data_start {
        bail!("truncated header");
    }
    let header =
        std::str::from_utf8(&bytes[header_start..data_start]).context("header is not text")?;
    let descr = dict_value(header, "descr").context("header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").context("header has no 'fortran_order'")?;
    let fortran = match fortran.trim() {
        "True" => true,
        "False" => false,
        other => bail!("fortran_order {other:?}"),
    };
    let shape = parse_shape(dict_value(header, "shape").context("header has no 'shape'")?)?;
    let dims: Vec<usize> = shape.iter().copied().filter(|&d| d != 1).collect();
    let (height, width) = match (dims.as_slice(), shape.as_slice()) {
        ([h, w], _) => (*h, *w),
        // a map with a singleton side (1×W or H×1) keeps its true orientation
        ([n], s) if s.len() >= 2 => {
            let last = s[s.len() - 1];
            if last == *n {
                (1, *n)
            } else {
                (*n, 1)
            }
        }
        ([], s) if !s.is_empty() => (1, 1),
        _ => bail!("shape {shape:?} is not a 2-D map"),
    };
    if width == 0 || height == 0 {
        bail!("shape {shape:?} is empty");
    }
    let count = width * height;
    let payload = &bytes[data_start..];
    let (size, little) = match descr {
        "<f4" | "<f8" | "|u1" | "<u1" => (elem_size(descr), true),
        ">f4" | ">f8" => (elem_size(descr), false),
        other => bail!("dtype {other:?} (expected float32, float64 or uint8)"),
    };
    if payload.len() < count * size {
        bail!(
            "{} data bytes for shape {shape:?} of {descr} (need {})",
            payload.len(),
            count * size
        );
    }
    let values: Vec<f32> = payload[..count * size]
        .chunks_exact(size)
        .map(|c| match (size, little) {
            (1, _) => c[0] as f32,
            (4, true) => f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            (4, false) => f32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            (8, le) => {
                let b: [u8; 8] = c.try_into().expect("chunk of 8");
                (if le {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                }) as f32
            }
            _ => unreachable!("sizes are 1, 4 or 8"),
        })
        .collect();
    let data = if fortran && width > 1 && height > 1 {
        // column-major: element (y, x) is at x * height + y
        (0..count)
            .map(|i| values[(i % width) * height + i / width])
            .collect()
    } else {
        values
    };
    Ok(MapF32 {
        width,
        height,
        data,
    })
}

fn elem_size(descr: &str) -> usize {
    match &descr[1..] {
        "f4" => 4,
        "f8" => 8,
        _ => 1,
    }
}

/// The raw text of `key`'s value in the header's Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[start + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

fn parse_shape(text: &str) -> anyhow::Result<Vec<usize>> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .with_context(|| format!("shape {text:?}"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_end_matches('L')
                .parse::<usize>()
                .with_context(|| format!("shape {text:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, payload: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_f32_f64_and_u8() {
        let f32s: Vec<u8> = [0.5f32, 1.0, 2.0, 3.0, 4.0, 5.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let m = parse_npy(&npy("<f4", false, "(2, 3)", &f32s)).unwrap();
        assert_eq!((m.width, m.height), (3, 2));
        assert_eq!(m.data, vec![0.5, 1.0, 2.0, 3.0, 4.0, 5.0]);

        let f64s: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let m = parse_npy(&npy("<f8", false, "(1, 2, 1)", &f64s)).unwrap();
        assert_eq!((m.width, m.height, m.data.clone()), (1, 2, vec![1.0, 2.0]));

        let m = parse_npy(&npy("|u1", false, "(1, 1, 2, 2)", &[0, 255, 7, 9])).unwrap();
        assert_eq!((m.width, m.height), (2, 2));
        assert_eq!(m.data, vec![0.0, 255.0, 7.0, 9.0]);
    }

    #[test]
    fn fortran_order_is_transposed() {
        // logical [[1, 2, 3], [4, 5, 6]] stored column-major: 1 4 2 5 3 6
        let m = parse_npy(&npy("|u1", true, "(2, 3)", &[1, 4, 2, 5, 3, 6])).unwrap();
        assert_eq!(m.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(parse_npy(b"not a npy file").is_err());
        let err = parse_npy(&npy("<i8", false, "(1, 1)", &[0; 8])).unwrap_err();
        assert!(format!("{err:#}").contains("dtype"), "{err:#}");
        let err = parse_npy(&npy("<f4", false, "(2, 2, 3)", &[0; 48])).unwrap_err();
        assert!(format!("{err:#}").contains("not a 2-D map"), "{err:#}");
        let err = parse_npy(&npy("<f4", false, "(4, 4)", &[0; 8])).unwrap_err();
        assert!(format!("{err:#}").contains("data bytes"), "{err:#}");
    }
}
