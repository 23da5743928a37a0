//! The `.npy` reader and writer against files numpy 2.4.6 wrote (scripts/npy/make_fixtures.py):
//! every accepted dtype, byte order, memory order and singleton layout reads as the same 2×3
//! map; everything else is refused with the file and the reason; our writer's bytes equal
//! `numpy.save`'s.

use std::path::PathBuf;

use salient_data::MapF32;
use salient_eval::npy::{read_map, write_map};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/npy")
        .join(name)
}

/// M = [[0, 1, 2], [3, 4, 5]] times `scale`, row-major.
fn expected(scale: f32) -> Vec<f32> {
    (0..6).map(|v| v as f32 * scale).collect()
}

#[test]
fn every_accepted_layout_reads_as_the_same_map() {
    for (name, scale) in [
        ("f32_c.npy", 0.1),
        ("f32_big_endian.npy", 0.1),
        ("f64_fortran.npy", 0.1),
        ("f32_11hw_fortran.npy", 0.1),
        // integers are read as stored, not rescaled (the metrics are scale-invariant)
        ("u8_1hw.npy", 50.0),
        ("u16_hw1.npy", 10000.0),
    ] {
        let map = read_map(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((map.width, map.height), (3, 2), "{name}");
        for (got, want) in map.data.iter().zip(expected(scale)) {
            // f32 from f64 or from the f32 numpy wrote: equal to the nearest f32
            assert!(
                (got - want).abs() <= want.abs() * 1e-6,
                "{name}: {:?}",
                map.data
            );
        }
    }
    let row = read_map(&fixture("f32_row.npy")).unwrap();
    assert_eq!((row.width, row.height), (3, 1));
}

#[test]
fn non_finite_values_are_read_for_the_caller_to_refuse() {
    let map = read_map(&fixture("f32_nan.npy")).unwrap();
    assert!(map.data[1].is_nan());
}

#[test]
fn what_cannot_be_a_map_is_refused_naming_file_and_reason() {
    for (name, reason) in [
        (
            "i64.npy",
            "dtype '<i8' (expected float32, float64, uint8 or uint16)",
        ),
        ("object.npy", "dtype '|O'"),
        ("rgb.npy", "shape [3, 2, 3] is not a 2-D map"),
        ("vector.npy", "shape [6] is not a 2-D map"),
        ("empty.npy", "shape [0, 3] has no elements"),
        ("truncated.npy", "ends before the 6 values"),
        ("no_such_file.npy", "No such file"),
    ] {
        let err = read_map(&fixture(name)).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(reason), "{name}: {err}");
    }
    let not_npy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_npy.path(), b"P5 not a numpy file").unwrap();
    let err = read_map(not_npy.path()).unwrap_err().to_string();
    assert!(err.contains("is not a usable .npy map"), "{err}");
}

/// npyz writes the shape as `(2, 3, )` where numpy writes `(2, 3)` (both the same Python
/// tuple); everything else — magic, version, padding to 64 bytes, dtype, order, the data — is
/// byte for byte numpy's. (numpy 2.4.6 loads our file as the same array: checked by hand.)
#[test]
fn written_maps_equal_numpy_save_up_to_the_shape_comma() {
    let path = fixture("f32_c.npy");
    let map: MapF32 = read_map(&path).unwrap();
    let mut ours = Vec::new();
    write_map(&mut ours, &map).unwrap();
    let numpy = std::fs::read(&path).unwrap();
    assert_eq!(ours.len(), numpy.len());
    let header_end = 10 + u16::from_le_bytes([numpy[8], numpy[9]]) as usize;
    assert_eq!(header_end % 64, 0);
    assert_eq!(ours[..10], numpy[..10]);
    assert_eq!(ours[header_end..], numpy[header_end..], "data");
    let text = |b: &[u8]| String::from_utf8(b[10..header_end].to_vec()).unwrap();
    assert_eq!(
        text(&ours).replace("(2, 3, )", "(2, 3)").trim_end(),
        text(&numpy).trim_end()
    );
    let back = salient_eval::npy::parse_map(ours.as_slice()).unwrap();
    assert_eq!(back, map);
}
