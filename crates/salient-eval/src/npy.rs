//! NumPy `.npy` maps, read and written with the `npyz` crate.
//!
//! **Reading** ([`read_map`]): one 2-D array `H×W`; singleton leading or trailing axes are dropped
//! (`1×H×W`, `H×W×1`, `1×1×H×W` as models often save them). Element types `float32`, `float64`,
//! `uint8` and `uint16`, either byte order, C or Fortran order. Values are kept as they are
//! (`float64` rounded to `f32`, integers converted exactly): unlike an 8/16-bit PNG, whose grey
//! levels are divided by 255 or 65535, an integer array is not rescaled, because every metric
//! here is invariant to a positive scale factor of the prediction (CC, NSS and the AUCs by
//! definition; KLD, SIM and IG normalise the map to sum 1 first), so `uint8` 0..255, `uint16`
//! 0..65535 and `float32` 0..1 of the same map score the same. Anything else (other dtypes,
//! structured or object arrays, other shapes, truncated data) is refused with the reason.
//!
//! **Writing** ([`write_map`]): `float32`, little-endian, C order, shape `(H, W)`, format 1.0, as
//! `numpy.save` writes it.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use npyz::{NpyFile, Order, WriterBuilder};
use salient_data::MapF32;

/// Why a `.npy` file is not a usable map.
#[derive(Debug, thiserror::Error)]
pub enum NpyProblem {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("dtype {0} (expected float32, float64, uint8 or uint16)")]
    DType(String),
    #[error("shape {0:?} is not a 2-D map (H×W, 1×H×W or H×W×1)")]
    Shape(Vec<u64>),
    #[error("shape {0:?} has no elements")]
    Empty(Vec<u64>),
    #[error("the data ends before the {count} values of shape {shape:?}")]
    Truncated { shape: Vec<u64>, count: u64 },
}

/// A `.npy` file that could not be read as a map, named.
#[derive(Debug, thiserror::Error)]
#[error("{path} is not a usable .npy map: {problem}")]
pub struct NpyError {
    pub path: PathBuf,
    #[source]
    pub problem: NpyProblem,
}

/// Reads a 2-D numeric `.npy` file as a map (values unchanged, see the module docs).
pub fn read_map(path: &Path) -> Result<MapF32, NpyError> {
    let named = |problem| NpyError {
        path: path.to_path_buf(),
        problem,
    };
    let file = File::open(path).map_err(|e| named(e.into()))?;
    parse_map(BufReader::new(file)).map_err(named)
}

/// [`read_map`] on any reader.
pub fn parse_map(reader: impl Read) -> Result<MapF32, NpyProblem> {
    let npy = NpyFile::new(reader)?;
    let shape = npy.shape().to_vec();
    let (height, width) = map_dims(&shape)?;
    let fortran = npy.order() == Order::Fortran;
    let count = npy.len();
    let values = read_values(npy).map_err(|e| match e {
        NpyProblem::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            NpyProblem::Truncated { shape, count }
        }
        other => other,
    })?;
    let data = if fortran {
        // Column-major: element (y, x) is stored at x * height + y (singleton axes change no
        // stride).
        (0..height * width)
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

/// Every element as `f32`, in storage order.
fn read_values<R: Read>(npy: NpyFile<R>) -> Result<Vec<f32>, NpyProblem> {
    let npy = match npy.try_data::<f32>() {
        Ok(data) => return Ok(data.collect::<io::Result<_>>()?),
        Err(npy) => npy,
    };
    let npy = match npy.try_data::<f64>() {
        Ok(data) => {
            return Ok(data
                .map(|v| v.map(|v| v as f32))
                .collect::<io::Result<_>>()?)
        }
        Err(npy) => npy,
    };
    let npy = match npy.try_data::<u8>() {
        Ok(data) => return Ok(data.map(|v| v.map(f32::from)).collect::<io::Result<_>>()?),
        Err(npy) => npy,
    };
    match npy.try_data::<u16>() {
        Ok(data) => Ok(data.map(|v| v.map(f32::from)).collect::<io::Result<_>>()?),
        Err(npy) => Err(NpyProblem::DType(npy.dtype().descr())),
    }
}

/// `(height, width)` of a shape once singleton leading and trailing axes are dropped.
fn map_dims(shape: &[u64]) -> Result<(usize, usize), NpyProblem> {
    let mut dims = shape;
    while dims.len() > 2 && dims[0] == 1 {
        dims = &dims[1..];
    }
    while dims.len() > 2 && dims[dims.len() - 1] == 1 {
        dims = &dims[..dims.len() - 1];
    }
    let &[h, w] = dims else {
        return Err(NpyProblem::Shape(shape.to_vec()));
    };
    if h == 0 || w == 0 {
        return Err(NpyProblem::Empty(shape.to_vec()));
    }
    let too_big = |_| NpyProblem::Shape(shape.to_vec());
    Ok((
        usize::try_from(h).map_err(too_big)?,
        usize::try_from(w).map_err(too_big)?,
    ))
}

/// Writes `map` as a `float32` `(H, W)` array (see the module docs).
pub fn write_map(writer: impl Write, map: &MapF32) -> io::Result<()> {
    let little_endian_f32: npyz::TypeStr = "<f4".parse().expect("valid type string");
    let mut out = npyz::WriteOptions::<f32>::new()
        .dtype(npyz::DType::Plain(little_endian_f32))
        .shape(&[map.height as u64, map.width as u64])
        .writer(writer)
        .begin_nd()?;
    out.extend(map.data.iter().copied())?;
    out.finish()
}
