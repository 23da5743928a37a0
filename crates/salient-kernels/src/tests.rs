//! The custom kernels against candle's reference ops (convolutions) or a brute-force definition
//! (max pooling), values and gradients, on deterministic pseudo-random data with odd sizes.
//!
//! The convolution engine runs under both of its threshold sets: [`Thresholds::TINY`] makes small
//! shapes cross bands, split reductions and take Winograd; [`Thresholds::PRODUCTION`], what the
//! network runs, is tested on shapes large enough for the same paths (the `production_*` tests,
//! which assert the path each shape takes). Every comparison fails on NaN, and proves it on the
//! output it compared (see [`assert_close`]).

use super::gemm_conv::{self, winograd, Geometry};
use super::*;
use candle_core::{Device, Var};
use salient_test_support::{assert_close_and_nan_fails, Tolerance};

/// Both threshold sets of the engine, named for messages.
const THRESHOLDS: [(&str, Thresholds); 2] = [
    ("tiny", Thresholds::TINY),
    ("production", Thresholds::PRODUCTION),
];

/// Deterministic values in [-1, 1) from a sine hash of the index and a salt.
fn values(len: usize, salt: f64) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let v = ((i as f64 + 1.0) * 12.9898 + salt * 78.233).sin() * 43758.5453;
            2.0 * (v - v.floor()) - 1.0
        })
        .collect()
}

fn tensor(dims: &[usize], salt: f64, dtype: DType) -> Tensor {
    let len = dims.iter().product();
    Tensor::from_vec(values(len, salt), dims, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("test tensor")
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("flatten")
}

/// Asserts `|a − b| ≤ tol · (1 + |b|)` elementwise for two tensors of one shape (NaN fails), then
/// that the same comparison refuses `a` with a NaN in place of one element: no compared output
/// can pass by going NaN.
#[track_caller]
fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    assert_close_and_nan_fails(what, &flat(a), &flat(b), Tolerance::Rel(tol));
}

/// Candle's own convolution of `spec.kind`, the reference.
fn candle_convolution(x: &Tensor, w: &Tensor, spec: ConvSpec) -> Result<Tensor> {
    match spec.kind {
        ConvKind::Conv => x.conv2d(w, spec.padding, spec.stride, 1, 1),
        ConvKind::Transposed => x.conv_transpose2d(w, spec.padding, 0, spec.stride, 1),
    }
}

fn conv_spec(kind: ConvKind, stride: usize, padding: usize) -> ConvSpec {
    ConvSpec {
        kind,
        stride,
        padding,
    }
}

/// Runs our convolution (the custom op under thresholds `th`) and candle's on the same operands,
/// compares outputs and the gradients of `Σ out · r` with respect to both operands.
fn check_conv(
    (name, th): (&str, Thresholds),
    spec: ConvSpec,
    x_dims: &[usize],
    w_dims: &[usize],
    (dtype, tol): (DType, f64),
) {
    let x = Var::from_tensor(&tensor(x_dims, 1.0, dtype)).unwrap();
    let w = Var::from_tensor(&tensor(w_dims, 2.0, dtype)).unwrap();
    let want = candle_convolution(x.as_tensor(), w.as_tensor(), spec).unwrap();
    let got = custom_conv(x.as_tensor(), w.as_tensor(), spec, th).unwrap();
    let case = format!(
        "{:?} x{x_dims:?} w{w_dims:?} s{} p{} {dtype:?} ({name} thresholds)",
        spec.kind, spec.stride, spec.padding
    );
    assert_close(&format!("{case} forward"), &got, &want, tol);
    let r = tensor(want.dims(), 3.0, dtype);
    let grads_want = (want * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let grads_got = (got * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for (label, v) in [("dx", &x), ("dw", &w)] {
        let a = grads_got.get(v.as_tensor()).expect("our gradient");
        let b = grads_want.get(v.as_tensor()).expect("reference gradient");
        assert_close(&format!("{case} {label}"), a, b, tol);
    }
}

/// A rayon pool of `threads` threads: band counts and reduction splits depend on the pool size.
fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

#[test]
fn conv_transpose2d_matches_candle_values_and_gradients() {
    // (x dims, w dims, stride, padding): odd sizes, stride 1/2, padding 0/1, the model's k4 s2 p1.
    let cases: &[(&[usize], &[usize], usize, usize)] = &[
        (&[2, 5, 7, 6], &[5, 3, 4, 4], 2, 1),
        (&[3, 4, 5, 5], &[4, 6, 3, 3], 1, 0),
        (&[1, 3, 6, 9], &[3, 2, 3, 3], 1, 1),
        (&[2, 6, 4, 3], &[6, 4, 4, 4], 2, 0),
        (&[2, 3, 5, 4], &[3, 5, 1, 1], 1, 0),
        (&[3, 2, 3, 5], &[2, 3, 3, 3], 2, 1),
        // Output exactly twice the input with six taps and with two.
        (&[2, 3, 5, 4], &[3, 4, 6, 6], 2, 2),
        (&[1, 4, 3, 5], &[4, 3, 2, 2], 2, 0),
    ];
    for th in THRESHOLDS {
        for &(xd, wd, s, p) in cases {
            for dtype_tol in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
                let spec = conv_spec(ConvKind::Transposed, s, p);
                check_conv(th, spec, xd, wd, dtype_tol);
            }
        }
    }
}

#[test]
fn conv2d_matches_candle_values_and_gradients() {
    let cases: &[(&[usize], &[usize], usize, usize)] = &[
        (&[2, 3, 9, 7], &[4, 3, 3, 3], 1, 1),
        // Non-square with equal remainders: candle's own conv2d backward assumes them equal.
        (&[3, 4, 11, 9], &[5, 4, 7, 7], 2, 3),
        (&[2, 6, 5, 7], &[3, 6, 1, 1], 1, 0),
        (&[2, 5, 9, 7], &[4, 5, 1, 1], 2, 0),
        (&[1, 3, 6, 8], &[2, 3, 3, 3], 2, 1),
        (&[3, 2, 7, 7], &[3, 2, 4, 4], 2, 1),
        // Few output channels at stride 1: the direct path.
        (&[2, 2, 5, 6], &[1, 2, 3, 3], 1, 0),
        (&[2, 4, 7, 9], &[1, 4, 3, 3], 1, 1),
        (&[1, 3, 6, 5], &[3, 3, 5, 5], 1, 2),
        // Wide enough for the direct path's register blocks, with odd borders on both sides.
        (&[2, 3, 7, 75], &[2, 3, 5, 5], 1, 2),
        (&[1, 2, 4, 70], &[1, 2, 3, 3], 1, 0),
    ];
    for th in THRESHOLDS {
        for &(xd, wd, s, p) in cases {
            for dtype_tol in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
                check_conv(th, conv_spec(ConvKind::Conv, s, p), xd, wd, dtype_tol);
            }
        }
    }
}

#[test]
fn convolutions_match_candle_on_a_model_sized_layer() {
    // Under tiny thresholds: many bands and the batch-parallel path; under production ones the
    // 3×3 layer still takes several bands (see `production_thresholds_band_im2col_convolutions`).
    let f32_tol = (DType::F32, 1e-4);
    for th in THRESHOLDS {
        let deconv = conv_spec(ConvKind::Transposed, 2, 1);
        check_conv(th, deconv, &[4, 32, 16, 16], &[32, 16, 4, 4], f32_tol);
        let conv3x3 = conv_spec(ConvKind::Conv, 1, 1);
        check_conv(th, conv3x3, &[4, 64, 24, 24], &[32, 64, 3, 3], f32_tol);
        check_conv(th, conv3x3, &[2, 32, 40, 40], &[1, 32, 3, 3], f32_tol);
    }
}

#[test]
fn convolutions_match_candle_under_any_thread_count() {
    // The engine splits work by bands (spanning images), by image-channel groups or inside one
    // GEMM depending on the pool size: 1 thread, an even and an odd split of odd channel counts.
    use ConvKind::{Conv, Transposed};
    type Case<'a> = (ConvKind, &'a [usize], &'a [usize], usize, usize);
    let cases: &[Case] = &[
        (Conv, &[3, 5, 7, 5], &[7, 5, 3, 3], 1, 1),
        (Conv, &[1, 7, 9, 9], &[6, 7, 3, 3], 2, 1),
        // 1×1: the weight gradient's columns split between threads, across image boundaries.
        (Conv, &[3, 5, 7, 5], &[4, 5, 1, 1], 1, 0),
        (Transposed, &[3, 7, 5, 3], &[7, 5, 4, 4], 2, 1),
        (Transposed, &[1, 6, 3, 4], &[6, 9, 4, 4], 2, 1),
    ];
    for threads in [1, 2, 3] {
        pool(threads).install(|| {
            for &(kind, xd, wd, s, p) in cases {
                let th = (&*format!("tiny on {threads} threads"), Thresholds::TINY);
                for dtype_tol in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
                    check_conv(th, conv_spec(kind, s, p), xd, wd, dtype_tol);
                }
            }
        });
    }
}

/// Production thresholds on im2col shapes large enough to be cut into bands, on 2 threads:
/// - 3×3 conv, 64 → 16 channels, 3 images of 24×24: a band holds 2^19 / (576 · 24) = 37 output
///   rows, so the 72 rows make 2 bands and the first spans images 0 and 1;
/// - transposed 4×4 stride 2, 64 → 64 channels, 2 images of 24×24 (output 48×48): the engine's
///   image side is the 24×24 input, 2^19 / (1024 · 24) = 21 rows a band, so 48 rows make 4 bands.
///
/// Values and both gradients (input: col2im by channel groups over the bands; weight: partial
/// sums per run of bands) against candle's ops.
#[test]
fn production_thresholds_band_im2col_convolutions() {
    let th = Thresholds::PRODUCTION;
    let conv = conv_spec(ConvKind::Conv, 1, 1);
    let deconv = conv_spec(ConvKind::Transposed, 2, 1);
    pool(2).install(|| {
        let g = Geometry::new(64, 24, 24, 3, 1, 1).unwrap();
        assert_eq!(
            gemm_conv::band_plan(&g, 3, &th),
            (2, true),
            "3x3 conv bands"
        );
        // The transposed convolution's geometry is seen from its 48×48 output, 64 channels.
        let g = Geometry::new(64, 48, 48, 4, 2, 1).unwrap();
        let (bands, _) = gemm_conv::band_plan(&g, 2, &th);
        assert_eq!(bands, 4, "transposed 4x4 bands");
        // f32: sums of 576 (forward) to 3456 (weight gradient) products; f64 carries the fine check.
        for dtype_tol in [(DType::F64, 1e-12), (DType::F32, 1e-4)] {
            let th = ("production", th);
            check_conv(th, conv, &[3, 64, 24, 24], &[16, 64, 3, 3], dtype_tol);
            check_conv(th, deconv, &[2, 64, 24, 24], &[64, 64, 4, 4], dtype_tol);
        }
    });
}

/// Production thresholds on a 1×1 convolution large enough for both of its splits, on 2
/// threads: 32 → 64 channels, 2 images of 64×96 (6144 positions each). The forward pass takes
/// blocks of 2^18 / 64 = 4096 columns, 2 per image; the weight gradient's reduction over 12288
/// columns splits between the 2 threads (≥ 512 columns each). Values and gradients against
/// candle, and the fused path (epilogue per block) equal to the composed ops.
#[test]
fn production_thresholds_split_pointwise_convolutions() {
    let th = Thresholds::PRODUCTION;
    let spec = conv_spec(ConvKind::Conv, 1, 0);
    let (x_dims, w_dims) = ([2, 32, 64, 96], [64, 32, 1, 1]);
    pool(2).install(|| {
        let g = Geometry::new(32, 64, 96, 1, 1, 0).unwrap();
        assert_eq!(gemm_conv::pointwise_plan(&g, 64, 2, &th), (2, 2));
        // f32: the weight gradient sums 12288 products; f64 carries the fine check.
        for dtype_tol in [(DType::F64, 1e-12), (DType::F32, 1e-4)] {
            check_conv(("production", th), spec, &x_dims, &w_dims, dtype_tol);
        }
        let (x, w) = (
            tensor(&x_dims, 1.0, DType::F32),
            tensor(&w_dims, 2.0, DType::F32),
        );
        let (scale, shift) = (
            tensor(&[64], 3.0, DType::F32),
            tensor(&[64], 4.0, DType::F32),
        );
        let act = Activation::leaky_relu(0.2);
        let fused = fused_conv(&[&x], &w, spec, (&scale, &shift), act, None, th)
            .unwrap()
            .unwrap();
        let want = composed_conv_affine_act(&x, &w, spec, (&scale, &shift), act, None, th).unwrap();
        assert_eq!(
            flat(&fused),
            flat(&want),
            "fused 1x1 under production thresholds"
        );
    });
}

/// Production thresholds on a network-sized 3×3 layer, fused (no gradient), on 2 threads: 64 →
/// 64 channels, 2 images of 46×62, 2 · 23 · 31 = 1426 tiles ≥ 256, so Winograd applies; a band
/// holds 2^20 / (16 · 64 · 31) = 33 tile rows, so the 46 make 2 bands and the first spans both
/// images (odd width: half tiles at the right border). Against candle's conv2d and the epilogue
/// in candle ops. A 32-channel layer stays on im2col.
#[test]
fn production_thresholds_take_winograd_on_a_network_sized_layer() {
    let th = Thresholds::PRODUCTION;
    let spec = conv_spec(ConvKind::Conv, 1, 1);
    let (x_dims, cout) = ([2, 64, 46, 62], 64);
    let g = Geometry::new(64, 46, 62, 3, 1, 1).unwrap();
    assert!(
        winograd::applies(&g, cout, 2, &th.winograd),
        "Winograd must apply"
    );
    let small = Geometry::new(32, 46, 62, 3, 1, 1).unwrap();
    assert!(
        !winograd::applies(&small, 32, 2, &th.winograd),
        "32 channels"
    );
    assert!(winograd::applies(&small, 32, 2, &Thresholds::TINY.winograd));
    pool(2).install(|| {
        assert_eq!(winograd::band_plan(&g, cout, 2, &th.winograd), (2, true));
        for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
            let x = tensor(&x_dims, 1.0, dtype);
            let w = tensor(&[cout, 64, 3, 3], 2.0, dtype);
            let (scale, shift) = (tensor(&[cout], 3.0, dtype), tensor(&[cout], 4.0, dtype));
            let residual = tensor(&[2, cout, 46, 62], 5.0, dtype);
            let act = Activation::leaky_relu(0.2);
            let got = fused_conv(&[&x], &w, spec, (&scale, &shift), act, Some(&residual), th)
                .unwrap()
                .unwrap();
            let bshape = (1, cout, 1, 1);
            let want = candle_convolution(&x, &w, spec)
                .and_then(|y| y.broadcast_mul(&scale.reshape(bshape)?))
                .and_then(|y| y.broadcast_add(&shift.reshape(bshape)?))
                .and_then(|y| act.apply(&(y + &residual)?))
                .unwrap();
            assert_close(&format!("Winograd {dtype:?}"), &got, &want, tol);
            let im2col =
                composed_conv_affine_act(&x, &w, spec, (&scale, &shift), act, Some(&residual), th)
                    .unwrap();
            assert_ne!(
                flat(&got),
                flat(&im2col),
                "{dtype:?}: bit-identical to im2col: the Winograd path did not run"
            );
        }
    });
}

#[test]
fn untracked_operands_get_no_gradient() {
    let x = tensor(&[2, 3, 6, 6], 1.0, DType::F32);
    let w = Var::from_tensor(&tensor(&[4, 3, 3, 3], 2.0, DType::F32)).unwrap();
    let out = conv2d(&x, w.as_tensor(), 1, 1).unwrap();
    let grads = out.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&x).is_none());
    assert!(grads.get(w.as_tensor()).is_some());
    let x = Var::from_tensor(&x).unwrap();
    let w = tensor(&[3, 5, 4, 4], 2.0, DType::F32);
    let out = conv_transpose2d(x.as_tensor(), &w, 2, 1).unwrap();
    let grads = out.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&w).is_none());
    assert!(grads.get(x.as_tensor()).is_some());
}

#[test]
fn bad_shapes_are_errors() {
    let x = tensor(&[1, 3, 5, 5], 1.0, DType::F32);
    assert!(conv2d(&x, &tensor(&[2, 4, 3, 3], 2.0, DType::F32), 1, 1).is_err());
    assert!(conv2d(&x, &tensor(&[2, 3, 7, 7], 2.0, DType::F32), 1, 0).is_err());
    assert!(conv2d(&x, &tensor(&[2, 3, 3, 2], 2.0, DType::F32), 1, 0).is_err());
    assert!(conv_transpose2d(&x, &tensor(&[4, 2, 4, 4], 2.0, DType::F32), 2, 1).is_err());
    assert!(max_pool2d(&x, 3, 2, 2).is_err());
    assert!(max_pool2d(&tensor(&[3, 5, 5], 1.0, DType::F32), 3, 2, 1).is_err());
}

/// PyTorch's max pooling written out: values and the first-maximum index of every window.
fn brute_force_pool(
    x: &[f64],
    (n, c, h, w): (usize, usize, usize, usize),
    k: usize,
    s: usize,
    p: usize,
) -> (Vec<f64>, Vec<usize>, (usize, usize)) {
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    let (mut vals, mut at) = (Vec::new(), Vec::new());
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = (f64::NEG_INFINITY, usize::MAX);
                for ky in 0..k {
                    for kx in 0..k {
                        let (y, x_) = (
                            (oy * s + ky) as isize - p as isize,
                            (ox * s + kx) as isize - p as isize,
                        );
                        if y < 0 || x_ < 0 || y >= h as isize || x_ >= w as isize {
                            continue;
                        }
                        let i = plane * h * w + y as usize * w + x_ as usize;
                        if best.1 == usize::MAX || x[i] > best.0 {
                            best = (x[i], i);
                        }
                    }
                }
                vals.push(best.0);
                at.push(best.1);
            }
        }
    }
    (vals, at, (oh, ow))
}

type PoolFn = fn(&Tensor, usize, usize, usize) -> Result<Tensor>;

fn composed_pool(x: &Tensor, k: usize, s: usize, p: usize) -> Result<Tensor> {
    max_pool::composed(
        x,
        Pool {
            kernel: k,
            stride: s,
            padding: p,
        },
    )
}

#[test]
fn max_pool2d_matches_brute_force_with_ties_values_and_gradients() {
    let cases = [
        ((2, 3, 7, 9), 3, 2, 1),
        ((1, 2, 8, 8), 2, 2, 0),
        ((2, 2, 6, 5), 3, 1, 1),
        ((1, 3, 9, 7), 3, 3, 0),
        ((2, 1, 5, 6), 4, 2, 2),
    ];
    let implementations: [(&str, PoolFn); 2] =
        [("custom", max_pool2d), ("composed", composed_pool)];
    for ((n, c, h, w), k, s, p) in cases {
        // ReLU of rounded values: many exact ties, zeros included.
        let raw: Vec<f64> = values(n * c * h * w, 5.0)
            .iter()
            .map(|v| (v * 3.0).round().max(0.0) / 3.0)
            .collect();
        let (want, at, (oh, ow)) = brute_force_pool(&raw, (n, c, h, w), k, s, p);
        let upstream = values(n * c * oh * ow, 6.0);
        let mut want_grad = vec![0.0; raw.len()];
        for (i, &j) in at.iter().enumerate() {
            want_grad[j] += upstream[i];
        }
        for dtype in [DType::F32, DType::F64] {
            for (label, pool) in implementations {
                let case = format!("{label} {:?} k{k} s{s} p{p} {dtype:?}", (n, c, h, w));
                let x = Tensor::from_vec(raw.clone(), (n, c, h, w), &Device::Cpu).unwrap();
                let x = Var::from_tensor(&x.to_dtype(dtype).unwrap()).unwrap();
                let out = pool(x.as_tensor(), k, s, p).unwrap();
                assert_eq!(out.dims(), [n, c, oh, ow], "{case}");
                let r = Tensor::from_vec(upstream.clone(), out.dims(), &Device::Cpu).unwrap();
                let got = flat(&out);
                let exact = want.iter().map(|&v| {
                    if dtype == DType::F32 {
                        v as f32 as f64
                    } else {
                        v
                    }
                });
                assert!(
                    got.iter().zip(exact).all(|(a, b)| *a == b),
                    "{case}: values"
                );
                let loss = (out * r.to_dtype(dtype).unwrap())
                    .unwrap()
                    .sum_all()
                    .unwrap();
                let grads = loss.backward().unwrap();
                let g = flat(grads.get(x.as_tensor()).unwrap());
                let tol = if dtype == DType::F32 { 1e-6 } else { 1e-14 };
                let what = format!("{case}: gradient");
                assert_close_and_nan_fails(&what, &g, &want_grad, Tolerance::Abs(tol));
            }
        }
    }
}

/// `act(affine(conv(x)) + residual)` from the separate ops, the way the network composes them when
/// the fused kernel does not apply (the convolution under thresholds `th`).
fn composed_conv_affine_act(
    x: &Tensor,
    w: &Tensor,
    spec: ConvSpec,
    (scale, shift): (&Tensor, &Tensor),
    act: Activation,
    residual: Option<&Tensor>,
    th: Thresholds,
) -> Result<Tensor> {
    let y = custom_conv(x, w, spec, th)?;
    match residual {
        Some(r) => act.apply(&(affine_act(&y, scale, shift, Activation::IDENTITY)? + r)?),
        None => affine_act(&y, scale, shift, act),
    }
}

#[test]
fn fused_conv_affine_act_equals_the_composed_ops_exactly() {
    use ConvKind::{Conv, Transposed};
    let spec = |kind, stride, padding| ConvSpec {
        kind,
        stride,
        padding,
    };
    // Every engine path: direct (≤ 4 outputs, stride 1), bands within and across images (under
    // tiny thresholds), 1×1 in place and strided, the stem's 7×7, transposed 4×4 and 1×1.
    let cases: [(&str, ConvSpec, [usize; 4], [usize; 4]); 7] = [
        ("direct 3x3", spec(Conv, 1, 1), [3, 5, 7, 6], [4, 5, 3, 3]),
        (
            "banded 3x3 s2",
            spec(Conv, 2, 1),
            [3, 5, 7, 6],
            [9, 5, 3, 3],
        ),
        ("pointwise", spec(Conv, 1, 0), [2, 6, 4, 5], [7, 6, 1, 1]),
        ("1x1 s2", spec(Conv, 2, 0), [2, 6, 8, 6], [7, 6, 1, 1]),
        ("7x7 s2", spec(Conv, 2, 3), [3, 3, 9, 9], [6, 3, 7, 7]),
        (
            "transposed 4x4",
            spec(Transposed, 2, 1),
            [2, 6, 3, 4],
            [6, 5, 4, 4],
        ),
        (
            "transposed 1x1",
            spec(Transposed, 1, 0),
            [2, 6, 3, 4],
            [6, 5, 1, 1],
        ),
    ];
    let acts = [
        Activation::IDENTITY,
        Activation::RELU,
        Activation::leaky_relu(0.2),
    ];
    for (th_name, th) in THRESHOLDS {
        for dtype in [DType::F32, DType::F64] {
            for (name, spec, x_dims, w_dims) in &cases {
                let x = tensor(x_dims, 1.0, dtype);
                let w = tensor(w_dims, 2.0, dtype);
                let reference = convolution(&x, &w, *spec).unwrap();
                let channels = reference.dim(1).unwrap();
                let affine = (
                    &tensor(&[channels], 3.0, dtype),
                    &tensor(&[channels], 4.0, dtype),
                );
                let residual = tensor(reference.dims(), 5.0, dtype);
                for act in acts {
                    for res in [None, Some(&residual)] {
                        let case = format!(
                            "{name} {dtype:?} {act:?} residual {} ({th_name} thresholds)",
                            res.is_some()
                        );
                        let fused = fused_conv(&[&x], &w, *spec, affine, act, res, th)
                            .unwrap()
                            .expect("untracked CPU operands take the fused kernel");
                        let want =
                            composed_conv_affine_act(&x, &w, *spec, affine, act, res, th).unwrap();
                        assert_eq!(fused.dims(), want.dims(), "{case}");
                        assert_eq!(flat(&fused), flat(&want), "{case}");
                        assert!(!fused.track_op(), "{case}: the result has no history");
                    }
                }
            }
        }
    }
}

#[test]
fn fused_conv_affine_act_declines_tracked_or_foreign_operands() {
    let spec = ConvSpec {
        kind: ConvKind::Conv,
        stride: 1,
        padding: 1,
    };
    let x = tensor(&[2, 3, 5, 5], 1.0, DType::F32);
    let w = tensor(&[6, 3, 3, 3], 2.0, DType::F32);
    let (scale, shift) = (tensor(&[6], 3.0, DType::F32), tensor(&[6], 4.0, DType::F32));
    let act = Activation::RELU;
    let tracked_w = Var::from_tensor(&w).unwrap();
    let tracked_x = Var::from_tensor(&x).unwrap();
    let tracked_scale = Var::from_tensor(&scale).unwrap();
    let half = x.to_dtype(DType::F16).unwrap();
    let half_w = w.to_dtype(DType::F16).unwrap();
    let declined = [
        ("tracked weight", &x, tracked_w.as_tensor(), &scale),
        ("tracked input", tracked_x.as_tensor(), &w, &scale),
        ("tracked scale", &x, &w, tracked_scale.as_tensor()),
        ("f16", &half, &half_w, &scale),
    ];
    for (what, x, w, scale) in declined {
        let got = conv_affine_act(x, w, spec, scale, &shift, act, None).unwrap();
        assert!(got.is_none(), "{what}: the fused kernel must decline");
    }
    let tracked_residual = Var::from_tensor(&tensor(&[2, 6, 5, 5], 5.0, DType::F32)).unwrap();
    let got = conv_affine_act(
        &x,
        &w,
        spec,
        &scale,
        &shift,
        act,
        Some(tracked_residual.as_tensor()),
    )
    .unwrap();
    assert!(
        got.is_none(),
        "tracked residual: the fused kernel must decline"
    );
}

#[test]
fn fused_conv_affine_act_names_mis_shaped_operands() {
    let spec = ConvSpec {
        kind: ConvKind::Conv,
        stride: 1,
        padding: 0,
    };
    let x = tensor(&[2, 3, 5, 5], 1.0, DType::F32);
    let w = tensor(&[6, 3, 1, 1], 2.0, DType::F32);
    let good = tensor(&[6], 3.0, DType::F32);
    let short = tensor(&[5], 3.0, DType::F32);
    let act = Activation::RELU;
    let e = conv_affine_act(&x, &w, spec, &short, &good, act, None).unwrap_err();
    assert!(e.to_string().contains("scale"), "{e}");
    let e = conv_affine_act(&x, &w, spec, &good, &short, act, None).unwrap_err();
    assert!(e.to_string().contains("shift"), "{e}");
    let residual = tensor(&[2, 6, 4, 5], 5.0, DType::F32);
    let e = conv_affine_act(&x, &w, spec, &good, &good, act, Some(&residual)).unwrap_err();
    assert!(e.to_string().contains("residual"), "{e}");
    let w3 = tensor(&[6, 4, 1, 1], 2.0, DType::F32);
    let e = conv_affine_act(&x, &w3, spec, &good, &good, act, None).unwrap_err();
    assert!(e.to_string().contains("channels"), "{e}");
}

#[test]
fn fused_conv_of_parts_equals_the_conv_of_their_concatenation() {
    let spec = |kernel: usize| ConvSpec {
        kind: ConvKind::Conv,
        stride: 1,
        padding: kernel / 2,
    };
    // 1×1: one product per part; 3×3: a joined copy. Parts of unequal widths, both thresholds.
    for (th_name, th) in THRESHOLDS {
        for (kernel, cout) in [(1, 7), (3, 6)] {
            for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
                let a = tensor(&[3, 5, 6, 7], 1.0, dtype);
                let b = tensor(&[3, 2, 6, 7], 6.0, dtype);
                let w = tensor(&[cout, 7, kernel, kernel], 2.0, dtype);
                let affine = (&tensor(&[cout], 3.0, dtype), &tensor(&[cout], 4.0, dtype));
                let act = Activation::leaky_relu(0.2);
                let got = fused_conv(&[&a, &b], &w, spec(kernel), affine, act, None, th)
                    .unwrap()
                    .expect("untracked CPU operands take the fused kernel");
                let joined = cat_channels(&a, &b).unwrap();
                let want = fused_conv(&[&joined], &w, spec(kernel), affine, act, None, th)
                    .unwrap()
                    .unwrap();
                let case = format!("{kernel}x{kernel} {dtype:?} ({th_name} thresholds)");
                assert_close(&case, &got, &want, tol);
            }
        }
    }
    let a = tensor(&[3, 5, 6, 7], 1.0, DType::F32);
    let short = tensor(&[3, 2, 6, 6], 6.0, DType::F32);
    let w = tensor(&[4, 7, 1, 1], 2.0, DType::F32);
    let c = tensor(&[4], 3.0, DType::F32);
    let e = cat_conv_affine_act(&[&a, &short], &w, spec(1), &c, &c, Activation::RELU, None)
        .unwrap_err();
    assert!(e.to_string().contains("joined"), "{e}");
}

#[test]
fn max_pool2d_pools_a_nan_to_nan_and_leaves_other_windows_alone() {
    // One NaN at (2, 3) of a 6×6 plane; 3×3 windows, stride 2, padding 1: output windows (1, 1)
    // and (1, 2) hold it (rows 1..4, columns 1..4 and 3..6), the others do not.
    let mut raw = values(36, 7.0);
    raw[2 * 6 + 3] = f64::NAN;
    for dtype in [DType::F32, DType::F64] {
        let x = Tensor::from_vec(raw.clone(), (1, 1, 6, 6), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let got = flat(&max_pool2d(&x, 3, 2, 1).unwrap());
        let (want, _, _) = brute_force_pool(&raw, (1, 1, 6, 6), 3, 2, 1);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let holds_nan = i == 4 || i == 5;
            if holds_nan {
                assert!(g.is_nan(), "{dtype:?} window {i}: {g}");
            } else {
                let w = if dtype == DType::F32 {
                    *w as f32 as f64
                } else {
                    *w
                };
                assert_eq!(*g, w, "{dtype:?} window {i}");
            }
        }
    }
}

/// The fused path computes 3×3, stride-1, padding-1 convolutions by Winograd F(2×2, 3×3) (under
/// tiny thresholds for any channel count and batch): within rounding of the im2col engine, odd
/// sizes (half tiles at the borders), several bands, with and without a residual, on 1 to 3
/// threads. Production thresholds: `production_thresholds_take_winograd_on_a_network_sized_layer`.
#[test]
fn winograd_convolution_matches_the_im2col_engine() {
    let spec = ConvSpec {
        kind: ConvKind::Conv,
        stride: 1,
        padding: 1,
    };
    let shapes: [([usize; 4], usize); 4] = [
        ([2, 5, 7, 9], 6),
        ([1, 8, 4, 4], 8),
        ([3, 3, 5, 2], 7),
        ([2, 6, 1, 3], 5),
    ];
    let th = Thresholds::TINY;
    let mut rounded_differently = false;
    for threads in [1, 2, 3] {
        pool(threads).install(|| {
            for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
                for (x_dims, cout) in shapes {
                    let x = tensor(&x_dims, 1.0, dtype);
                    let w = tensor(&[cout, x_dims[1], 3, 3], 2.0, dtype);
                    let affine = (&tensor(&[cout], 3.0, dtype), &tensor(&[cout], 4.0, dtype));
                    let plain = convolution(&x, &w, spec).unwrap();
                    let residual = tensor(plain.dims(), 5.0, dtype);
                    for res in [None, Some(&residual)] {
                        let act = Activation::leaky_relu(0.2);
                        let got = fused_conv(&[&x], &w, spec, affine, act, res, th)
                            .unwrap()
                            .unwrap();
                        let want =
                            composed_conv_affine_act(&x, &w, spec, affine, act, res, th).unwrap();
                        let case = format!(
                            "{x_dims:?} -> {cout} {dtype:?} residual {} on {threads} threads",
                            res.is_some()
                        );
                        assert_close(&case, &got, &want, tol);
                        rounded_differently |= flat(&got) != flat(&want);
                    }
                }
            }
        });
    }
    assert!(
        rounded_differently,
        "bit-identical to im2col everywhere: the Winograd path did not run"
    );
}
