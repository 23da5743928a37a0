//! The custom kernels against candle's reference ops (convolutions) or a brute-force definition
//! (max pooling), values and gradients, on deterministic pseudo-random data with odd sizes.

use super::*;
use candle_core::{Device, Var};

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

/// Asserts `|a − b| ≤ tol · (1 + |b|)` elementwise.
fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let (a, b) = (flat(a), flat(b));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0f64, f64::max);
    assert!(
        worst <= tol,
        "{what}: max relative difference {worst:e} > {tol:e}"
    );
}

type ConvFn = fn(&Tensor, &Tensor, usize, usize) -> Result<Tensor>;

/// Runs `ours` and `reference` on the same operands, compares outputs and the gradients of
/// `Σ out · r` with respect to both operands.
fn check_conv(
    name: &str,
    ours: ConvFn,
    reference: ConvFn,
    x_dims: &[usize],
    w_dims: &[usize],
    (stride, padding): (usize, usize),
    (dtype, tol): (DType, f64),
) {
    let x = Var::from_tensor(&tensor(x_dims, 1.0, dtype)).unwrap();
    let w = Var::from_tensor(&tensor(w_dims, 2.0, dtype)).unwrap();
    let want = reference(x.as_tensor(), w.as_tensor(), stride, padding).unwrap();
    let got = ours(x.as_tensor(), w.as_tensor(), stride, padding).unwrap();
    let case = format!("{name} x{x_dims:?} w{w_dims:?} s{stride} p{padding} {dtype:?}");
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

fn candle_conv2d(x: &Tensor, w: &Tensor, s: usize, p: usize) -> Result<Tensor> {
    x.conv2d(w, p, s, 1, 1)
}

fn candle_conv_transpose2d(x: &Tensor, w: &Tensor, s: usize, p: usize) -> Result<Tensor> {
    x.conv_transpose2d(w, p, 0, s, 1)
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
    for &(xd, wd, s, p) in cases {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let f: ConvFn = conv_transpose2d;
            check_conv(
                "conv_transpose2d",
                f,
                candle_conv_transpose2d,
                xd,
                wd,
                (s, p),
                (dtype, tol),
            );
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
    for &(xd, wd, s, p) in cases {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let f: ConvFn = conv2d;
            check_conv("conv2d", f, candle_conv2d, xd, wd, (s, p), (dtype, tol));
        }
    }
}

#[test]
fn convolutions_match_candle_on_a_model_sized_layer() {
    // Large enough to take many bands and the batch-parallel path.
    let f32_tol = (DType::F32, 1e-4);
    let (deconv, conv): (ConvFn, ConvFn) = (conv_transpose2d, conv2d);
    let (x, w) = (&[4, 32, 16, 16][..], &[32, 16, 4, 4][..]);
    check_conv(
        "deconv",
        deconv,
        candle_conv_transpose2d,
        x,
        w,
        (2, 1),
        f32_tol,
    );
    let (x, w) = (&[4, 64, 24, 24][..], &[32, 64, 3, 3][..]);
    check_conv("conv3x3", conv, candle_conv2d, x, w, (1, 1), f32_tol);
    let (x, w) = (&[2, 32, 40, 40][..], &[1, 32, 3, 3][..]);
    check_conv("conv_0", conv, candle_conv2d, x, w, (1, 1), f32_tol);
}

#[test]
fn convolutions_match_candle_under_any_thread_count() {
    // The engine splits work by bands (spanning images), by image-channel groups or inside one
    // GEMM depending on the pool size: 1 thread, an even and an odd split of odd channel counts.
    let conv: ConvFn = conv2d;
    let deconv: ConvFn = conv_transpose2d;
    type Case<'a> = (
        &'a str,
        ConvFn,
        ConvFn,
        &'a [usize],
        &'a [usize],
        usize,
        usize,
    );
    let cases: &[Case] = &[
        (
            "conv",
            conv,
            candle_conv2d,
            &[3, 5, 7, 5],
            &[7, 5, 3, 3],
            1,
            1,
        ),
        (
            "conv",
            conv,
            candle_conv2d,
            &[1, 7, 9, 9],
            &[6, 7, 3, 3],
            2,
            1,
        ),
        // 1×1: the weight gradient's columns split between threads, across image boundaries.
        (
            "conv 1x1",
            conv,
            candle_conv2d,
            &[3, 5, 7, 5],
            &[4, 5, 1, 1],
            1,
            0,
        ),
        (
            "deconv",
            deconv,
            candle_conv_transpose2d,
            &[3, 7, 5, 3],
            &[7, 5, 4, 4],
            2,
            1,
        ),
        (
            "deconv",
            deconv,
            candle_conv_transpose2d,
            &[1, 6, 3, 4],
            &[6, 9, 4, 4],
            2,
            1,
        ),
    ];
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| {
            for &(name, ours, reference, xd, wd, s, p) in cases {
                let name = format!("{name} on {threads} threads");
                for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
                    check_conv(&name, ours, reference, xd, wd, (s, p), (dtype, tol));
                }
            }
        });
    }
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
                let worst = g
                    .iter()
                    .zip(&want_grad)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(worst <= tol, "{case}: gradient off by {worst:e}");
            }
        }
    }
}

/// `act(affine(conv(x)) + residual)` from the separate ops, the way the network composes them when
/// the fused kernel does not apply.
fn composed_conv_affine_act(
    x: &Tensor,
    w: &Tensor,
    spec: ConvSpec,
    (scale, shift): (&Tensor, &Tensor),
    act: Activation,
    residual: Option<&Tensor>,
) -> Result<Tensor> {
    let y = convolution(x, w, spec)?;
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
    // Every engine path: direct (≤ 4 outputs, stride 1), bands within and across images (tests use
    // tiny bands), 1×1 in place and strided, the stem's 7×7, transposed 4×4 and 1×1.
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
    for dtype in [DType::F32, DType::F64] {
        for (name, spec, x_dims, w_dims) in &cases {
            let x = tensor(x_dims, 1.0, dtype);
            let w = tensor(w_dims, 2.0, dtype);
            let reference = convolution(&x, &w, *spec).unwrap();
            let channels = reference.dim(1).unwrap();
            let scale = tensor(&[channels], 3.0, dtype);
            let shift = tensor(&[channels], 4.0, dtype);
            let residual = tensor(reference.dims(), 5.0, dtype);
            for act in acts {
                for res in [None, Some(&residual)] {
                    let case = format!("{name} {dtype:?} {act:?} residual {}", res.is_some());
                    let fused = conv_affine_act(&x, &w, *spec, &scale, &shift, act, res)
                        .unwrap()
                        .expect("untracked CPU operands take the fused kernel");
                    let want = composed_conv_affine_act(&x, &w, *spec, (&scale, &shift), act, res)
                        .unwrap();
                    assert_eq!(fused.dims(), want.dims(), "{case}");
                    assert_eq!(flat(&fused), flat(&want), "{case}");
                    assert!(!fused.track_op(), "{case}: the result has no history");
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
    // 1×1: one product per part; 3×3: a joined copy. Parts of unequal widths, tiny bands.
    for (kernel, cout) in [(1, 7), (3, 6)] {
        for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
            let a = tensor(&[3, 5, 6, 7], 1.0, dtype);
            let b = tensor(&[3, 2, 6, 7], 6.0, dtype);
            let w = tensor(&[cout, 7, kernel, kernel], 2.0, dtype);
            let (scale, shift) = (tensor(&[cout], 3.0, dtype), tensor(&[cout], 4.0, dtype));
            let act = Activation::leaky_relu(0.2);
            let got = cat_conv_affine_act(&[&a, &b], &w, spec(kernel), &scale, &shift, act, None)
                .unwrap()
                .expect("untracked CPU operands take the fused kernel");
            let joined = cat_channels(&a, &b).unwrap();
            let want = conv_affine_act(&joined, &w, spec(kernel), &scale, &shift, act, None)
                .unwrap()
                .unwrap();
            assert_close(&format!("{kernel}x{kernel} {dtype:?}"), &got, &want, tol);
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

/// The fused path computes 3×3, stride-1, padding-1 convolutions by Winograd F(2×2, 3×3) (in
/// tests for any channel count and batch): within rounding of the im2col engine, odd sizes (half
/// tiles at the borders), several bands, with and without a residual, on 1 to 3 threads.
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
    let mut rounded_differently = false;
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| {
            for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
                for (x_dims, cout) in shapes {
                    let x = tensor(&x_dims, 1.0, dtype);
                    let w = tensor(&[cout, x_dims[1], 3, 3], 2.0, dtype);
                    let (scale, shift) = (tensor(&[cout], 3.0, dtype), tensor(&[cout], 4.0, dtype));
                    let plain = convolution(&x, &w, spec).unwrap();
                    let residual = tensor(plain.dims(), 5.0, dtype);
                    for res in [None, Some(&residual)] {
                        let act = Activation::leaky_relu(0.2);
                        let got = conv_affine_act(&x, &w, spec, &scale, &shift, act, res)
                            .unwrap()
                            .unwrap();
                        let want =
                            composed_conv_affine_act(&x, &w, spec, (&scale, &shift), act, res)
                                .unwrap();
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
