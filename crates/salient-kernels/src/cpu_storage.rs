//! Reading candle's CPU storage inside the custom ops: one contiguity check and one f32/f64
//! dispatch, shared by every op so that each names its operands the same way in errors.

use candle_core::{bail, CpuStorage, Layout, Result, WithDType};

/// The contiguous data of a CPU operand, or an error naming it (`what`).
pub(super) fn contiguous<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> Result<&'a [T]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("{what} must be contiguous");
    };
    Ok(&storage.as_slice::<T>()?[start..end])
}

/// `float_dispatch!(op_name, [storages…], |T| body)`: evaluates `body` with the type alias `T`
/// bound to `f32` or `f64` when every storage has that dtype, else returns an error naming the op
/// and the dtypes it got.
macro_rules! float_dispatch {
    ($name:expr, [$($storage:expr),+ $(,)?], |$t:ident| $body:expr) => {{
        use candle_core::backend::BackendStorage as _;
        use candle_core::WithDType as _;
        let dtypes = [$($storage.dtype()),+];
        let all = |d: candle_core::DType| dtypes.iter().all(|x| *x == d);
        if all(candle_core::DType::F32) {
            type $t = f32;
            $body
        } else if all(candle_core::DType::F64) {
            type $t = f64;
            $body
        } else {
            candle_core::bail!("{}: operands must all be f32 or all f64, got {:?}", $name, dtypes)
        }
    }};
}
pub(super) use float_dispatch;
