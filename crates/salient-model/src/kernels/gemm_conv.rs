//! The GEMM engine behind the CPU convolutions: im2col / col2im over bands of output rows, so that
//! the patch matrix of one band stays in cache, and the `gemm` crate (candle's own) for the products.
//!
//! Three primitives cover a convolution and a transposed convolution, forward and backward:
//! - [`forward`]: `out = W · im2col(img)`;
//! - [`backward_data`]: `img = col2im(Wᵀ · out)` (also the forward pass of a transposed convolution);
//! - [`backward_weight`]: `W = Σ out · im2col(img)ᵀ` (also a transposed convolution's weight gradient,
//!   with the roles of the two tensors exchanged).
//!
//! All slices are contiguous NCHW; the weight is `(cout, channels·k·k)` row-major, which is both
//! PyTorch's conv2d layout `(cout, cin, k, k)` and its conv_transpose2d layout `(cin, cout, k, k)`.

use gemm::Parallelism;
use rayon::prelude::*;

/// Element types the engine handles (those the `gemm` crate multiplies natively).
pub(crate) trait Elem:
    Copy
    + Send
    + Sync
    + 'static
    + std::ops::AddAssign
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// Patch-matrix elements per band: 2^19 (2 MiB of f32) keeps a band in L2/L3 while leaving the
/// GEMM a wide enough right-hand side. Tests use tiny bands so that every shape crosses bands.
const BAND_ELEMS: usize = if cfg!(test) { 1 << 9 } else { 1 << 19 };

/// The geometry of one convolution seen from its input image: `channels × height × width` image,
/// square kernel, stride and zero padding, `out_height × out_width` output positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub out_height: usize,
    pub out_width: usize,
}

impl Geometry {
    /// The geometry of a convolution of a `channels × height × width` image; `None` when the
    /// padded image is smaller than the kernel or the stride is zero.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Option<Self> {
        if stride == 0 || kernel == 0 || height + 2 * padding < kernel {
            return None;
        }
        if width + 2 * padding < kernel {
            return None;
        }
        Some(Self {
            channels,
            height,
            width,
            kernel,
            stride,
            padding,
            out_height: (height + 2 * padding - kernel) / stride + 1,
            out_width: (width + 2 * padding - kernel) / stride + 1,
        })
    }

    /// Rows of the patch matrix: `channels · k · k`.
    pub fn patch_len(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn out_len(&self) -> usize {
        self.out_height * self.out_width
    }

    /// A 1×1, stride-1, unpadded convolution needs no patch matrix: the image is one already.
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// Output rows per band so that a band's patch matrix holds about [`BAND_ELEMS`] elements.
    fn band_rows(&self) -> usize {
        let per_row = (self.patch_len() * self.out_width).max(1);
        (BAND_ELEMS / per_row).clamp(1, self.out_height.max(1))
    }

    /// Output columns `[lo, hi)` whose input column `ox·s + kx − p` lies inside the image.
    fn valid_columns(&self, kx: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.padding);
        let lo = if p > kx { (p - kx).div_ceil(s) } else { 0 };
        let hi = if self.width + p > kx {
            (self.width + p - kx).div_ceil(s).min(self.out_width)
        } else {
            0
        };
        (lo.min(hi), hi)
    }

    /// Input row of output row `oy` at kernel row `ky`, if inside the image.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride + ky)
            .checked_sub(self.padding)
            .filter(|&iy| iy < self.height)
    }
}

/// How one image's work is parallelised: either the caller runs images in parallel and each image
/// runs serially, or images run one after another and the GEMM and patch copies use every thread.
#[derive(Clone, Copy)]
struct Threads {
    gemm: Parallelism,
    inner: bool,
}

impl Threads {
    fn serial() -> Self {
        Self {
            gemm: Parallelism::None,
            inner: false,
        }
    }

    fn all(n: usize) -> Self {
        Self {
            gemm: if n > 1 {
                Parallelism::Rayon(n)
            } else {
                Parallelism::None
            },
            inner: n > 1,
        }
    }
}

/// Whether to spread a batch of `batch` images over the thread pool, one image per task.
fn per_image_parallel(batch: usize) -> bool {
    let threads = rayon::current_num_threads();
    threads > 1 && batch >= threads
}

/// Copies output rows `oy0..oy1` of the patch matrix of `img` into `cols` (`patch_len × band`).
fn im2col<T: Elem>(g: &Geometry, img: &[T], oy0: usize, oy1: usize, cols: &mut [T], inner: bool) {
    let band = (oy1 - oy0) * g.out_width;
    let kk = g.kernel * g.kernel;
    let fill_channel = |c: usize, chunk: &mut [T]| {
        let plane = &img[c * g.height * g.width..][..g.height * g.width];
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                let row = &mut chunk[(ky * g.kernel + kx) * band..][..band];
                let (lo, hi) = g.valid_columns(kx);
                for (r, oy) in (oy0..oy1).enumerate() {
                    let dst = &mut row[r * g.out_width..][..g.out_width];
                    let Some(iy) = g.input_row(oy, ky) else {
                        dst.fill(T::ZERO);
                        continue;
                    };
                    let src = &plane[iy * g.width..][..g.width];
                    dst[..lo].fill(T::ZERO);
                    dst[hi..].fill(T::ZERO);
                    if lo < hi {
                        let first = lo * g.stride + kx - g.padding;
                        if g.stride == 1 {
                            dst[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
                        } else {
                            for (d, s) in dst[lo..hi]
                                .iter_mut()
                                .zip(src[first..].iter().step_by(g.stride))
                            {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    };
    let cols = &mut cols[..g.channels * kk * band];
    if inner {
        cols.par_chunks_mut(kk * band)
            .enumerate()
            .for_each(|(c, chunk)| fill_channel(c, chunk));
    } else {
        cols.chunks_mut(kk * band)
            .enumerate()
            .for_each(|(c, chunk)| fill_channel(c, chunk));
    }
}

/// Adds the patch matrix `cols` of output rows `oy0..oy1` back into `img` (the adjoint of [`im2col`]).
fn col2im<T: Elem>(g: &Geometry, cols: &[T], oy0: usize, oy1: usize, img: &mut [T], inner: bool) {
    let band = (oy1 - oy0) * g.out_width;
    let kk = g.kernel * g.kernel;
    let add_channel = |c: usize, plane: &mut [T]| {
        let chunk = &cols[c * kk * band..][..kk * band];
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                let row = &chunk[(ky * g.kernel + kx) * band..][..band];
                let (lo, hi) = g.valid_columns(kx);
                if lo >= hi {
                    continue;
                }
                for (r, oy) in (oy0..oy1).enumerate() {
                    let Some(iy) = g.input_row(oy, ky) else {
                        continue;
                    };
                    let src = &row[r * g.out_width..][lo..hi];
                    let dst = &mut plane[iy * g.width..][..g.width];
                    let first = lo * g.stride + kx - g.padding;
                    if g.stride == 1 {
                        for (d, s) in dst[first..first + hi - lo].iter_mut().zip(src) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst[first..].iter_mut().step_by(g.stride).zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    };
    let plane_len = g.height * g.width;
    if inner {
        img.par_chunks_mut(plane_len)
            .enumerate()
            .for_each(|(c, plane)| add_channel(c, plane));
    } else {
        img.chunks_mut(plane_len)
            .enumerate()
            .for_each(|(c, plane)| add_channel(c, plane));
    }
}

/// A row-major matrix view for the `gemm` call: base pointer, row stride, column stride.
#[derive(Clone, Copy)]
struct Mat<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

impl<T> Mat<T> {
    fn rows(ptr: *const T, row_stride: usize) -> Self {
        Self {
            ptr,
            rs: row_stride as isize,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix whose rows are `row_stride` apart.
    fn transposed(ptr: *const T, row_stride: usize) -> Self {
        Self {
            ptr,
            rs: 1,
            cs: row_stride as isize,
        }
    }
}

/// `dst (m×n, row stride dst_rs) (+)= lhs (m×k) · rhs (k×n)`.
///
/// # Safety
/// Every view must cover its `m×k`, `k×n` or `m×n` extent inside a live allocation, and `dst`
/// must not alias the inputs.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs.ptr,
        lhs.cs,
        lhs.rs,
        rhs.ptr,
        rhs.cs,
        rhs.rs,
        T::ONE,
        T::ONE,
        false,
        false,
        false,
        par,
    );
}

/// Bands of output rows `[oy0, oy1)` covering the whole output.
fn bands(g: &Geometry) -> impl Iterator<Item = (usize, usize)> {
    let step = g.band_rows();
    let total = g.out_height;
    (0..total)
        .step_by(step)
        .map(move |oy0| (oy0, (oy0 + step).min(total)))
}

/// One image of [`forward`].
fn forward_image<T: Elem>(
    g: &Geometry,
    img: &[T],
    w: &[T],
    cout: usize,
    out: &mut [T],
    t: Threads,
) {
    let (patch, out_len) = (g.patch_len(), g.out_len());
    if g.is_pointwise() {
        // SAFETY: w is cout×patch, img is patch×out_len, out is cout×out_len, all contiguous.
        unsafe {
            matmul(
                cout,
                out_len,
                patch,
                out.as_mut_ptr(),
                out_len,
                false,
                Mat::rows(w.as_ptr(), patch),
                Mat::rows(img.as_ptr(), out_len),
                t.gemm,
            )
        };
        return;
    }
    let mut cols = vec![T::ZERO; patch * g.band_rows() * g.out_width];
    for (oy0, oy1) in bands(g) {
        let band = (oy1 - oy0) * g.out_width;
        im2col(g, img, oy0, oy1, &mut cols, t.inner);
        // SAFETY: cols holds patch×band; the destination is columns oy0·ow.. of the
        // cout×out_len output, band wide, rows out_len apart.
        unsafe {
            matmul(
                cout,
                band,
                patch,
                out.as_mut_ptr().add(oy0 * g.out_width),
                out_len,
                false,
                Mat::rows(w.as_ptr(), patch),
                Mat::rows(cols.as_ptr(), band),
                t.gemm,
            )
        };
    }
}

/// One image of [`backward_data`].
fn backward_data_image<T: Elem>(
    g: &Geometry,
    grad: &[T],
    w: &[T],
    cout: usize,
    img: &mut [T],
    t: Threads,
) {
    let (patch, out_len) = (g.patch_len(), g.out_len());
    if g.is_pointwise() {
        // SAFETY: wᵀ is patch×cout, grad is cout×out_len, img is patch×out_len.
        unsafe {
            matmul(
                patch,
                out_len,
                cout,
                img.as_mut_ptr(),
                out_len,
                false,
                Mat::transposed(w.as_ptr(), patch),
                Mat::rows(grad.as_ptr(), out_len),
                t.gemm,
            )
        };
        return;
    }
    img.fill(T::ZERO);
    let mut cols = vec![T::ZERO; patch * g.band_rows() * g.out_width];
    for (oy0, oy1) in bands(g) {
        let band = (oy1 - oy0) * g.out_width;
        // SAFETY: wᵀ is patch×cout; the grad band is cout×band with rows out_len apart; cols
        // has room for patch×band.
        unsafe {
            matmul(
                patch,
                band,
                cout,
                cols.as_mut_ptr(),
                band,
                false,
                Mat::transposed(w.as_ptr(), patch),
                Mat::rows(grad.as_ptr().add(oy0 * g.out_width), out_len),
                t.gemm,
            )
        };
        col2im(g, &cols, oy0, oy1, img, t.inner);
    }
}

/// One image of [`backward_weight`], added into `dw` when `accumulate`.
fn backward_weight_image<T: Elem>(
    g: &Geometry,
    img: &[T],
    grad: &[T],
    cout: usize,
    dw: &mut [T],
    accumulate: bool,
    t: Threads,
) {
    let (patch, out_len) = (g.patch_len(), g.out_len());
    if g.is_pointwise() {
        // SAFETY: grad is cout×out_len, imgᵀ is out_len×patch, dw is cout×patch.
        unsafe {
            matmul(
                cout,
                patch,
                out_len,
                dw.as_mut_ptr(),
                patch,
                accumulate,
                Mat::rows(grad.as_ptr(), out_len),
                Mat::transposed(img.as_ptr(), out_len),
                t.gemm,
            )
        };
        return;
    }
    let mut cols = vec![T::ZERO; patch * g.band_rows() * g.out_width];
    for (i, (oy0, oy1)) in bands(g).enumerate() {
        let band = (oy1 - oy0) * g.out_width;
        im2col(g, img, oy0, oy1, &mut cols, t.inner);
        // SAFETY: the grad band is cout×band with rows out_len apart; colsᵀ is band×patch.
        unsafe {
            matmul(
                cout,
                patch,
                band,
                dw.as_mut_ptr(),
                patch,
                accumulate || i > 0,
                Mat::rows(grad.as_ptr().add(oy0 * g.out_width), out_len),
                Mat::transposed(cols.as_ptr(), band),
                t.gemm,
            )
        };
    }
}

/// Convolution forward over a batch: `out[n] (cout × out_len) = w (cout × patch) · im2col(x[n])`.
pub(crate) fn forward<T: Elem>(g: &Geometry, x: &[T], w: &[T], cout: usize, out: &mut [T]) {
    let (img_len, out_img) = (g.image_len(), cout * g.out_len());
    let batch = x.len() / img_len.max(1);
    if per_image_parallel(batch) {
        out.par_chunks_mut(out_img)
            .zip(x.par_chunks(img_len))
            .for_each(|(o, xi)| forward_image(g, xi, w, cout, o, Threads::serial()));
    } else {
        let t = Threads::all(rayon::current_num_threads());
        for (o, xi) in out.chunks_mut(out_img).zip(x.chunks(img_len)) {
            forward_image(g, xi, w, cout, o, t);
        }
    }
}

/// Gradient of [`forward`] with respect to its input: `dx[n] = col2im(wᵀ · grad[n])`.
pub(crate) fn backward_data<T: Elem>(g: &Geometry, grad: &[T], w: &[T], cout: usize, dx: &mut [T]) {
    let (img_len, out_img) = (g.image_len(), cout * g.out_len());
    let batch = dx.len() / img_len.max(1);
    if per_image_parallel(batch) {
        dx.par_chunks_mut(img_len)
            .zip(grad.par_chunks(out_img))
            .for_each(|(d, gi)| backward_data_image(g, gi, w, cout, d, Threads::serial()));
    } else {
        let t = Threads::all(rayon::current_num_threads());
        for (d, gi) in dx.chunks_mut(img_len).zip(grad.chunks(out_img)) {
            backward_data_image(g, gi, w, cout, d, t);
        }
    }
}

/// Gradient of [`forward`] with respect to its weight: `dw = Σₙ grad[n] · im2col(x[n])ᵀ`.
pub(crate) fn backward_weight<T: Elem>(
    g: &Geometry,
    x: &[T],
    grad: &[T],
    cout: usize,
    dw: &mut [T],
) {
    let (img_len, out_img) = (g.image_len(), cout * g.out_len());
    let batch = x.len() / img_len.max(1);
    if batch == 0 {
        dw.fill(T::ZERO);
        return;
    }
    if per_image_parallel(batch) {
        // One partial sum per group of consecutive images, one group per thread.
        let groups = rayon::current_num_threads().min(batch);
        let per_group = batch.div_ceil(groups);
        let partials: Vec<Vec<T>> = (0..groups)
            .into_par_iter()
            .map(|gi| {
                let mut part = vec![T::ZERO; dw.len()];
                let first = gi * per_group;
                for n in first..(first + per_group).min(batch) {
                    backward_weight_image(
                        g,
                        &x[n * img_len..][..img_len],
                        &grad[n * out_img..][..out_img],
                        cout,
                        &mut part,
                        n > first,
                        Threads::serial(),
                    );
                }
                part
            })
            .collect();
        dw.copy_from_slice(&partials[0]);
        for part in &partials[1..] {
            for (d, p) in dw.iter_mut().zip(part) {
                *d += *p;
            }
        }
    } else {
        let t = Threads::all(rayon::current_num_threads());
        for n in 0..batch {
            backward_weight_image(
                g,
                &x[n * img_len..][..img_len],
                &grad[n * out_img..][..out_img],
                cout,
                dw,
                n > 0,
                t,
            );
        }
    }
}

/// One image of [`forward_and_weight`]: each band's patch matrix of `img` is built once and feeds
/// both `out = w · cols` (when `out` is given) and `dw (+)= other · colsᵀ` (when `dw` is given).
#[allow(clippy::too_many_arguments)]
fn forward_and_weight_image<T: Elem>(
    g: &Geometry,
    img: &[T],
    w: &[T],
    other: &[T],
    cout: usize,
    mut out: Option<&mut [T]>,
    mut dw: Option<&mut [T]>,
    accumulate: bool,
    t: Threads,
) {
    let (patch, out_len) = (g.patch_len(), g.out_len());
    let mut cols = if g.is_pointwise() {
        Vec::new()
    } else {
        vec![T::ZERO; patch * g.band_rows() * g.out_width]
    };
    let whole = [(0, g.out_height)];
    let band_list: Vec<(usize, usize)> = if g.is_pointwise() {
        whole.to_vec()
    } else {
        bands(g).collect()
    };
    for (i, &(oy0, oy1)) in band_list.iter().enumerate() {
        let band = (oy1 - oy0) * g.out_width;
        let (rhs, rhs_rs) = if g.is_pointwise() {
            (img.as_ptr(), out_len)
        } else {
            im2col(g, img, oy0, oy1, &mut cols, t.inner);
            (cols.as_ptr(), band)
        };
        let offset = oy0 * g.out_width;
        if let Some(out) = out.as_deref_mut() {
            // SAFETY: w is cout×patch; rhs is patch×band with rows rhs_rs apart; the destination
            // is a cout×band block of the cout×out_len output.
            unsafe {
                matmul(
                    cout,
                    band,
                    patch,
                    out.as_mut_ptr().add(offset),
                    out_len,
                    false,
                    Mat::rows(w.as_ptr(), patch),
                    Mat::rows(rhs, rhs_rs),
                    t.gemm,
                )
            };
        }
        if let Some(dw) = dw.as_deref_mut() {
            // SAFETY: the `other` band is cout×band with rows out_len apart; rhsᵀ is band×patch.
            unsafe {
                matmul(
                    cout,
                    patch,
                    band,
                    dw.as_mut_ptr(),
                    patch,
                    accumulate || i > 0,
                    Mat::rows(other.as_ptr().add(offset), out_len),
                    Mat::transposed(rhs, rhs_rs),
                    t.gemm,
                )
            };
        }
    }
}

/// [`forward`] and [`backward_weight`] sharing one im2col of `img`: `out[n] = w · im2col(img[n])`
/// and `dw = Σₙ other[n] · im2col(img[n])ᵀ`, for whichever of `out` and `dw` is given. This is the
/// whole backward pass of a transposed convolution (`img` its output gradient, `other` its input).
pub(crate) fn forward_and_weight<T: Elem>(
    g: &Geometry,
    img: &[T],
    w: &[T],
    other: &[T],
    cout: usize,
    out: Option<&mut [T]>,
    dw: Option<&mut [T]>,
) {
    let (img_len, out_img) = (g.image_len(), cout * g.out_len());
    let batch = img.len() / img_len.max(1);
    let dw_len = dw.as_ref().map_or(0, |d| d.len());
    let threads = rayon::current_num_threads();
    let (per_group, t) = if per_image_parallel(batch) {
        (batch.div_ceil(threads.min(batch)), Threads::serial())
    } else {
        (batch.max(1), Threads::all(threads))
    };
    let groups = batch.div_ceil(per_group);
    let out_chunks: Vec<Option<&mut [T]>> = match out {
        Some(o) => o.chunks_mut(per_group * out_img).map(Some).collect(),
        None => (0..groups).map(|_| None).collect(),
    };
    let partials: Vec<Option<Vec<T>>> = out_chunks
        .into_par_iter()
        .enumerate()
        .map(|(gi, mut chunk)| {
            let mut part = (dw_len > 0).then(|| vec![T::ZERO; dw_len]);
            let first = gi * per_group;
            for (j, n) in (first..(first + per_group).min(batch)).enumerate() {
                forward_and_weight_image(
                    g,
                    &img[n * img_len..][..img_len],
                    w,
                    &other[n * out_img..][..out_img],
                    cout,
                    chunk
                        .as_deref_mut()
                        .map(|c| &mut c[j * out_img..][..out_img]),
                    part.as_deref_mut(),
                    j > 0,
                    t,
                );
            }
            part
        })
        .collect();
    if let Some(dw) = dw {
        dw.fill(T::ZERO);
        for part in partials.iter().flatten() {
            for (d, p) in dw.iter_mut().zip(part) {
                *d += *p;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 6-loop convolution, the definition itself.
    fn direct(g: &Geometry, x: &[f64], w: &[f64], cout: usize) -> Vec<f64> {
        let mut out = vec![0.0; cout * g.out_len()];
        for o in 0..cout {
            for oy in 0..g.out_height {
                for ox in 0..g.out_width {
                    let mut acc = 0.0;
                    for c in 0..g.channels {
                        for ky in 0..g.kernel {
                            for kx in 0..g.kernel {
                                let iy = (oy * g.stride + ky) as isize - g.padding as isize;
                                let ix = (ox * g.stride + kx) as isize - g.padding as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.height as isize
                                    || ix >= g.width as isize
                                {
                                    continue;
                                }
                                let xi = (c * g.height + iy as usize) * g.width + ix as usize;
                                let wi = ((o * g.channels + c) * g.kernel + ky) * g.kernel + kx;
                                acc += x[xi] * w[wi];
                            }
                        }
                    }
                    out[o * g.out_len() + oy * g.out_width + ox] = acc;
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_direct_definition_with_many_bands() {
        for &(c, h, w, k, s, p) in &[(3, 7, 5, 3, 2, 1), (2, 6, 6, 1, 1, 0), (4, 5, 9, 4, 2, 1)] {
            let g = Geometry::new(c, h, w, k, s, p).unwrap();
            let x: Vec<f64> = (0..g.image_len())
                .map(|i| (i as f64 * 0.37).sin())
                .collect();
            let cout = 3;
            let wt: Vec<f64> = (0..cout * g.patch_len())
                .map(|i| (i as f64 * 0.11).cos())
                .collect();
            let mut out = vec![0.0; cout * g.out_len()];
            forward(&g, &x, &wt, cout, &mut out);
            let want = direct(&g, &x, &wt, cout);
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b} for {g:?}");
            }
        }
    }

    #[test]
    fn valid_columns_cover_exactly_the_inside_of_the_image() {
        let g = Geometry::new(1, 5, 7, 4, 2, 1).unwrap();
        for kx in 0..4 {
            let (lo, hi) = g.valid_columns(kx);
            for ox in 0..g.out_width {
                let ix = (ox * 2 + kx) as isize - 1;
                let inside = (0..7).contains(&ix);
                assert_eq!(inside, (lo..hi).contains(&ox), "kx={kx} ox={ox}");
            }
        }
    }
}
