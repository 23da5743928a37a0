//! The synthetic generator: deterministic, SALICON-shaped, maps that follow the fixations.

use salient_data::synth::{synth_scene, write_synthetic, SynthOptions};
use salient_data::{load_fixations, load_map, Dataset, DiscoverOptions, LayoutKind, Split};

#[test]
fn writes_a_discoverable_salicon_dataset_deterministically() {
    let options = SynthOptions {
        train: 4,
        val: 2,
        width: 48,
        height: 32,
        seed: 3,
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let summary = write_synthetic(a.path(), &options).unwrap();
    write_synthetic(b.path(), &options).unwrap();
    assert_eq!((summary.train, summary.val), (4, 2));
    assert!(summary.fixations > 6 * 5, "several fixations per scene");

    let data = Dataset::discover(a.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(data.layout(), LayoutKind::Salicon);
    assert_eq!(
        (data.split(Split::Train).len(), data.split(Split::Val).len()),
        (4, 2)
    );
    for sample in data.split(Split::Train) {
        let relative = sample.image.strip_prefix(a.path()).unwrap();
        assert_eq!(
            std::fs::read(&sample.image).unwrap(),
            std::fs::read(b.path().join(relative)).unwrap()
        );
        let map = load_map(sample.map.file().unwrap()).unwrap();
        // Non-negative values: the largest magnitude is the peak (NaN if any is NaN).
        assert_eq!(
            salient_test_support::max_abs(&map.data),
            1.0,
            "maps peak at 255"
        );
        let fix =
            load_fixations(sample.fixations.as_ref().and_then(|f| f.file()).unwrap()).unwrap();
        let on_fix: f32 = fix
            .points()
            .iter()
            .map(|&(y, x)| map.data[y as usize * 48 + x as usize])
            .sum::<f32>()
            / fix.count() as f32;
        let mean: f32 = map.data.iter().sum::<f32>() / map.data.len() as f32;
        assert!(
            on_fix > 2.0 * mean,
            "maps are high where fixations are ({on_fix} vs mean {mean})"
        );
    }
    let other = tempfile::tempdir().unwrap();
    write_synthetic(other.path(), &SynthOptions { seed: 4, ..options }).unwrap();
    let name = "images/train/synth_train_000000.jpg";
    assert_ne!(
        std::fs::read(a.path().join(name)).unwrap(),
        std::fs::read(other.path().join(name)).unwrap()
    );
}

#[test]
fn objects_are_brighter_than_the_background_where_people_look() {
    use rand::SeedableRng;
    let scene = synth_scene(64, 48, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let bright = |x: u32, y: u32| {
        scene
            .image
            .get_pixel(x, y)
            .0
            .iter()
            .map(|&v| v as u32)
            .max()
            .unwrap()
    };
    let (mut on, mut n_on, mut off, mut n_off) = (0u32, 0u32, 0u32, 0u32);
    for (x, y, p) in scene.map.enumerate_pixels() {
        if p.0[0] > 200 {
            on += bright(x, y);
            n_on += 1;
        } else if p.0[0] < 10 {
            off += bright(x, y);
            n_off += 1;
        }
    }
    assert!(n_on > 0 && n_off > 0);
    assert!(
        on / n_on > off / n_off + 60,
        "salient regions are the bright objects"
    );
}

#[test]
fn tiny_or_empty_requests_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(write_synthetic(
        dir.path(),
        &SynthOptions {
            width: 8,
            ..Default::default()
        }
    )
    .is_err());
    assert!(write_synthetic(
        dir.path(),
        &SynthOptions {
            train: 0,
            ..Default::default()
        }
    )
    .is_err());
}
