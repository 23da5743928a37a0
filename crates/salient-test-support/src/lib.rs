//! # salient-test-support
//!
//! The comparisons salient's tests make between a computed output and its reference (a PyTorch
//! fixture, candle's own op, a direct definition), in one place, so that every crate's checks
//! fail the same way on NaN.
//!
//! Why: a check written `diffs.fold(0.0, f32::max) <= tol` passes an output that is all NaN,
//! since `f32::max` returns its other operand when one is NaN and the NaN differences vanish from
//! the maximum (candle's `max_all` skips them the same way, except at the first element). Here a
//! NaN in either slice makes the difference NaN, and every bound is tested as `!(d <= tol)`,
//! which NaN fails. An infinity equals only the same infinity.
//!
//! - [`max_abs_diff`], [`max_rel_diff`], [`max_abs`]: the figures a test prints or bounds itself;
//! - [`check_close`] and [`assert_close`]: the check, naming what was compared, the first NaN or
//!   the worst element, and both values;
//! - [`with_nan`] and [`rejects_nan`]: for the tests that prove a check refuses an output that
//!   holds a NaN; [`assert_close_and_nan_fails`] does both on every output it compares.
//!
//! A dev-dependency of the crates whose tests compare numbers; never published.

use std::fmt;

/// The element types compared, `f32` and `f64`, read as `f64`.
pub trait Float: Copy + Into<f64> {
    const NAN: Self;
}

impl Float for f32 {
    const NAN: Self = f32::NAN;
}

impl Float for f64 {
    const NAN: Self = f64::NAN;
}

/// How far an element may lie from its reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// `|actual − expected| ≤ tol`.
    Abs(f64),
    /// `|actual − expected| ≤ tol · (1 + |expected|)`: relative for large values, absolute near 0.
    Rel(f64),
}

impl Tolerance {
    /// One element's difference in this tolerance's measure: 0 when equal (infinities included),
    /// NaN when either value is NaN.
    fn measure(self, actual: f64, expected: f64) -> f64 {
        if actual == expected {
            return 0.0;
        }
        let d = (actual - expected).abs();
        match self {
            Tolerance::Abs(_) => d,
            Tolerance::Rel(_) => d / (1.0 + expected.abs()),
        }
    }

    fn bound(self) -> f64 {
        match self {
            Tolerance::Abs(t) | Tolerance::Rel(t) => t,
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tolerance::Abs(t) => write!(f, "bound {t:e} on |Δ|"),
            Tolerance::Rel(t) => write!(f, "bound {t:e} on |Δ| / (1 + |expected|)"),
        }
    }
}

/// Why a computed slice is not close to its reference.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Mismatch {
    #[error("{what}: {actual} values computed, {expected} expected")]
    Length {
        what: String,
        actual: usize,
        expected: usize,
    },
    #[error(
        "{what}: element {index} of {len} is {actual:e}, expected {expected:e} \
         (difference {diff:e} exceeds the {tolerance})"
    )]
    Values {
        what: String,
        /// The first NaN difference, or else the largest.
        index: usize,
        len: usize,
        actual: f64,
        expected: f64,
        /// In the tolerance's measure; NaN where either value is NaN.
        diff: f64,
        tolerance: Tolerance,
    },
}

/// `(index, difference)` of the first NaN difference, or else of the largest; `None` if empty.
fn worst<T: Float>(actual: &[T], expected: &[T], tolerance: Tolerance) -> Option<(usize, f64)> {
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let d = tolerance.measure(a.into(), e.into());
        if d.is_nan() {
            return Some((i, d));
        }
        if worst.is_none_or(|(_, w)| d > w) {
            worst = Some((i, d));
        }
    }
    worst
}

/// Checks `actual` against `expected` element by element; `Ok` with the largest difference (in
/// the tolerance's measure) when every element is within `tolerance`. Fails on a length
/// mismatch, on a NaN in either slice, on an infinity facing anything but itself, and on a NaN
/// tolerance.
pub fn check_close<T: Float>(
    what: &str,
    actual: &[T],
    expected: &[T],
    tolerance: Tolerance,
) -> Result<f64, Mismatch> {
    if actual.len() != expected.len() {
        return Err(Mismatch::Length {
            what: what.to_string(),
            actual: actual.len(),
            expected: expected.len(),
        });
    }
    let Some((index, diff)) = worst(actual, expected, tolerance) else {
        return Ok(0.0);
    };
    if diff <= tolerance.bound() {
        return Ok(diff);
    }
    Err(Mismatch::Values {
        what: what.to_string(),
        index,
        len: actual.len(),
        actual: actual[index].into(),
        expected: expected[index].into(),
        diff,
        tolerance,
    })
}

/// [`check_close`], panicking with the mismatch's message; returns the largest difference so
/// that the test can print it.
#[track_caller]
pub fn assert_close<T: Float>(
    what: &str,
    actual: &[T],
    expected: &[T],
    tolerance: Tolerance,
) -> f64 {
    check_close(what, actual, expected, tolerance).unwrap_or_else(|m| panic!("{m}"))
}

/// [`assert_close`], then proof that the same check refuses `actual` with a NaN in place of its
/// first, middle or last element ([`rejects_nan`]); returns the largest difference. For checks
/// of real outputs, so that each compared output is also shown unable to pass by going NaN.
#[track_caller]
pub fn assert_close_and_nan_fails<T: Float>(
    what: &str,
    actual: &[T],
    expected: &[T],
    tolerance: Tolerance,
) -> f64 {
    let diff = assert_close(what, actual, expected, tolerance);
    if !actual.is_empty() {
        let accepts = |probe: &[T]| check_close(what, probe, expected, tolerance).is_ok();
        assert!(
            rejects_nan(actual, accepts),
            "{what}: the check passes an output holding a NaN"
        );
    }
    diff
}

/// `max |actual − expected|`; NaN when either slice holds a NaN, 0 for empty slices.
///
/// # Panics
/// When the lengths differ.
#[track_caller]
pub fn max_abs_diff<T: Float>(actual: &[T], expected: &[T]) -> f64 {
    assert_eq!(
        actual.len(),
        expected.len(),
        "max_abs_diff: {} values computed, {} expected",
        actual.len(),
        expected.len()
    );
    worst(actual, expected, Tolerance::Abs(0.0)).map_or(0.0, |(_, d)| d)
}

/// `max |actual − expected| / (1 + |expected|)` (the measure of [`Tolerance::Rel`]); NaN when
/// either slice holds a NaN, 0 for empty slices.
///
/// # Panics
/// When the lengths differ.
#[track_caller]
pub fn max_rel_diff<T: Float>(actual: &[T], expected: &[T]) -> f64 {
    assert_eq!(
        actual.len(),
        expected.len(),
        "max_rel_diff: {} values computed, {} expected",
        actual.len(),
        expected.len()
    );
    worst(actual, expected, Tolerance::Rel(0.0)).map_or(0.0, |(_, d)| d)
}

/// `max |v|` (a reference's scale, for tolerances relative to it); NaN when any element is NaN,
/// 0 for an empty slice.
pub fn max_abs<T: Float>(values: &[T]) -> f64 {
    let mut m = 0.0f64;
    for &v in values {
        let a = v.into().abs();
        if a.is_nan() {
            return f64::NAN;
        }
        m = m.max(a);
    }
    m
}

/// A copy of `values` with element `index` replaced by NaN.
///
/// # Panics
/// When `index` is out of range.
pub fn with_nan<T: Float>(values: &[T], index: usize) -> Vec<T> {
    let mut out = values.to_vec();
    out[index] = T::NAN;
    out
}

/// Whether `accepts` refuses `values` once its first, middle or last element (each in turn) is
/// NaN: true when it refuses all three. Call it with the very check a test applies to a real
/// output, after that check passed on it. Three places because a NaN-blind maximum may still
/// see a NaN in first place (candle's reductions start from the first element).
///
/// # Panics
/// When `values` is empty: there is nothing to replace.
pub fn rejects_nan<T: Float>(values: &[T], accepts: impl Fn(&[T]) -> bool) -> bool {
    assert!(!values.is_empty(), "rejects_nan: no element to replace");
    let n = values.len();
    [0, n / 2, n - 1]
        .into_iter()
        .all(|i| !accepts(&with_nan(values, i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_in_either_slice_anywhere_fails() {
        let good = [0.5f32, -1.0, 2.0, 3.0];
        for i in 0..good.len() {
            let bad = with_nan(&good, i);
            assert!(max_abs_diff(&bad, &good).is_nan(), "actual NaN at {i}");
            assert!(max_abs_diff(&good, &bad).is_nan(), "expected NaN at {i}");
            assert!(max_rel_diff(&bad, &good).is_nan());
            assert!(max_abs(&bad).is_nan());
            for tol in [Tolerance::Abs(1e9), Tolerance::Rel(1e9)] {
                let e = check_close("probe", &bad, &good, tol).unwrap_err();
                assert!(
                    matches!(e, Mismatch::Values { index, diff, .. } if index == i && diff.is_nan()),
                    "{e}"
                );
                assert!(check_close("probe", &good, &bad, tol).is_err());
            }
        }
    }

    #[test]
    fn the_message_names_what_where_and_both_values() {
        let e = check_close(
            "eval 64x64",
            &[1.0f64, 2.5, 3.0],
            &[1.0, 2.0, 3.0],
            Tolerance::Abs(0.1),
        )
        .unwrap_err();
        let text = e.to_string();
        for part in [
            "eval 64x64",
            "element 1 of 3",
            "2.5e0",
            "2e0",
            "5e-1",
            "1e-1",
        ] {
            assert!(text.contains(part), "`{part}` missing from: {text}");
        }
        let e = check_close("x", &[1.0f32], &[1.0, 2.0], Tolerance::Abs(1.0)).unwrap_err();
        assert_eq!(e.to_string(), "x: 1 values computed, 2 expected");
    }

    #[test]
    fn within_tolerance_passes_and_reports_the_largest_difference() {
        let (a, b) = ([1.0f64, 2.0, -3.0], [1.0, 2.25, -3.5]);
        assert_eq!(max_abs_diff(&a, &b), 0.5);
        assert_eq!(check_close("x", &a, &b, Tolerance::Abs(0.5)), Ok(0.5));
        assert!(check_close("x", &a, &b, Tolerance::Abs(0.49)).is_err());
        // Relative to 1 + |expected|: 0.25 / 3.25 and 0.5 / 4.5.
        assert_eq!(max_rel_diff(&a, &b), 0.5 / 4.5);
        assert!(check_close("x", &a, &b, Tolerance::Rel(0.112)).is_ok());
        assert!(check_close("x", &a, &b, Tolerance::Rel(0.11)).is_err());
        assert_eq!(max_abs(&[-3.0f32, 2.0]), 3.0);
        assert_eq!(
            check_close::<f32>("x", &[], &[], Tolerance::Abs(0.0)),
            Ok(0.0)
        );
    }

    #[test]
    fn infinities_equal_only_themselves_and_a_nan_tolerance_fails() {
        let inf = [f64::INFINITY, f64::NEG_INFINITY];
        assert_eq!(check_close("x", &inf, &inf, Tolerance::Abs(0.0)), Ok(0.0));
        assert!(check_close("x", &[f64::INFINITY], &[1e300], Tolerance::Abs(1e308)).is_err());
        assert!(check_close(
            "x",
            &inf,
            &[f64::NEG_INFINITY, f64::INFINITY],
            Tolerance::Rel(1.0)
        )
        .is_err());
        // A tolerance scaled by a reference's NaN maximum fails even equal values.
        assert!(check_close("x", &[1.0f32], &[1.0], Tolerance::Abs(f64::NAN)).is_err());
        assert!(check_close("x", &[1.0f32], &[1.5], Tolerance::Abs(f64::NAN)).is_err());
    }

    #[test]
    #[should_panic(expected = "max_abs_diff: 2 values computed, 3 expected")]
    fn max_abs_diff_refuses_different_lengths() {
        max_abs_diff(&[0.0f32; 2], &[0.0; 3]);
    }

    #[test]
    #[should_panic(expected = "probe: element 2 of 3")]
    fn assert_close_panics_with_the_mismatch() {
        assert_close(
            "probe",
            &[0.0f32, 0.0, 1.0],
            &[0.0, 0.0, 0.0],
            Tolerance::Abs(0.5),
        );
    }

    #[test]
    fn assert_close_and_nan_fails_returns_the_largest_difference() {
        let d = assert_close_and_nan_fails("x", &[1.0f32, 2.0], &[1.0, 2.5], Tolerance::Abs(0.5));
        assert_eq!(d, 0.5);
    }

    /// The fault these helpers exist for: a maximum folded with `f32::max` ignores NaN, and
    /// `rejects_nan` catches a check built on it.
    #[test]
    fn rejects_nan_catches_a_nan_blind_check() {
        let out = [0.25f32, 0.5, 0.75];
        let blind = |v: &[f32]| {
            let d = v.iter().zip(&out).map(|(a, b)| (a - b).abs());
            d.fold(0.0, f32::max) <= 1e-6
        };
        assert!(blind(&out) && blind(&with_nan(&out, 1)), "the fault exists");
        assert!(!rejects_nan(&out, blind));
        let aware = |v: &[f32]| check_close("x", v, &out, Tolerance::Abs(1e-6)).is_ok();
        assert!(aware(&out) && rejects_nan(&out, aware));
    }
}
