//! The dataset releases as their authors ship them, on small generated files in the real formats:
//! SALICON 2017 `.mat` fixations, MIT1003 as downloaded, CAT2000 (with an `Output/` folder),
//! OSIE's `fixations.mat`, the generic CSV layout; `.mat` files written by scipy (free header
//! text) and by a MATLAB-style writer; splits that never read another split.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{mkdir, picture, saliency};
use image::{GrayImage, Luma};
use salient_data::{
    Dataset, DiscoverOptions, FixationSource, LayoutKind, MapSigma, MapSource, Split, SplitRule,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mat")
        .join(name)
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn pairs(value: &serde_json::Value) -> Vec<(u32, u32)> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_u64().unwrap() as u32))
        .collect()
}

/// The fixtures' image size.
const W: u32 = 40;
const H: u32 = 30;

/// Saves through libjpeg-turbo for `.jpg`/`.jpeg` (the `image` crate is built without JPEG),
/// else through `image`.
fn save(image: image::DynamicImage, path: &Path) {
    mkdir(path.parent().unwrap());
    let jpeg = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jpg" | "jpeg")
    );
    if !jpeg {
        return image.save(path).unwrap();
    }
    let (pixels, channels) = match &image {
        image::DynamicImage::ImageLuma8(g) => (g.as_raw().clone(), 1),
        other => (other.to_rgb8().into_raw(), 3),
    };
    let bytes =
        salient_data::jpeg::encode(&pixels, image.width(), image.height(), channels, 90).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn image(path: &Path) {
    save(picture(W, H, 40).into(), path);
}

fn map(path: &Path) {
    save(saliency(W, H).into(), path);
}

fn all(root: &Path, split: Split) -> Dataset {
    Dataset::discover(root, &DiscoverOptions::for_split(split)).unwrap()
}

#[test]
fn salicon_2017_mat_fixations_subtract_one_clip_and_keep_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    image(&root.join("images/val/COCO_val2014_000000000042.jpg"));
    map(&root.join("maps/val/COCO_val2014_000000000042.png"));
    mkdir(&root.join("fixations/val"));
    std::fs::copy(
        fixture("salicon_gaze.mat"),
        root.join("fixations/val/COCO_val2014_000000000042.mat"),
    )
    .unwrap();
    let data = all(root, Split::Val);
    assert_eq!(data.layout(), LayoutKind::Salicon);
    let sample = &data.split(Split::Val)[0];
    assert!(matches!(
        sample.fixations,
        Some(FixationSource::SaliconMat(_))
    ));
    let pixels = sample.load_fixation_pixels().unwrap().unwrap();
    assert_eq!(pixels.pixels, pairs(&expected()["salicon_gaze.mat"]));
    // Viewers are numbered in the gaze array's order; the second has no fixation.
    let (points, size) = sample.load_fixation_points().unwrap().unwrap();
    assert_eq!(size, (W, H));
    let subjects: Vec<u32> = points.iter().map(|p| p.subject).collect();
    assert_eq!(subjects, [1, 1, 1, 3, 3, 3]);
}

#[test]
fn salicon_without_maps_builds_them_from_the_fixations() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    image(&root.join("images/train/a.jpg"));
    mkdir(&root.join("fixations/train"));
    std::fs::copy(
        fixture("salicon_gaze.mat"),
        root.join("fixations/train/a.mat"),
    )
    .unwrap();
    let data = all(root, Split::Train);
    let sample = &data.split(Split::Train)[0];
    assert_eq!(
        sample.map,
        MapSource::FromFixations {
            sigma: MapSigma::DEFAULT
        }
    );
    let built = sample.load_map().unwrap();
    assert_eq!((built.width, built.height), (40, 30));
    // The repeated fixation at (9, 4) is the peak.
    assert_eq!(built.data[4 * 40 + 9], 1.0);
}

#[test]
fn mit1003_as_downloaded_routes_maps_and_points_by_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for stem in [
        "i05june05_static_street_boston_p1010764",
        "istatic_submitted_x",
    ] {
        image(&root.join(format!("ALLSTIMULI/{stem}.jpeg")));
        map(&root.join(format!("ALLFIXATIONMAPS/{stem}_fixMap.jpg")));
        let mut points = GrayImage::new(W, H);
        for (x, y) in [(3, 4), (20, 10), (21, 10)] {
            points.put_pixel(x, y, Luma([255]));
        }
        save(
            points.into(),
            &root.join(format!("ALLFIXATIONMAPS/{stem}_fixPts.jpg")),
        );
    }
    std::fs::write(root.join("ALLFIXATIONMAPS/Thumbs.db"), b"x").unwrap();
    let data = all(root, Split::All);
    assert_eq!(data.layout(), LayoutKind::Mit1003);
    assert_eq!(data.split(Split::All).len(), 2);
    let sample = &data.split(Split::All)[0];
    assert!(sample
        .map
        .file()
        .unwrap()
        .ends_with("ALLFIXATIONMAPS/i05june05_static_street_boston_p1010764_fixMap.jpg"));
    // JPEG ringing around the points is not a fixation: exactly the three points survive the
    // threshold (grey >= 128).
    let pixels = sample.load_fixation_pixels().unwrap().unwrap();
    assert_eq!(pixels.pixels, [(3, 4), (20, 10), (21, 10)]);
    assert!(
        data.notes().iter().any(|n| n.contains("Thumbs.db")),
        "{:?}",
        data.notes()
    );
    // Scoring "all" says so; with no list files the other splits are a seeded draw.
    assert_eq!(
        *data.rule(),
        SplitRule::Fraction {
            seed: 0,
            val_fraction: 0.1
        }
    );
}

#[test]
fn cat2000_reads_fixlocs_and_skips_output_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for cat in ["Action", "Affective"] {
        image(&root.join(format!("Stimuli/{cat}/001.jpg")));
        image(&root.join(format!("Stimuli/{cat}/Output/001_SaliencyMap.jpg")));
        map(&root.join(format!("FIXATIONMAPS/{cat}/001.jpg")));
        mkdir(&root.join(format!("FIXATIONLOCS/{cat}")));
        std::fs::copy(
            fixture("cat2000_fixlocs.mat"),
            root.join(format!("FIXATIONLOCS/{cat}/001.mat")),
        )
        .unwrap();
    }
    let data = all(root, Split::All);
    assert_eq!(data.layout(), LayoutKind::Cat2000);
    let stems: Vec<&str> = data
        .split(Split::All)
        .iter()
        .map(|s| s.stem.as_str())
        .collect();
    assert_eq!(stems, ["Action/001", "Affective/001"]);
    let pixels = data.split(Split::All)[1]
        .load_fixation_pixels()
        .unwrap()
        .unwrap();
    assert_eq!(pixels.pixels, pairs(&expected()["cat2000_fixlocs.mat"]));
    assert!(
        data.notes()
            .iter()
            .any(|n| n.starts_with("2 model-output folder(s) skipped")),
        "{:?}",
        data.notes()
    );
}

fn osie_root(root: &Path, mat: &Path) {
    image(&root.join("stimuli/a.jpg"));
    image(&root.join("stimuli/b.jpg"));
    std::fs::copy(mat, root.join("fixations.mat")).unwrap();
}

#[test]
fn osie_reads_its_cell_of_structs_written_by_scipy() {
    let dir = tempfile::tempdir().unwrap();
    osie_root(dir.path(), &fixture("osie_fixations.mat"));
    let data = all(dir.path(), Split::All);
    assert_eq!(data.layout(), LayoutKind::Osie);
    let want = expected();
    for sample in data.split(Split::All) {
        let name = format!("{}.jpg", sample.stem);
        let pixels = sample.load_fixation_pixels().unwrap().unwrap();
        assert_eq!(
            pixels.pixels,
            pairs(&want["osie_fixations.mat"][&name]),
            "{name}"
        );
        assert_eq!(
            sample.map,
            MapSource::FromFixations {
                sigma: MapSigma::Pixels(24.0)
            }
        );
    }
    let Some(FixationSource::Points(points)) = &data.split(Split::All)[0].fixations else {
        panic!("OSIE fixations are coordinates");
    };
    assert_eq!(points[0].duration, Some(200.0));
    assert_eq!(points[2].subject, 2);
}

/// The same structure written the way MATLAB writes it ("MATLAB 5.0 MAT-file, Platform: ...",
/// what the real OSIE file has), here by matrw.
#[test]
fn osie_reads_a_matlab_style_file() {
    use matrw::{matfile, matvar, save_matfile_v7};
    let dir = tempfile::tempdir().unwrap();
    let mat = dir.path().join("written.mat");
    let file = matfile!(
        fixations: matvar!([
            { img: "a.jpg", subjects: matvar!([{ fix_x: matvar!([1.5, 2.5]), fix_y: matvar!([3.0, 4.0]), fix_duration: matvar!([10.0, 20.0]) }]) },
            { img: "b.jpg", subjects: matvar!([{ fix_x: matvar!([5.0]), fix_y: matvar!([6.0]), fix_duration: matvar!([30.0]) }]) },
        ])
    );
    save_matfile_v7(mat.to_str().unwrap(), file, false).unwrap();
    assert!(std::fs::read(&mat)
        .unwrap()
        .starts_with(b"MATLAB 5.0 MAT-file, "));
    let root = dir.path().join("osie");
    osie_root(&root, &mat);
    let data = all(&root, Split::All);
    let pixels: Vec<_> = data
        .split(Split::All)
        .iter()
        .map(|s| s.load_fixation_pixels().unwrap().unwrap().pixels)
        .collect();
    assert_eq!(pixels, [vec![(1, 3), (2, 4)], vec![(5, 6)]]);
}

#[test]
fn generic_csv_layout_with_nested_folders_and_optional_maps() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    image(&root.join("stimuli/indoor/a.png"));
    image(&root.join("stimuli/outdoor/a.png"));
    map(&root.join("maps/outdoor/a.png"));
    std::fs::write(
        root.join("fixations.csv"),
        "image,x,y,subject,t,duration\n\
         indoor/a.png,3.9,2.1,1,0,250\n\
         indoor/a.png,3.9,2.1,2,,\n\
         outdoor/a.png,39.99,29.5,1,10,100\n\
         nowhere.png,1,1,1,0,1\n",
    )
    .unwrap();
    let data = all(root, Split::All);
    assert_eq!(data.layout(), LayoutKind::Csv);
    let [indoor, outdoor] = data.split(Split::All) else {
        panic!("two images");
    };
    assert_eq!(
        indoor.load_fixation_pixels().unwrap().unwrap().pixels,
        [(3, 2), (3, 2)],
        "repeated fixations on one pixel are kept"
    );
    assert!(matches!(indoor.map, MapSource::FromFixations { .. }));
    assert!(outdoor.map.file().unwrap().ends_with("maps/outdoor/a.png"));
    assert_eq!(
        outdoor.load_fixation_pixels().unwrap().unwrap().pixels,
        [(39, 29)]
    );
    assert!(
        data.notes().iter().any(|n| n.contains("nowhere.png")),
        "{:?}",
        data.notes()
    );
}

#[test]
fn bad_csv_rows_and_off_image_fixations_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    image(&root.join("stimuli/a.png"));
    std::fs::write(root.join("fixations.csv"), "image,x,y\na.png,abc,2\n").unwrap();
    let e = Dataset::discover(root, &DiscoverOptions::for_split(Split::All))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fixations.csv") && e.contains("line 2"), "{e}");
    std::fs::write(root.join("fixations.csv"), "image,y\na.png,2\n").unwrap();
    let e = Dataset::discover(root, &DiscoverOptions::for_split(Split::All))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no 'x' column"), "{e}");
    std::fs::write(root.join("fixations.csv"), "image,x,y\na.png,40.0,2\n").unwrap();
    let data = all(root, Split::All);
    let e = data.split(Split::All)[0]
        .load_fixation_pixels()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a.png") && e.contains("outside the 40x30 image"),
        "{e}"
    );
}

/// A corrupt `.mat` is an error naming it, never a panic.
#[test]
fn corrupt_mat_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    image(&root.join("stimuli/a.jpg"));
    let good = std::fs::read(fixture("osie_fixations.mat")).unwrap();
    for cut in [10, 130, good.len() / 2, good.len() - 3] {
        std::fs::write(root.join("fixations.mat"), &good[..cut]).unwrap();
        let e = Dataset::discover(root, &DiscoverOptions::for_split(Split::All))
            .unwrap_err()
            .to_string();
        assert!(e.contains("fixations.mat"), "cut at {cut}: {e}");
    }
}

fn flat_dataset(root: &Path, n: usize) {
    for i in 0..n {
        image(&root.join(format!("stimuli/{i:02}.jpg")));
        map(&root.join(format!("saliency/{i:02}.png")));
    }
}

#[test]
fn splits_from_list_files_and_one_split_never_reads_another() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    flat_dataset(root, 6);
    std::fs::write(
        mkdir(&root.join("splits")).join("val.txt"),
        "04.jpg\n05.jpg\n",
    )
    .unwrap();
    // A training image without its map: scoring val must not even notice.
    std::fs::remove_file(root.join("saliency/00.png")).unwrap();
    let val = all(root, Split::Val);
    let stems: Vec<&str> = val
        .split(Split::Val)
        .iter()
        .map(|s| s.stem.as_str())
        .collect();
    assert_eq!(stems, ["04", "05"]);
    assert!(matches!(val.rule(), SplitRule::Lists { .. }));
    let e = Dataset::discover(root, &DiscoverOptions::for_split(Split::Train))
        .unwrap_err()
        .to_string();
    assert!(e.contains("00.jpg") && e.contains("missing map"), "{e}");
    let e = Dataset::discover(root, &DiscoverOptions::for_split(Split::Test))
        .unwrap_err()
        .to_string();
    assert!(e.contains("test.txt"), "{e}");
}

#[test]
fn split_folders_are_read_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::salicon(root, 2, 2, 24, 16);
    std::fs::remove_file(root.join("maps/train/img000.png")).unwrap();
    let val = all(root, Split::Val);
    assert_eq!(val.split(Split::Val).len(), 2);
    assert!(Dataset::discover(root, &DiscoverOptions::for_split(Split::All)).is_err());
    std::fs::write(root.join("maps/train/img000.png"), b"").unwrap();
    let both = Dataset::discover(
        root,
        &DiscoverOptions {
            skip_bad: true,
            ..DiscoverOptions::for_split(Split::All)
        },
    )
    .unwrap();
    assert_eq!(both.split(Split::All).len(), 3);
    assert_eq!(both.skipped().len(), 1);
}

/// The real OSIE release in ../shared/realdata: its authors' MATLAB file read as pysaliency
/// reads it. Per-image fixation counts equal the README's derived CSV, lossless from the
/// `.mat`; 700 images, 98,321 fixations, 15 viewers each.
#[test]
fn real_osie_fixation_counts_equal_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/realdata/osie");
    assert!(
        root.join("fixations.mat").is_file(),
        "the real OSIE data is missing at {} (CI copies shared/ beside the clone)",
        root.display()
    );
    let data = Dataset::discover(
        &root,
        &DiscoverOptions {
            check_headers: false,
            ..DiscoverOptions::for_split(Split::All)
        },
    )
    .unwrap();
    assert_eq!(data.layout(), LayoutKind::Osie);
    let samples = data.split(Split::All);
    assert_eq!(samples.len(), 700);
    let csv = std::fs::read_to_string(root.join("fixations.csv")).unwrap();
    let mut from_csv: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let entry = from_csv.entry(f[0].to_string()).or_insert((0, 0.0, 0.0));
        entry.0 += 1;
        entry.1 += f[3].parse::<f64>().unwrap();
        entry.2 += f[4].parse::<f64>().unwrap();
    }
    let mut total = 0;
    for sample in samples {
        let Some(FixationSource::Points(points)) = &sample.fixations else {
            panic!("{}: coordinates expected", sample.stem);
        };
        let (n, sx, sy) = from_csv[&format!("{}.jpg", sample.stem)];
        assert_eq!(points.len(), n, "{}", sample.stem);
        assert!((111..=179).contains(&n), "{}: {n}", sample.stem);
        let subjects: std::collections::BTreeSet<u32> = points.iter().map(|p| p.subject).collect();
        assert_eq!(subjects.len(), 15, "{}", sample.stem);
        // Coordinates as stored (no shift): the sums agree with the CSV's.
        let (px, py): (f64, f64) = points
            .iter()
            .fold((0.0, 0.0), |a, p| (a.0 + p.x, a.1 + p.y));
        assert!(
            (px - sx).abs() <= 1e-6 * sx && (py - sy).abs() <= 1e-6 * sy,
            "{}",
            sample.stem
        );
        total += n;
    }
    assert_eq!(total, 98_321);
}
