//! `salient predict` at scale: sharded runs equal the unsharded one, outputs mirror relative
//! paths (same stems in different folders do not collide), unreadable inputs are recorded and
//! skipped, and a killed shard resumes with `--skip-existing` without rewriting anything.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{checkpoint, encode, salient, scene};
use image::ImageFormat;

/// Every file under `dir` (relative path → bytes), manifests and summaries left out.
fn outputs(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with("manifest.")
        })
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().to_path_buf(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn predict(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = salient();
    cmd.args(["predict", "--device", "cpu", "--checkpoint"])
        .arg(checkpoint())
        .args(args);
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().copied());
    cmd.output().unwrap()
}

fn ok(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "salient predict failed:\n{stderr}");
    stderr
}

fn manifest(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Images with the same stem in several folders (`cat` ×3, one a JPEG), one unreadable file.
fn dataset(root: &Path) -> Vec<PathBuf> {
    let names = [
        ("a/cat.png", 40, 30),
        ("b/cat.png", 33, 45),
        ("c/d/cat.jpg", 64, 48),
        ("a/dog.png", 50, 50),
        ("b/bird.bmp", 30, 20),
        ("c/tree.png", 70, 35),
        ("c/d/car.png", 41, 39),
        ("e.png", 36, 36),
    ];
    let mut paths = Vec::new();
    for (i, (name, w, h)) in names.iter().enumerate() {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let format = ImageFormat::from_path(&path).unwrap();
        std::fs::write(&path, encode(&scene(*w, *h, i as u32), format)).unwrap();
        paths.push(path);
    }
    let broken = root.join("b/broken.jpg");
    std::fs::write(&broken, b"\xFF\xD8\xFF\xE0 this is not really a JPEG").unwrap();
    paths.push(broken);
    paths
}

#[test]
fn three_shards_give_exactly_the_unsharded_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut paths = dataset(&data);
    paths.reverse(); // the list's order does not matter: it is sorted
    let list = tmp.path().join("list.txt");
    let text: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
    std::fs::write(&list, format!("# every image\n{text}")).unwrap();
    let list_arg = list.to_str().unwrap();

    let whole = tmp.path().join("whole");
    let stderr = ok(&predict(
        &[
            "--input-list",
            list_arg,
            "--overlay",
            "--out",
            whole.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(
        stderr.contains("8 written, 0 skipped (already there), 1 failed"),
        "{stderr}"
    );
    let expected = outputs(&whole);
    let names: Vec<_> = expected
        .keys()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    for name in [
        "a/cat.png",
        "b/cat.png",
        "c/d/cat.png",
        "c/d/cat_overlay.png",
        "e.png",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert_eq!(expected.len(), 16, "8 maps and 8 overlays: {names:?}");
    let lines = manifest(&whole.join("manifest.shard-0-of-1.jsonl"));
    assert_eq!(lines.len(), 9);
    let failed: Vec<_> = lines.iter().filter(|l| l["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["input"]
        .as_str()
        .unwrap()
        .ends_with("b/broken.jpg"));
    assert!(
        failed[0]["error"].as_str().unwrap().contains("broken.jpg"),
        "{:?}",
        failed[0]
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(whole.join("manifest.shard-0-of-1.summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (summary["written"].as_u64(), summary["failed"].as_u64()),
        (Some(8), Some(1))
    );

    // Three shards, named three ways: the flag, Slurm's array variables, a Kubernetes index.
    let sharded = tmp.path().join("sharded");
    let out = sharded.to_str().unwrap();
    let common = ["--input-list", list_arg, "--overlay", "--out", out];
    ok(&predict(&[&common[..], &["--shard", "0/3"]].concat(), &[]));
    let stderr = ok(&predict(
        &common,
        &[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    ));
    assert!(
        stderr.contains("shard 1/3 (SLURM_ARRAY_TASK_ID): 3 of 9 inputs"),
        "{stderr}"
    );
    let stderr = ok(&predict(
        &[&common[..], &["--shards", "3"]].concat(),
        &[("JOB_COMPLETION_INDEX", "2")],
    ));
    assert!(
        stderr.contains("shard 2/3 (JOB_COMPLETION_INDEX)"),
        "{stderr}"
    );
    let got = outputs(&sharded);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (name, bytes) in &expected {
        if name.to_string_lossy().ends_with("_overlay.png") {
            // An overlay stretches its map to the map's own range (min-max), so the ~1e-7
            // differences a different batch composition makes in the f32 forward pass (GEMM
            // blocking) can move a pixel across a rounding step: one level, on a few pixels.
            let decode = |b: &[u8]| image::load_from_memory(b).unwrap().to_rgb8().into_raw();
            let (a, b) = (decode(&got[name]), decode(bytes));
            assert_eq!(a.len(), b.len(), "{}", name.display());
            let off: Vec<u8> = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).collect();
            let worst = off.iter().copied().max().unwrap_or(0);
            let share = off.iter().filter(|d| **d > 0).count() as f64 / off.len() as f64;
            assert!(
                worst <= 1 && share <= 0.01,
                "{} differs from the unsharded run by up to {worst} levels on {:.2}% of bytes",
                name.display(),
                share * 100.0
            );
            continue;
        }
        assert!(
            got[name] == *bytes,
            "{} differs from the unsharded run",
            name.display()
        );
    }
    let mut inputs: Vec<String> = (0..3)
        .flat_map(|i| manifest(&sharded.join(format!("manifest.shard-{i}-of-3.jsonl"))))
        .map(|l| l["input"].as_str().unwrap().to_string())
        .collect();
    inputs.sort();
    let mut all: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    all.sort();
    assert_eq!(inputs, all, "each input in exactly one shard's manifest");

    // --strict stops at the unreadable file, naming it.
    let strict = predict(
        &[
            "--input-list",
            list_arg,
            "--strict",
            "--out",
            tmp.path().join("strict").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("broken.jpg"));
}

#[test]
fn a_killed_shard_resumes_with_skip_existing_and_rewrites_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("images");
    let count = 48;
    for i in 0..count {
        let path = data.join(format!("part{}/img{i:02}.png", i % 3));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, encode(&scene(48, 40, i), ImageFormat::Png)).unwrap();
    }
    let out = tmp.path().join("out");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "predict",
            "--device",
            "cpu",
            "--batch-size",
            "1",
            "--overlay",
            "--input",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(data.display().to_string());
        a.extend([
            "--out".into(),
            out.display().to_string(),
            "--checkpoint".into(),
        ]);
        a.push(checkpoint().display().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let mut child = salient()
        .args(args(&[]))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let maps = |dir: &Path| {
        walk(dir)
            .into_iter()
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.ends_with(".png") && !n.contains("_overlay")
            })
            .count()
    };
    while !out.is_dir() || maps(&out) < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no output appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL: no chance to tidy up
    child.wait().unwrap();

    // What the killed run finished: inputs with both outputs present.
    let before: BTreeMap<PathBuf, (u64, i64, i64)> = walk(&out)
        .into_iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap();
            (p, (m.ino(), m.mtime(), m.mtime_nsec()))
        })
        .collect();
    let complete: Vec<&PathBuf> = before
        .keys()
        .filter(|p| !p.to_string_lossy().ends_with("_overlay.png"))
        .filter(|p| {
            before.contains_key(&PathBuf::from(
                p.to_string_lossy().replace(".png", "_overlay.png"),
            ))
        })
        .collect();
    assert!(
        complete.len() < count as usize,
        "the run was killed before finishing ({} done)",
        complete.len()
    );

    let output = salient().args(args(&["--skip-existing"])).output().unwrap();
    let stderr = ok(&output);
    assert!(
        stderr.contains(&format!("{} skipped", complete.len())),
        "{} complete before the restart:\n{stderr}",
        complete.len()
    );
    let after = walk(&out);
    let maps_after = after
        .iter()
        .filter(|p| {
            p.to_string_lossy().ends_with(".png") && !p.to_string_lossy().ends_with("_overlay.png")
        })
        .count();
    let overlays_after = after
        .iter()
        .filter(|p| p.to_string_lossy().ends_with("_overlay.png"))
        .count();
    assert_eq!(
        (maps_after, overlays_after),
        (count as usize, count as usize)
    );
    assert!(
        after.iter().all(|p| !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".salient-partial")),
        "no partial file left"
    );
    for map in complete {
        let overlay = PathBuf::from(map.to_string_lossy().replace(".png", "_overlay.png"));
        for path in [map, &overlay] {
            let m = std::fs::metadata(path).unwrap();
            assert_eq!(
                (m.ino(), m.mtime(), m.mtime_nsec()),
                before[path],
                "{} was rewritten",
                path.display()
            );
        }
    }
    let lines = manifest(&out.join("manifest.shard-0-of-1.jsonl"));
    assert_eq!(lines.len(), count as usize);
}
