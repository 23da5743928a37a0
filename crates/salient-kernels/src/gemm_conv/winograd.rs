//! 3×3, stride-1, padding-1 convolutions by Winograd's minimal filtering F(2×2, 3×3): each 2×2
//! block of output ("tile") comes from a 4×4 input patch `d` as `Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A`,
//! so the sums over input channels become 16 GEMMs (one per point of the 4×4 transform domain)
//! with 2.25 times fewer multiply-adds than the direct convolution, for three linear transforms
//! (of the weights, the input patches and the output tiles) that are cheap when vectorised across
//! tiles, as here.
//!
//! F(2, 3)'s transforms hold only 0, ±1 and ±½, so its rounding stays within a few ulps of the
//! direct sum's (tested against the im2col engine on odd sizes, f32 and f64). Used only for
//! forward passes without gradients (inference, a frozen prefix) where [`applies`] holds.

use super::*;

/// When Winograd is used and how its bands are cut (part of the engine's [`super::Thresholds`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Thresholds {
    /// Tiles (over the whole batch) below which the weight transform (16·cout·cin values per
    /// call) and thin GEMMs cost more than the multiplications they save (measured at 256² input:
    /// layer4 at batch 4 and layer3 at batch 1, 64 tiles each, lose 10–20%; 256 tiles and more
    /// gain).
    pub min_tiles: usize,
    /// Channels (in and out) below which the 16 GEMMs get too thin to beat one im2col GEMM with
    /// nine times their inner dimension (measured: the network's 64-, 128- and 256-channel
    /// layers gain).
    pub min_channels: usize,
    /// Transform-domain elements (16 · channels · tiles) per band: a band's transformed input
    /// and products stay in cache.
    pub band_elems: usize,
    /// Tiles a band is at least wide where the batch has them (whole tile rows), so that its 16
    /// GEMMs stay wide.
    pub min_band_tiles: usize,
}

impl Thresholds {
    pub const PRODUCTION: Self = Self {
        min_tiles: 256,
        min_channels: 64,
        band_elems: 1 << 20,
        min_band_tiles: 256,
    };

    /// Any channel count and size, tiny bands: every shape crosses bands.
    #[cfg(test)]
    pub const TINY: Self = Self {
        min_tiles: 1,
        min_channels: 1,
        band_elems: 1 << 8,
        min_band_tiles: 1,
    };
}

/// Whether [`forward`] handles this convolution with `cout` outputs over `batch` images.
pub(crate) fn applies(g: &Geometry, cout: usize, batch: usize, th: &Thresholds) -> bool {
    g.kernel == 3
        && g.stride == 1
        && g.padding == 1
        && g.channels >= th.min_channels
        && cout >= th.min_channels
        && batch * g.height.div_ceil(2) * g.width.div_ceil(2) >= th.min_tiles
}

/// The grid of 2×2 output tiles of `g` as the engine's bands see it: `out_height × out_width`
/// tile rows and columns per image, so that a [`Band`] is a band of tile rows (possibly across
/// images).
fn tile_grid(g: &Geometry) -> Geometry {
    Geometry {
        out_height: g.height.div_ceil(2),
        out_width: g.width.div_ceil(2),
        ..*g
    }
}

/// Bands of tile rows over `batch` images: about `th.band_elems` of transformed input (or
/// products) each, at least `th.min_band_tiles` tiles wide where the batch has them, a multiple
/// of the thread count in number.
fn tile_bands(g: &Geometry, cout: usize, batch: usize, th: &Thresholds) -> Vec<Band> {
    let grid = tile_grid(g);
    let per_row = 16 * g.channels.max(cout) * grid.out_width;
    let min_rows = th.min_band_tiles.div_ceil(grid.out_width.max(1));
    let step = (th.band_elems / per_row.max(1)).max(min_rows);
    even_bands(batch * grid.out_height, step)
}

/// How many bands of tile rows [`forward`] takes under `th` on the current thread pool, and
/// whether one spans two images: for tests that must know the path.
#[cfg(test)]
pub(crate) fn band_plan(g: &Geometry, cout: usize, batch: usize, th: &Thresholds) -> (usize, bool) {
    let bands = tile_bands(g, cout, batch, th);
    let grid = tile_grid(g);
    let spans = bands.iter().any(|b| b.single_image(&grid).is_none());
    (bands.len(), spans)
}

/// `G g Gᵀ` of one row-major 3×3 kernel, row-major 4×4.
fn kernel_transform<T: Elem>(g: &[T]) -> [T; 16] {
    let half = T::ONE / (T::ONE + T::ONE);
    let mut gg = [[T::ZERO; 3]; 4];
    for j in 0..3 {
        let (a, b, d) = (g[j], g[3 + j], g[6 + j]);
        gg[0][j] = a;
        gg[1][j] = (a + b + d) * half;
        gg[2][j] = (a - b + d) * half;
        gg[3][j] = d;
    }
    let mut out = [T::ZERO; 16];
    for (i, r) in gg.iter().enumerate() {
        out[i * 4] = r[0];
        out[i * 4 + 1] = (r[0] + r[1] + r[2]) * half;
        out[i * 4 + 2] = (r[0] - r[1] + r[2]) * half;
        out[i * 4 + 3] = r[2];
    }
    out
}

/// Every kernel's transform as 16 matrices `cout × cin` (one per transform point), in one buffer.
fn weight_transform<T: Elem>(w: &[T], cout: usize, cin: usize) -> Vec<T> {
    let plane = cout * cin;
    let mut u = vec![T::ZERO; 16 * plane];
    let dst = SharedMut(u.as_mut_ptr());
    (0..cout).into_par_iter().for_each(|k| {
        for c in 0..cin {
            let t = kernel_transform(&w[(k * cin + c) * 9..][..9]);
            for (xi, v) in t.into_iter().enumerate() {
                // SAFETY: element (k, c) of matrix xi, written by the task of row k only.
                unsafe { *dst.get().add(xi * plane + k * cin + c) = v };
            }
        }
    });
    u
}

/// The shapes of one call: channels, image size and its tiles.
#[derive(Clone, Copy)]
struct Tiling {
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    tile_cols: usize,
    /// The grid of tiles ([`tile_grid`]).
    grid: Geometry,
}

/// Runs `f(i)` for `i` in `0..count`, in parallel when `inner`.
fn for_each_index(count: usize, inner: bool, f: impl Fn(usize) + Send + Sync) {
    if inner {
        (0..count).into_par_iter().for_each(f);
    } else {
        (0..count).for_each(f);
    }
}

/// `Bᵀ d B` of every input patch of the band, for every channel, into `v`: 16 matrices
/// `cin × tiles`. Per channel and tile row: the vertical transform of four zero-padded input rows
/// element-wise, then the horizontal one for all tiles at once, one transform point at a time.
fn input_transform<T: Elem>(tl: Tiling, x: &[T], band: Band, v: &mut [T], inner: bool) {
    let nt = band.cols(&tl.grid);
    let (h, w, tc) = (tl.h, tl.w, tl.tile_cols);
    // A padded row: one zero on the left, zeros on the right up to the last tile's 4 columns.
    let padded = 2 * tc + 2;
    let dst = SharedMut(v.as_mut_ptr());
    for_each_index(tl.cin, inner, |c| {
        let mut rows = vec![T::ZERO; 4 * padded];
        let mut bd = vec![T::ZERO; 4 * padded];
        for (i, n, ty) in band.rows(&tl.grid) {
            let first = i * tc;
            let plane = &x[(n * tl.cin + c) * h * w..][..h * w];
            for (i, row) in rows.chunks_exact_mut(padded).enumerate() {
                row.fill(T::ZERO);
                if let Some(iy) = (2 * ty + i).checked_sub(1).filter(|&y| y < h) {
                    row[1..1 + w].copy_from_slice(&plane[iy * w..][..w]);
                }
            }
            let (d0, rest) = rows.split_at(padded);
            let (d1, rest) = rest.split_at(padded);
            let (d2, d3) = rest.split_at(padded);
            // Bᵀ d, column by column: r0 = d0 − d2, r1 = d1 + d2, r2 = d2 − d1, r3 = d1 − d3.
            for (e, out) in bd.chunks_exact_mut(padded).enumerate() {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = match e {
                        0 => d0[j] - d2[j],
                        1 => d1[j] + d2[j],
                        2 => d2[j] - d1[j],
                        _ => d1[j] - d3[j],
                    };
                }
            }
            // (Bᵀ d) B, row by row and tile by tile.
            for (i, r) in bd.chunks_exact(padded).enumerate() {
                for j in 0..4 {
                    // SAFETY: row (c) of matrix (i, j), tiles first.. first + tc: this channel's.
                    let out = unsafe {
                        std::slice::from_raw_parts_mut(
                            dst.get().add(((i * 4 + j) * tl.cin + c) * nt + first),
                            tc,
                        )
                    };
                    let pairs = r.chunks_exact(2).zip(r[2..].chunks_exact(2));
                    for (o, (a, b)) in out.iter_mut().zip(pairs) {
                        // a = r[2tx], r[2tx + 1]; b = r[2tx + 2], r[2tx + 3].
                        *o = match j {
                            0 => a[0] - b[0],
                            1 => a[1] + b[0],
                            2 => b[0] - a[1],
                            _ => a[1] - b[1],
                        };
                    }
                }
            }
        }
    });
}

/// `Aᵀ m A` of every tile of the band and output channel, from `m` (16 matrices `cout × tiles`),
/// into the band's rows of `out`; then `ep` on those rows while in cache.
///
/// # Safety
/// `out` must hold `batch` images of `cout × h × w`, and no other thread may touch the band's rows.
unsafe fn output_transform<T: Elem>(
    tl: Tiling,
    m: &[T],
    band: Band,
    out: SharedMut<T>,
    ep: Option<&Epilogue<'_, T>>,
    inner: bool,
) {
    let nt = band.cols(&tl.grid);
    let (h, w, tc) = (tl.h, tl.w, tl.tile_cols);
    let plane = tl.cout * nt;
    for_each_index(tl.cout, inner, |k| {
        // Aᵀ m per tile, vectorised across tiles: two rows of four columns, each tc long.
        let mut am = vec![T::ZERO; 8 * tc];
        // Two output rows of 2·tc columns (the last may hang over an odd width).
        let mut y = vec![T::ZERO; 4 * tc];
        for (i, n, ty) in band.rows(&tl.grid) {
            let first = i * tc;
            let mt = |i: usize, j: usize| &m[(i * 4 + j) * plane + k * nt + first..][..tc];
            for j in 0..4 {
                let (m0, m1, m2, m3) = (mt(0, j), mt(1, j), mt(2, j), mt(3, j));
                let (top, bottom) = am.split_at_mut(4 * tc);
                let (top, bottom) = (&mut top[j * tc..][..tc], &mut bottom[j * tc..][..tc]);
                for t in 0..tc {
                    top[t] = m0[t] + m1[t] + m2[t];
                    bottom[t] = m1[t] - m2[t] - m3[t];
                }
            }
            for (row, a) in y.chunks_exact_mut(2 * tc).zip(am.chunks_exact(4 * tc)) {
                let (a0, a1, a2, a3) = (&a[..tc], &a[tc..2 * tc], &a[2 * tc..3 * tc], &a[3 * tc..]);
                for (t, pair) in row.chunks_exact_mut(2).enumerate() {
                    pair[0] = a0[t] + a1[t] + a2[t];
                    pair[1] = a1[t] - a2[t] - a3[t];
                }
            }
            let y0 = 2 * ty;
            let rows = (h - y0).min(2);
            let offset = ((n * tl.cout + k) * h + y0) * w;
            // SAFETY: output rows y0 .. y0 + rows of channel k of image n: the band's own.
            let span = unsafe { std::slice::from_raw_parts_mut(out.get().add(offset), rows * w) };
            for (dst, src) in span.chunks_exact_mut(w).zip(y.chunks_exact(2 * tc)) {
                dst.copy_from_slice(&src[..w]);
            }
            if let Some(ep) = ep {
                ep.apply(k, span, offset);
            }
        }
    });
}

/// The convolution of `x` (`batch × cin × h × w`) with `w` (`cout × cin × 3 × 3`), stride 1 and
/// padding 1, into `out` (`batch × cout × h × w`), then `ep` on each band of output rows while in
/// cache. Only where [`applies`] holds (under the same `th`).
pub(crate) fn forward<T: Elem>(
    g: &Geometry,
    x: &[T],
    w: &[T],
    cout: usize,
    out: &mut [T],
    ep: Option<&Epilogue<'_, T>>,
    th: &Thresholds,
) {
    let grid = tile_grid(g);
    let tl = Tiling {
        cin: g.channels,
        cout,
        h: g.height,
        w: g.width,
        tile_cols: grid.out_width,
        grid,
    };
    let batch = x.len() / g.image_len().max(1);
    if batch * grid.out_height == 0 || tl.tile_cols == 0 {
        return;
    }
    let u = weight_transform(w, cout, tl.cin);
    let bands = tile_bands(g, cout, batch, th);
    let t = Threads::for_tasks(bands.len());
    let max_tiles = max_cols(&tl.grid, &bands);
    let dst = SharedMut(out.as_mut_ptr());
    bands.par_iter().for_each(|&band| {
        with_scratch(16 * tl.cin * max_tiles, |s| {
            let nt = band.cols(&tl.grid);
            input_transform(tl, x, band, &mut s.cols, t.inner);
            s.tmp.resize(16 * cout * max_tiles, T::ZERO);
            for xi in 0..16 {
                // SAFETY: u's matrix xi is cout×cin, cols' is cin×nt, tmp's cout×nt.
                unsafe {
                    let lhs = Mat::rows(u.as_ptr().add(xi * cout * tl.cin), tl.cin);
                    let rhs = Mat::rows(s.cols.as_ptr().add(xi * tl.cin * nt), nt);
                    let m = s.tmp.as_mut_ptr().add(xi * cout * nt);
                    matmul(cout, nt, tl.cin, m, nt, false, lhs, rhs, t.gemm);
                }
            }
            // SAFETY: bands are disjoint tile rows, hence disjoint output rows.
            unsafe { output_transform(tl, &s.tmp, band, dst, ep, t.inner) };
        })
    });
}
