//! `salient bench model` and `salient selftest` as a user runs them on a machine without CUDA.

mod common;

use common::{run_in as salient, text};

#[test]
fn selftest_on_the_cpu_passes_and_prints_every_check() {
    let tmp = tempfile::tempdir().unwrap();
    let out = salient(&["selftest", "--device", "cpu"], tmp.path());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for want in [
        "reference: candle's CPU ops",
        "op conv2d 3x3 s2 p1: dw",
        "op conv2d 1x1 s1: out",
        "op conv_transpose2d 4x4 s2 p1: dx",
        "op max_pool2d 3x3 s2 p1: dx",
        "op batch_norm_train + relu: dweight",
        "op cat_conv_affine_act 1x1 over two parts: out",
        "net seed: eval forward, fused vs op-by-op",
        "net density: eval forward, fused vs op-by-op",
        "net density: gradient vs finite difference, density",
        "net seed: gradient vs finite difference, layer4",
        "selftest: all ",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    let checks = t.lines().filter(|l| l.contains(" max_abs_diff=")).count();
    let ok = t
        .lines()
        .filter(|l| l.contains(" max_abs_diff=") && l.ends_with(" ok"))
        .count();
    assert!(checks > 40 && ok == checks, "{ok} of {checks} ok\n{t}");
}

#[test]
fn cuda_without_a_cuda_build_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["selftest", "--device", "cuda"][..],
        &[
            "bench", "model", "--device", "cuda", "--size", "64x64", "--batch", "1", "--steps", "1",
        ],
    ] {
        let out = salient(args, tmp.path());
        let t = text(&out);
        assert!(!out.status.success(), "{t}");
        assert!(
            t.contains("built without CUDA") && !t.contains("panicked"),
            "{t}"
        );
    }
}

#[test]
fn bench_model_prints_the_last_line_scripts_read() {
    let tmp = tempfile::tempdir().unwrap();
    for mode in ["train", "infer"] {
        let out = salient(
            &[
                "bench", "model", "--mode", mode, "--device", "cpu", "--size", "64x64", "--batch",
                "1", "--steps", "1",
            ],
            tmp.path(),
        );
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        let last = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .to_string();
        let fields: Vec<&str> = last.split(' ').collect();
        assert_eq!(fields.len(), 2, "{last}");
        let ips: f64 = fields[0]
            .strip_prefix("images/s=")
            .unwrap()
            .parse()
            .unwrap();
        let rss: u64 = fields[1]
            .strip_prefix("peak_rss_mib=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(ips > 0.0 && rss > 0, "{last}");
        assert!(
            t.contains(&format!("mode={mode}")) && t.contains("size=64x64"),
            "{t}"
        );
    }
    let out = salient(
        &[
            "bench",
            "model",
            "--precision",
            "bf16",
            "--size",
            "64",
            "--steps",
            "1",
        ],
        tmp.path(),
    );
    assert!(!out.status.success() && text(&out).contains("needs a CUDA device"));
}
