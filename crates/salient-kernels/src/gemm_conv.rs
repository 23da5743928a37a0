//! The GEMM engine behind the CPU convolutions: im2col / col2im over bands of output rows, so that
//! the patch matrix of one band stays in cache, and the `gemm` crate (candle's own) for the products.
//! A band may span several images: deep layers have small images and large weights, and one wide
//! GEMM packs the weights once where one GEMM per image would pack them per image.
//!
//! Three primitives cover a convolution and a transposed convolution, forward and backward:
//! - [`forward`]: `out = W · im2col(img)`;
//! - [`backward_data`]: `img = col2im(Wᵀ · out)` (also the forward pass of a transposed convolution);
//! - [`backward_weight`]: `W = Σ out · im2col(img)ᵀ` (also a transposed convolution's weight gradient,
//!   with the roles of the two tensors exchanged).
//!
//! All slices are contiguous NCHW; the weight is `(cout, channels·k·k)` row-major, which is both
//! PyTorch's conv2d layout `(cout, cin, k, k)` and its conv_transpose2d layout `(cin, cout, k, k)`.

use std::cell::RefCell;

use gemm::Parallelism;
use rayon::prelude::*;

use super::epilogue::Epilogue;

pub(crate) mod winograd;

/// Element types the engine handles (those the `gemm` crate multiplies natively).
pub(crate) trait Elem:
    Copy
    + Send
    + Sync
    + 'static
    + std::ops::AddAssign
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
    + PartialOrd
{
    const ZERO: Self;
    const ONE: Self;

    /// This thread's scratch buffers of this type, kept between calls (see [`with_scratch`]).
    fn scratch_pool() -> &'static std::thread::LocalKey<RefCell<Scratch<Self>>>;
}

thread_local! {
    static SCRATCH_F32: RefCell<Scratch<f32>> = const { RefCell::new(Scratch::empty()) };
    static SCRATCH_F64: RefCell<Scratch<f64>> = const { RefCell::new(Scratch::empty()) };
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn scratch_pool() -> &'static std::thread::LocalKey<RefCell<Scratch<Self>>> {
        &SCRATCH_F32
    }
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn scratch_pool() -> &'static std::thread::LocalKey<RefCell<Scratch<Self>>> {
        &SCRATCH_F64
    }
}

/// The engine's size thresholds: how wide its bands are, when a reduction is split between
/// threads, when Winograd pays. A parameter of every primitive rather than constants, so that unit
/// tests run both sets: production code always passes [`Thresholds::PRODUCTION`], and tests run it
/// on shapes large enough to cross its bands, split its reductions and take Winograd; tests also
/// run [`Thresholds::TINY`], under which small shapes take those paths, seams included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Thresholds {
    /// Patch-matrix elements per band: 2^19 (2 MiB of f32) keeps a band in L2/L3 while leaving
    /// the GEMM a wide enough right-hand side.
    pub band_elems: usize,
    /// Columns at least this wide keep a GEMM's packed weights amortised over enough outputs.
    pub min_band_cols: usize,
    /// Inner-dimension columns per task below which splitting a weight gradient's reduction
    /// between threads costs more (partials to sum, thinner products) than it gains.
    pub min_split_columns: usize,
    /// Output elements of one pointwise task (`cout ×` a block of columns): 1 MiB of f32, in L2.
    pub pointwise_out_block: usize,
    /// When and in what bands the fused path uses Winograd F(2×2, 3×3).
    pub winograd: winograd::Thresholds,
}

impl Thresholds {
    /// What the network runs with.
    pub const PRODUCTION: Self = Self {
        band_elems: 1 << 19,
        min_band_cols: 256,
        min_split_columns: 512,
        pointwise_out_block: 1 << 18,
        winograd: winograd::Thresholds::PRODUCTION,
    };

    /// Test-sized: tiny bands, so that every shape crosses bands (and images inside a band),
    /// reductions split at 4 columns, Winograd for any 3×3 stride-1 padding-1 shape.
    #[cfg(test)]
    pub const TINY: Self = Self {
        band_elems: 1 << 9,
        min_band_cols: 1,
        min_split_columns: 4,
        pointwise_out_block: 1 << 6,
        winograd: winograd::Thresholds::TINY,
    };
}

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
    pub fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
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

/// How one task's work is parallelised: either the caller runs tasks in parallel and each runs
/// serially, or there is a single task and its GEMM and patch copies use every thread.
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

    /// Serial when `tasks` run in parallel, all threads when there is only one.
    fn for_tasks(tasks: usize) -> Self {
        if tasks > 1 {
            Self::serial()
        } else {
            Self::all(rayon::current_num_threads())
        }
    }
}

/// A mutable base pointer shared by parallel tasks that write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct SharedMut<T>(*mut T);

// SAFETY: the tasks sharing the pointer write disjoint elements (each use says why).
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    fn get(self) -> *mut T {
        self.0
    }
}

/// A band of "global" output rows `[r0, r1)`: global row `r` is output row `r % out_height` of
/// image `r / out_height`, so that one band (one patch matrix, one GEMM) can span several images
/// when the images are small and the weights large.
#[derive(Clone, Copy, Debug)]
struct Band {
    r0: usize,
    r1: usize,
}

impl Band {
    /// Patch-matrix columns of the band.
    fn cols(&self, g: &Geometry) -> usize {
        (self.r1 - self.r0) * g.out_width
    }

    /// `(image, first output row)` when the band lies within one image.
    fn single_image(&self, g: &Geometry) -> Option<(usize, usize)> {
        let oh = g.out_height;
        (self.r0 / oh == (self.r1 - 1) / oh).then(|| (self.r0 / oh, self.r0 % oh))
    }

    /// `(index within the band, image, output row)` of each of its rows.
    fn rows(self, g: &Geometry) -> impl Iterator<Item = (usize, usize, usize)> {
        let oh = g.out_height;
        (self.r0..self.r1).map(move |r| (r - self.r0, r / oh, r % oh))
    }
}

/// Bands of global rows covering `batch` images: about `th.band_elems` patch elements each (so a
/// band stays in cache), but never narrower than `th.min_band_cols` columns; when there are
/// several, as many as a multiple of the thread count, so that parallel tasks get equal shares.
fn bands(g: &Geometry, batch: usize, th: &Thresholds) -> Vec<Band> {
    let total = batch * g.out_height;
    let ow = g.out_width.max(1);
    let cache_rows = th.band_elems / (g.patch_len() * ow).max(1);
    let step = cache_rows.max(th.min_band_cols.div_ceil(ow));
    even_bands(total, step)
}

/// How many bands a non-pointwise convolution of `batch` images takes under `th` on the current
/// thread pool, and whether one of them spans two images: for tests that must know the path.
#[cfg(test)]
pub(super) fn band_plan(g: &Geometry, batch: usize, th: &Thresholds) -> (usize, bool) {
    let bands = bands(g, batch, th);
    let spans = bands.iter().any(|b| b.single_image(g).is_none());
    (bands.len(), spans)
}

/// Bands of about `step` rows covering `0..total`; when there are several, as many as a multiple
/// of the thread count, so that parallel tasks get equal shares.
fn even_bands(total: usize, step: usize) -> Vec<Band> {
    let mut step = step.clamp(1, total.max(1));
    let threads = rayon::current_num_threads().max(1);
    let count = total.div_ceil(step);
    if count > 1 && count % threads != 0 {
        step = total.div_ceil(count.next_multiple_of(threads)).max(1);
    }
    (0..total)
        .step_by(step)
        .map(|r0| Band {
            r0,
            r1: (r0 + step).min(total),
        })
        .collect()
}

/// The widest band's column count.
fn max_cols(g: &Geometry, bands: &[Band]) -> usize {
    bands.iter().map(|b| b.cols(g)).max().unwrap_or(0)
}

/// Copies the patch matrix of `band` (over the images in `x`) into `cols` (`patch_len × band`).
fn im2col<T: Elem>(g: &Geometry, x: &[T], band: Band, cols: &mut [T], inner: bool) {
    let nb = band.cols(g);
    let kk = g.kernel * g.kernel;
    let (plane_len, img_len) = (g.height * g.width, g.image_len());
    let fill_channel = |c: usize, chunk: &mut [T]| {
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                let row = &mut chunk[(ky * g.kernel + kx) * nb..][..nb];
                let (lo, hi) = g.valid_columns(kx);
                for (i, n, oy) in band.rows(g) {
                    let dst = &mut row[i * g.out_width..][..g.out_width];
                    let Some(iy) = g.input_row(oy, ky) else {
                        dst.fill(T::ZERO);
                        continue;
                    };
                    let src = &x[n * img_len + c * plane_len + iy * g.width..][..g.width];
                    dst[..lo].fill(T::ZERO);
                    dst[hi..].fill(T::ZERO);
                    if lo < hi {
                        let first = lo * g.stride + kx - g.padding;
                        if g.stride == 1 {
                            dst[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
                        } else {
                            // Every stride-th element from `first`, by whole groups of `stride`
                            // and then the last one alone where its group runs past the row.
                            let (dst, span) = (&mut dst[lo..hi], &src[first..]);
                            let whole = (span.len() / g.stride).min(dst.len());
                            for (d, group) in dst.iter_mut().zip(span.chunks_exact(g.stride)) {
                                *d = group[0];
                            }
                            if let Some(d) = dst.get_mut(whole) {
                                *d = span[whole * g.stride];
                            }
                        }
                    }
                }
            }
        }
    };
    let cols = &mut cols[..g.channels * kk * nb];
    if inner {
        cols.par_chunks_mut(kk * nb)
            .enumerate()
            .for_each(|(c, chunk)| fill_channel(c, chunk));
    } else {
        cols.chunks_mut(kk * nb)
            .enumerate()
            .for_each(|(c, chunk)| fill_channel(c, chunk));
    }
}

/// Adds the patch-matrix rows of channels `c0..c1` (`cols`, `(c1 − c0)·k² × band`) back into
/// those channels of the images behind `x` (the adjoint of [`im2col`]).
///
/// # Safety
/// `x` must point to `batch` contiguous images of geometry `g` covering the band, and no other
/// thread may access channels `c0..c1` of them meanwhile.
unsafe fn col2im<T: Elem>(
    g: &Geometry,
    cols: &[T],
    band: Band,
    x: SharedMut<T>,
    (c0, c1): (usize, usize),
) {
    let nb = band.cols(g);
    let kk = g.kernel * g.kernel;
    let (plane_len, img_len) = (g.height * g.width, g.image_len());
    for c in c0..c1 {
        let chunk = &cols[(c - c0) * kk * nb..][..kk * nb];
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                let row = &chunk[(ky * g.kernel + kx) * nb..][..nb];
                let (lo, hi) = g.valid_columns(kx);
                if lo >= hi {
                    continue;
                }
                for (i, n, oy) in band.rows(g) {
                    let Some(iy) = g.input_row(oy, ky) else {
                        continue;
                    };
                    let src = &row[i * g.out_width..][lo..hi];
                    // SAFETY: one row of channel c of image n, inside x, owned by this caller.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            x.get().add(n * img_len + c * plane_len + iy * g.width),
                            g.width,
                        )
                    };
                    let first = lo * g.stride + kx - g.padding;
                    if g.stride == 1 {
                        for (d, s) in dst[first..first + hi - lo].iter_mut().zip(src) {
                            *d += *s;
                        }
                    } else {
                        // Every stride-th element from `first`: whole groups of `stride`, then
                        // the last element alone where its group runs past the row.
                        let span = &mut dst[first..];
                        let whole = (span.len() / g.stride).min(src.len());
                        for (group, s) in span.chunks_exact_mut(g.stride).zip(&src[..whole]) {
                            group[0] += *s;
                        }
                        if let Some(s) = src.get(whole) {
                            span[whole * g.stride] += *s;
                        }
                    }
                }
            }
        }
    }
}

/// Copies the band's columns of a `(batch, rows, out_len)` tensor into `dst` (`rows × band`).
fn gather<T: Elem>(g: &Geometry, src: &[T], rows: usize, band: Band, dst: &mut [T]) {
    let (ow, ol, nb) = (g.out_width, g.out_len(), band.cols(g));
    for o in 0..rows {
        for (i, n, oy) in band.rows(g) {
            dst[o * nb + i * ow..][..ow]
                .copy_from_slice(&src[(n * rows + o) * ol + oy * ow..][..ow]);
        }
    }
}

/// Copies `src` (`rows × band`) into the band's columns of the `(batch, rows, out_len)` tensor
/// behind `dst` (the inverse of [`gather`]).
///
/// # Safety
/// `dst` must cover the band's images and no other thread may touch the band's columns.
unsafe fn scatter<T: Elem>(g: &Geometry, src: &[T], rows: usize, band: Band, dst: SharedMut<T>) {
    let (ow, ol, nb) = (g.out_width, g.out_len(), band.cols(g));
    for o in 0..rows {
        for (i, n, oy) in band.rows(g) {
            // SAFETY: one output row of the band, inside dst, owned by this caller.
            let d = unsafe {
                std::slice::from_raw_parts_mut(dst.get().add((n * rows + o) * ol + oy * ow), ow)
            };
            d.copy_from_slice(&src[o * nb + i * ow..][..ow]);
        }
    }
}

/// The band's columns of a `(batch, rows, out_len)` tensor as a GEMM operand: read in place
/// (rows `out_len` apart) when the band lies in one image, else gathered into `scratch`.
fn band_operand<T: Elem>(
    g: &Geometry,
    src: &[T],
    rows: usize,
    band: Band,
    scratch: &mut Vec<T>,
) -> Mat<T> {
    if let Some((n, oy0)) = band.single_image(g) {
        let offset = n * rows * g.out_len() + oy0 * g.out_width;
        return Mat::rows(src[offset..].as_ptr(), g.out_len());
    }
    let nb = band.cols(g);
    scratch.resize(rows * nb, T::ZERO);
    gather(g, src, rows, band, scratch);
    Mat::rows(scratch.as_ptr(), nb)
}

/// `out(band) = w (cout × patch) · cols (patch × band)`, written straight into `out` when the
/// band lies in one image, else through `tmp`.
///
/// # Safety
/// `out` must cover `batch` images of `cout × out_len` and no other thread may touch the band's
/// columns; `cols` must hold `patch × band`.
#[allow(clippy::too_many_arguments)]
unsafe fn product_into_band<T: Elem>(
    g: &Geometry,
    w: &[T],
    cols: &[T],
    cout: usize,
    band: Band,
    out: SharedMut<T>,
    tmp: &mut Vec<T>,
    t: Threads,
) {
    let (patch, nb, ol) = (g.patch_len(), band.cols(g), g.out_len());
    let lhs = Mat::rows(w.as_ptr(), patch);
    let rhs = Mat::rows(cols.as_ptr(), nb);
    match band.single_image(g) {
        // SAFETY (both arms): the destinations are cout × band blocks inside out or tmp.
        Some((n, oy0)) => unsafe {
            let dst = out.get().add(n * cout * ol + oy0 * g.out_width);
            matmul(cout, nb, patch, dst, ol, false, lhs, rhs, t.gemm);
        },
        None => unsafe {
            tmp.resize(cout * nb, T::ZERO);
            matmul(
                cout,
                nb,
                patch,
                tmp.as_mut_ptr(),
                nb,
                false,
                lhs,
                rhs,
                t.gemm,
            );
            scatter(g, tmp, cout, band, out);
        },
    }
}

/// Applies `ep` to the band's columns of the `(batch, cout, out_len)` output behind `out`, right
/// after the band's product has been written (so they are still in cache).
///
/// # Safety
/// As for [`product_into_band`]: `out` covers the band's images and no other thread touches the
/// band's columns.
unsafe fn epilogue_on_band<T: Elem>(
    g: &Geometry,
    ep: &Epilogue<'_, T>,
    cout: usize,
    band: Band,
    out: SharedMut<T>,
) {
    let (ow, ol) = (g.out_width, g.out_len());
    // SAFETY: each span is one run of output elements of the band, inside out.
    let span = |offset: usize, len: usize| unsafe {
        std::slice::from_raw_parts_mut(out.get().add(offset), len)
    };
    match band.single_image(g) {
        Some((n, oy0)) => {
            for o in 0..cout {
                let offset = (n * cout + o) * ol + oy0 * ow;
                ep.apply(o, span(offset, band.cols(g)), offset);
            }
        }
        None => {
            for o in 0..cout {
                for (_, n, oy) in band.rows(g) {
                    let offset = (n * cout + o) * ol + oy * ow;
                    ep.apply(o, span(offset, ow), offset);
                }
            }
        }
    }
}

/// The pointwise case of every primitive: the images are their own patch matrices.
mod pointwise {
    use super::*;

    /// `out[n] = w · x[n]`, then `ep` on each image's output while it is still in cache.
    pub(super) fn forward<T: Elem>(
        g: &Geometry,
        x: &[T],
        w: &[T],
        cout: usize,
        out: &mut [T],
        ep: Option<&Epilogue<'_, T>>,
        th: &Thresholds,
    ) {
        forward_parts(g, &[(x, g.channels)], w, cout, out, ep, th)
    }

    /// Output columns per task: a `cout`-row block of them fits in L2 so that the epilogue finds
    /// it there, at least `th.min_band_cols` wide, at most the image.
    pub(super) fn block(cout: usize, out_len: usize, th: &Thresholds) -> usize {
        (th.pointwise_out_block / cout.max(1))
            .max(th.min_band_cols)
            .clamp(1, out_len.max(1))
    }

    /// Tasks among which [`backward_weight`] splits a reduction over `columns` output positions.
    pub(super) fn weight_tasks(columns: usize, th: &Thresholds) -> usize {
        rayon::current_num_threads()
            .min(columns / th.min_split_columns)
            .max(1)
    }

    /// [`forward`] of the channel-wise concatenation of `parts` (each `(images, channels)`),
    /// without building it: one product per part, all adding into the same output.
    pub(crate) fn forward_parts<T: Elem>(
        g: &Geometry,
        parts: &[(&[T], usize)],
        w: &[T],
        cout: usize,
        out: &mut [T],
        ep: Option<&Epilogue<'_, T>>,
        th: &Thresholds,
    ) {
        let (c, ol) = (g.channels, g.out_len());
        debug_assert_eq!(parts.iter().map(|p| p.1).sum::<usize>(), c);
        let batch = out.len() / (cout * ol).max(1);
        let block = block(cout, ol, th);
        let per_image = ol.div_ceil(block);
        let tasks = batch * per_image;
        let t = Threads::for_tasks(tasks);
        let dst = SharedMut(out.as_mut_ptr());
        (0..tasks).into_par_iter().for_each(|task| {
            let (n, p0) = (task / per_image, task % per_image * block);
            let cols = block.min(ol - p0);
            let offset = n * cout * ol + p0;
            let mut first_channel = 0;
            for &(x, channels) in parts {
                // SAFETY: w's columns first_channel.. form a cout×channels block (rows c apart);
                // x's columns p0.. of image n a channels×cols block and out's a cout×cols block
                // (rows ol apart), out's written by this task only.
                unsafe {
                    let lhs = Mat::rows(w.as_ptr().add(first_channel), c);
                    let rhs = Mat::rows(x.as_ptr().add(n * channels * ol + p0), ol);
                    let (o, acc) = (dst.get().add(offset), first_channel > 0);
                    matmul(cout, cols, channels, o, ol, acc, lhs, rhs, t.gemm)
                };
                first_channel += channels;
            }
            if let Some(ep) = ep {
                for ch in 0..cout {
                    let at = offset + ch * ol;
                    // SAFETY: this task's columns of output row ch, as above.
                    let span = unsafe { std::slice::from_raw_parts_mut(dst.get().add(at), cols) };
                    ep.apply(ch, span, at);
                }
            }
        });
    }

    /// `dx[n] = wᵀ · grad[n]`.
    pub(super) fn backward_data<T: Elem>(
        g: &Geometry,
        grad: &[T],
        w: &[T],
        cout: usize,
        dx: &mut [T],
    ) {
        let (c, ol) = (g.channels, g.out_len());
        let t = Threads::all(rayon::current_num_threads());
        for (d, gi) in dx.chunks_mut(c * ol).zip(grad.chunks(cout * ol)) {
            // SAFETY: wᵀ is c×cout, gi is cout×ol, d is c×ol.
            unsafe {
                let (lhs, rhs) = (Mat::transposed(w.as_ptr(), c), Mat::rows(gi.as_ptr(), ol));
                matmul(c, ol, cout, d.as_mut_ptr(), ol, false, lhs, rhs, t.gemm)
            };
        }
    }

    /// `dw = Σₙ grad[n] · x[n]ᵀ`. The products' inner dimension, every image's output positions,
    /// is split evenly between the threads, each summing a partial gradient with serial GEMMs:
    /// one parallel GEMM cannot split its reduction, and a small gradient (few channels, large
    /// images) leaves it too few output tiles to keep the threads busy.
    pub(super) fn backward_weight<T: Elem>(
        g: &Geometry,
        x: &[T],
        grad: &[T],
        cout: usize,
        dw: &mut [T],
        th: &Thresholds,
    ) {
        let (c, ol) = (g.channels, g.out_len());
        let total = x.len() / c.max(1);
        let tasks = weight_tasks(total, th);
        if tasks > 1 {
            let per_task = total.div_ceil(tasks);
            let partials: Vec<Vec<T>> = (0..tasks)
                .into_par_iter()
                .map(|task| {
                    let (j0, j1) = (task * per_task, ((task + 1) * per_task).min(total));
                    let mut part = vec![T::ZERO; cout * c];
                    let mut j = j0;
                    while j < j1 {
                        let (n, p0) = (j / ol, j % ol);
                        let len = (ol - p0).min(j1 - j);
                        // SAFETY: columns p0..p0+len of image n: grad's cout×len block and x's
                        // c×len block (rows ol apart), transposed; part is cout×c.
                        unsafe {
                            let lhs = Mat::rows(grad.as_ptr().add(n * cout * ol + p0), ol);
                            let rhs = Mat::transposed(x.as_ptr().add(n * c * ol + p0), ol);
                            let (dst, acc) = (part.as_mut_ptr(), j > j0);
                            matmul(cout, c, len, dst, c, acc, lhs, rhs, Parallelism::None)
                        };
                        j += len;
                    }
                    part
                })
                .collect();
            return sum_partials(dw, &partials);
        }
        let t = Threads::all(rayon::current_num_threads());
        dw.fill(T::ZERO);
        for (xi, gi) in x.chunks(c * ol).zip(grad.chunks(cout * ol)) {
            // SAFETY: gi is cout×ol, xiᵀ is ol×c, dw is cout×c.
            unsafe {
                let (lhs, rhs) = (Mat::rows(gi.as_ptr(), ol), Mat::transposed(xi.as_ptr(), ol));
                matmul(cout, c, ol, dw.as_mut_ptr(), c, true, lhs, rhs, t.gemm)
            };
        }
    }
}

/// For a pointwise convolution of `batch` images with `cout` outputs under `th` on the current
/// thread pool: the column blocks per image of its forward pass and the tasks its weight
/// gradient's reduction is split between. For tests that must know the path.
#[cfg(test)]
pub(super) fn pointwise_plan(
    g: &Geometry,
    cout: usize,
    batch: usize,
    th: &Thresholds,
) -> (usize, usize) {
    let ol = g.out_len();
    let blocks = ol.div_ceil(pointwise::block(cout, ol, th));
    (blocks, pointwise::weight_tasks(batch * ol, th))
}

/// Per-task scratch: one band's patch matrix (`cols`, at least as long as asked for) and one
/// gathered operand or product.
pub(crate) struct Scratch<T> {
    cols: Vec<T>,
    tmp: Vec<T>,
}

impl<T: Elem> Scratch<T> {
    const fn empty() -> Self {
        Self {
            cols: Vec::new(),
            tmp: Vec::new(),
        }
    }

    fn with_cols(mut self, cols: usize) -> Self {
        if self.cols.len() < cols {
            self.cols.resize(cols, T::ZERO);
        }
        self
    }
}

/// Runs `f` with this thread's scratch, `cols` long at least. Reusing it saves a fresh, zeroed
/// allocation of a few MiB per task and convolution. A task that finds it in use (a GEMM's
/// parallel section may run another task on the same thread) gets a fresh one.
fn with_scratch<T: Elem, R>(cols: usize, f: impl FnOnce(&mut Scratch<T>) -> R) -> R {
    T::scratch_pool().with(|pool| match pool.try_borrow_mut() {
        Ok(mut s) => {
            let mut taken = std::mem::replace(&mut *s, Scratch::empty()).with_cols(cols);
            let r = f(&mut taken);
            *s = taken;
            r
        }
        Err(_) => f(&mut Scratch::empty().with_cols(cols)),
    })
}

/// Convolution forward over a batch: `out[n] (cout × out_len) = w (cout × patch) · im2col(x[n])`,
/// then `ep` (if any) on each band of the output as soon as it is written.
///
/// Bands (of one or several images) are the parallel tasks, each with its own patch matrix and
/// a serial GEMM; a single band runs its GEMM and copies on every thread instead.
pub(crate) fn forward<T: Elem>(
    g: &Geometry,
    x: &[T],
    w: &[T],
    cout: usize,
    out: &mut [T],
    ep: Option<&Epilogue<'_, T>>,
    th: &Thresholds,
) {
    if g.is_pointwise() {
        return pointwise::forward(g, x, w, cout, out, ep, th);
    }
    let batch = x.len() / g.image_len().max(1);
    let bands = bands(g, batch, th);
    let t = Threads::for_tasks(bands.len());
    let cols_len = g.patch_len() * max_cols(g, &bands);
    let dst = SharedMut(out.as_mut_ptr());
    bands.par_iter().for_each(|&band| {
        with_scratch(cols_len, |s| {
            im2col(g, x, band, &mut s.cols, t.inner);
            // SAFETY: bands are disjoint, so each task writes its own columns of out.
            unsafe { product_into_band(g, w, &s.cols, cout, band, dst, &mut s.tmp, t) };
            if let Some(ep) = ep {
                // SAFETY: as above, the band's own columns.
                unsafe { epilogue_on_band(g, ep, cout, band, dst) };
            }
        })
    });
}

pub(crate) use pointwise::forward_parts as pointwise_forward_parts;

/// Gradient of [`forward`] with respect to its input: `dx[n] = col2im(wᵀ · grad[n])`, then `ep` (if
/// any, for a transposed convolution's forward pass) on each group of channels once it is complete.
/// `dx` is zeroed first, in parallel: a large fresh buffer is mapped page by page on first touch,
/// which costs far less in one sequential pass than inside the col2im's scattered adds.
///
/// Groups of image channels are the parallel tasks: each computes its rows of `wᵀ · grad` band
/// by band and adds them into its own channels, so no two tasks write the same element.
pub(crate) fn backward_data<T: Elem>(
    g: &Geometry,
    grad: &[T],
    w: &[T],
    cout: usize,
    dx: &mut [T],
    ep: Option<&Epilogue<'_, T>>,
    th: &Thresholds,
) {
    if g.is_pointwise() {
        pointwise::backward_data(g, grad, w, cout, dx);
        if let Some(ep) = ep {
            ep.apply_all(dx, g.channels, g.height * g.width);
        }
        return;
    }
    let batch = dx.len() / g.image_len().max(1);
    dx.par_chunks_mut(g.image_len().max(1))
        .for_each(|d| d.fill(T::ZERO));
    let bands = bands(g, batch, th);
    let (kk, patch) = (g.kernel * g.kernel, g.patch_len());
    let groups = rayon::current_num_threads().min(g.channels).max(1);
    let per_group = g.channels.div_ceil(groups);
    let t = Threads::for_tasks(groups);
    let dst = SharedMut(dx.as_mut_ptr());
    (0..groups).into_par_iter().for_each(|gi| {
        let (c0, c1) = (gi * per_group, ((gi + 1) * per_group).min(g.channels));
        if c0 >= c1 {
            return;
        }
        let rows = (c1 - c0) * kk;
        with_scratch(rows * max_cols(g, &bands), |s| {
            for &band in &bands {
                let nb = band.cols(g);
                let rhs = band_operand(g, grad, cout, band, &mut s.tmp);
                // SAFETY: wᵀ rows c0·k².. are rows×cout (columns `patch` apart); rhs is
                // cout×band; cols has room for rows×band.
                unsafe {
                    let lhs = Mat::transposed(w.as_ptr().add(c0 * kk), patch);
                    let cols = s.cols.as_mut_ptr();
                    matmul(rows, nb, cout, cols, nb, false, lhs, rhs, t.gemm);
                    col2im(g, &s.cols, band, dst, (c0, c1));
                }
            }
        });
        if let Some(ep) = ep {
            let plane = g.height * g.width;
            for n in 0..batch {
                for c in c0..c1 {
                    let offset = (n * g.channels + c) * plane;
                    // SAFETY: channel c of image n belongs to this task's group.
                    let span =
                        unsafe { std::slice::from_raw_parts_mut(dst.get().add(offset), plane) };
                    ep.apply(c, span, offset);
                }
            }
        }
    });
}

/// Splits `bands` into at most one contiguous run per thread.
fn band_runs(bands: &[Band]) -> Vec<&[Band]> {
    let runs = rayon::current_num_threads().min(bands.len()).max(1);
    bands.chunks(bands.len().div_ceil(runs).max(1)).collect()
}

/// Sums per-task partial weight gradients into `dw`, in parallel over chunks of it.
fn sum_partials<T: Elem>(dw: &mut [T], partials: &[Vec<T>]) {
    const CHUNK: usize = 1 << 14;
    dw.par_chunks_mut(CHUNK).enumerate().for_each(|(i, d)| {
        d.fill(T::ZERO);
        for part in partials {
            for (d, p) in d.iter_mut().zip(&part[i * CHUNK..]) {
                *d += *p;
            }
        }
    });
}

/// Gradient of [`forward`] with respect to its weight: `dw = Σₙ grad[n] · im2col(x[n])ᵀ`.
///
/// Runs of consecutive bands are the parallel tasks, each summing its own partial gradient.
pub(crate) fn backward_weight<T: Elem>(
    g: &Geometry,
    x: &[T],
    grad: &[T],
    cout: usize,
    dw: &mut [T],
    th: &Thresholds,
) {
    if g.is_pointwise() {
        return pointwise::backward_weight(g, x, grad, cout, dw, th);
    }
    let batch = x.len() / g.image_len().max(1);
    if batch == 0 {
        dw.fill(T::ZERO);
        return;
    }
    forward_and_weight(g, x, &[], grad, cout, (None, Some(dw)), th);
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
    (out, dw): (Option<&mut [T]>, Option<&mut [T]>),
    th: &Thresholds,
) {
    if g.is_pointwise() {
        if let Some(out) = out {
            pointwise::forward(g, img, w, cout, out, None, th);
        }
        if let Some(dw) = dw {
            pointwise::backward_weight(g, img, other, cout, dw, th);
        }
        return;
    }
    let patch = g.patch_len();
    let batch = img.len() / g.image_len().max(1);
    let bands = bands(g, batch, th);
    let runs = band_runs(&bands);
    let t = Threads::for_tasks(runs.len());
    let cols_len = patch * max_cols(g, &bands);
    let dst = out.map(|o| SharedMut(o.as_mut_ptr()));
    let want_dw = dw.is_some();
    let partials: Vec<Vec<T>> = runs
        .par_iter()
        .map(|run| {
            with_scratch(cols_len, |s| {
                let mut part = if want_dw {
                    vec![T::ZERO; cout * patch]
                } else {
                    Vec::new()
                };
                for (i, &band) in run.iter().enumerate() {
                    im2col(g, img, band, &mut s.cols, t.inner);
                    if let Some(dst) = dst {
                        // SAFETY: bands are disjoint, so each task writes its own columns of out.
                        unsafe { product_into_band(g, w, &s.cols, cout, band, dst, &mut s.tmp, t) };
                    }
                    if want_dw {
                        let nb = band.cols(g);
                        let lhs = band_operand(g, other, cout, band, &mut s.tmp);
                        // SAFETY: lhs is cout×band; colsᵀ is band×patch; part is cout×patch.
                        unsafe {
                            let rhs = Mat::transposed(s.cols.as_ptr(), nb);
                            let acc = i > 0;
                            matmul(
                                cout,
                                patch,
                                nb,
                                part.as_mut_ptr(),
                                patch,
                                acc,
                                lhs,
                                rhs,
                                t.gemm,
                            );
                        }
                    }
                }
                part
            })
        })
        .collect();
    if let Some(dw) = dw {
        sum_partials(dw, &partials);
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
            forward(&g, &x, &wt, cout, &mut out, None, &Thresholds::TINY);
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
