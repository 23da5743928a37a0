//! MATLAB `.mat` files (level 5 / v7, compressed or not) through the `matrw` crate, with the few
//! accessors the dataset readers need and errors that name the file and the variable.
//!
//! Two things are handled here rather than in `matrw`:
//! - The header's 116-byte text is free-form in the format, but `matrw` 0.1.4 insists on
//!   `"MATLAB 5.0 MAT-file, "`; `scipy.io.savemat` writes `"MATLAB 5.0 MAT-file Platform: ..."`
//!   (no comma), as many re-distributions of the datasets are. The text is rewritten to the form
//!   `matrw` accepts in our in-memory copy (text bytes only; version, endianness and data are
//!   untouched).
//! - `matrw` panics on some malformed input (unimplemented branches); the parse runs under
//!   `catch_unwind` so a corrupt file is an error naming it, never a crash.

use std::path::Path;

use matrw::{MatFile, MatVariable, MatlabType};

use crate::error::DataError;

/// The header length of a level-5 MAT file: 116 bytes of text, 8 of subsystem offset, 2 of
/// version, 2 of endianness indicator.
const HEADER_LEN: usize = 128;
const V5_TEXT: &[u8] = b"MATLAB 5.0 MAT-file";
const MATRW_TEXT: &[u8] = b"MATLAB 5.0 MAT-file, ";

/// Reads and parses a `.mat` file.
pub fn load(path: &Path) -> Result<MatFile, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(path, bytes)
}

/// Parses `.mat` bytes; `path` only names the file in errors.
pub fn parse(path: &Path, mut bytes: Vec<u8>) -> Result<MatFile, DataError> {
    let bad = |reason: &str| DataError::decode(path, format!("not a readable MAT file: {reason}"));
    if bytes.len() < HEADER_LEN {
        return Err(bad("shorter than the 128-byte header"));
    }
    if bytes.starts_with(b"MATLAB 7.3") {
        return Err(bad(
            "MATLAB v7.3 (HDF5) files are not supported; re-save it with `save(..., '-v7')` \
             or scipy.io.savemat",
        ));
    }
    if !bytes.starts_with(V5_TEXT) {
        return Err(bad("no 'MATLAB 5.0 MAT-file' header"));
    }
    if &bytes[126..128] != b"IM" && &bytes[126..128] != b"MI" {
        return Err(bad("bad endianness indicator in the header"));
    }
    check_elements(&bytes).map_err(|reason| bad(&reason))?;
    if !bytes.starts_with(MATRW_TEXT) {
        // Free header text (scipy writes no comma after "MAT-file"): normalise it in our copy.
        let text = &mut bytes[..116];
        let tail: Vec<u8> = text[V5_TEXT.len()..].to_vec();
        let mut fixed = MATRW_TEXT.to_vec();
        fixed.extend(tail.iter().skip_while(|&&b| b == b' ' || b == b','));
        fixed.resize(116, b' ');
        text.copy_from_slice(&fixed[..116]);
    }
    let parsed = std::panic::catch_unwind(|| matrw::load_matfile_from_u8(&bytes));
    match parsed {
        Ok(Ok(file)) => Ok(file),
        Ok(Err(e)) => Err(bad(&e.to_string())),
        Err(_) => Err(bad("the MAT parser failed on malformed data")),
    }
}

/// Walks the top-level data elements (an 8-byte tag: type and byte count, then the data, padded
/// to 8 bytes; compressed elements are not padded) and checks that they end exactly at the end of
/// the file. `matrw` reads a file cut short inside its last variable as if it ended earlier,
/// silently losing data; this catches that before it parses.
fn check_elements(bytes: &[u8]) -> Result<(), String> {
    let little = &bytes[126..128] == b"IM";
    let word = |at: usize| -> u32 {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    const MI_COMPRESSED: u32 = 15;
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        if at + 8 > bytes.len() {
            return Err(format!(
                "truncated: a data element's tag is cut at byte {at}"
            ));
        }
        let (kind, size) = (word(at), word(at + 4) as usize);
        let padded = if kind == MI_COMPRESSED {
            size
        } else {
            size.div_ceil(8) * 8
        };
        let end = at + 8 + padded;
        // The last element may omit its padding.
        if at + 8 + size > bytes.len() {
            return Err(format!(
                "truncated: the data element at byte {at} needs {size} bytes, the file has {} more",
                bytes.len() - at - 8
            ));
        }
        at = end.min(bytes.len());
    }
    Ok(())
}

/// A variable of the file, named in the error when absent.
pub fn variable<'a>(
    path: &Path,
    file: &'a MatFile,
    name: &str,
) -> Result<&'a MatVariable, DataError> {
    file.iter()
        .find(|(key, _)| key.as_str() == name)
        .map(|(_, value)| unwrap(value))
        .ok_or_else(|| {
            let names: Vec<&str> = file.iter().map(|(k, _)| k.as_str()).collect();
            DataError::decode(
                path,
                format!(
                    "no variable '{name}' (variables: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            )
        })
}

/// Compressed variables read back as their content.
fn unwrap(value: &MatVariable) -> &MatVariable {
    match value {
        MatVariable::Compressed(inner) => unwrap(&inner.value),
        other => other,
    }
}

/// The elements of a cell array or a struct array (column-major, as MATLAB stores them); a
/// scalar struct is one element.
pub fn elements<'a>(
    path: &Path,
    value: &'a MatVariable,
    what: &str,
) -> Result<Vec<&'a MatVariable>, DataError> {
    match unwrap(value) {
        MatVariable::CellArray(cells) => Ok(cells.value.iter().map(unwrap).collect()),
        MatVariable::StructureArray(array) => Ok(array.value.iter().map(unwrap).collect()),
        MatVariable::Structure(_) => Ok(vec![unwrap(value)]),
        other => Err(DataError::decode(
            path,
            format!(
                "{what}: expected a cell or struct array, found {}",
                kind(other)
            ),
        )),
    }
}

/// A field of a struct (a 1x1 struct array or a cell holding one struct counts as the struct).
pub fn field<'a>(
    path: &Path,
    value: &'a MatVariable,
    name: &str,
    what: &str,
) -> Result<&'a MatVariable, DataError> {
    let missing =
        |found: &str| DataError::decode(path, format!("{what}: no field '{name}' ({found})"));
    match unwrap(value) {
        MatVariable::Structure(s) => s.value.get(name).map(unwrap).ok_or_else(|| {
            missing(&format!(
                "fields: {}",
                s.value.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        }),
        MatVariable::StructureArray(a) if a.value.len() == 1 => {
            field(path, &a.value[0], name, what)
        }
        MatVariable::CellArray(c) if c.value.len() == 1 => field(path, &c.value[0], name, what),
        other => Err(missing(&format!("it is {}", kind(other)))),
    }
}

/// A numeric (or logical) array as `f64` values in MATLAB's column-major order, with its
/// dimensions. An empty MATLAB array (`[]`) gives no values.
pub fn numbers(
    path: &Path,
    value: &MatVariable,
    what: &str,
) -> Result<(Vec<f64>, Vec<usize>), DataError> {
    match unwrap(value) {
        MatVariable::NumericArray(array) => {
            let values = match &array.value {
                MatlabType::U8(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::I8(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::U16(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::I16(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::U32(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::I32(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::U64(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::I64(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::F32(v) => v.iter().map(|&x| x as f64).collect(),
                MatlabType::F64(v) => v.clone(),
                MatlabType::BOOL(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
                MatlabType::UTF8(_) | MatlabType::UTF16(_) => {
                    return Err(DataError::decode(
                        path,
                        format!("{what}: expected numbers, found text"),
                    ))
                }
            };
            Ok((values, array.dim.clone()))
        }
        MatVariable::Null => Ok((Vec::new(), vec![0, 0])),
        other => Err(DataError::decode(
            path,
            format!("{what}: expected a numeric array, found {}", kind(other)),
        )),
    }
}

/// A character array as a string.
pub fn text(path: &Path, value: &MatVariable, what: &str) -> Result<String, DataError> {
    match unwrap(value) {
        MatVariable::NumericArray(array) => match &array.value {
            MatlabType::UTF8(chars) | MatlabType::UTF16(chars) => Ok(chars.iter().collect()),
            _ => Err(DataError::decode(
                path,
                format!("{what}: expected text, found numbers"),
            )),
        },
        MatVariable::CellArray(c) if c.value.len() == 1 => text(path, &c.value[0], what),
        other => Err(DataError::decode(
            path,
            format!("{what}: expected text, found {}", kind(other)),
        )),
    }
}

fn kind(value: &MatVariable) -> &'static str {
    match value {
        MatVariable::NumericArray(_) => "a numeric array",
        MatVariable::SparseArray(_) => "a sparse array",
        MatVariable::StructureArray(_) => "a struct array",
        MatVariable::CellArray(_) => "a cell array",
        MatVariable::Structure(_) => "a struct",
        MatVariable::Null => "an empty value",
        MatVariable::Compressed(_) => "compressed data",
        MatVariable::Unsupported => "an unsupported MATLAB type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_foreign_files_are_errors_naming_the_file() {
        let p = Path::new("gaze/COCO_1.mat");
        let e = parse(p, b"MATLAB 5.0".to_vec()).unwrap_err().to_string();
        assert!(
            e.contains("COCO_1.mat") && e.contains("128-byte header"),
            "{e}"
        );
        let mut hdf5 = b"MATLAB 7.3 MAT-file".to_vec();
        hdf5.resize(200, b' ');
        let e = parse(p, hdf5).unwrap_err().to_string();
        assert!(e.contains("v7.3"), "{e}");
        let e = parse(p, vec![0u8; 300]).unwrap_err().to_string();
        assert!(e.contains("no 'MATLAB 5.0 MAT-file' header"), "{e}");
    }

    /// Garbage after a valid header never panics.
    #[test]
    fn garbage_after_the_header_is_an_error() {
        let mut bytes = b"MATLAB 5.0 MAT-file Platform: posix".to_vec();
        bytes.resize(116, b' ');
        bytes.extend([0u8; 8]);
        bytes.extend([0, 1, b'I', b'M']);
        for fill in [0u8, 0x0e, 0xff, 0x0f] {
            let mut b = bytes.clone();
            b.extend(std::iter::repeat_n(fill, 64));
            b.extend([14, 0, 0, 0, 255, 255, 255, 127]);
            let result = parse(Path::new("x.mat"), b);
            if let Err(e) = result {
                assert!(e.to_string().contains("x.mat"), "{e}");
            }
        }
    }
}
