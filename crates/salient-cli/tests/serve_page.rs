//! The page at `GET /` in a real headless browser (Debian's `chromium`, driven over the DevTools
//! protocol with `headless_chrome`): load it, upload a fixture image, wait for the overlay, check
//! it is drawn at the image's size, and save a screenshot under the test's temp dir
//! (`CARGO_TARGET_TMPDIR/serve-page/page.png`).
//!
//! Needs a Chromium or Chrome on the PATH (or `CHROME=/path`); `.ci/run` installs Debian's.

mod common;

use std::time::Duration;

use common::{encode, scene, Server};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions};
use image::ImageFormat;

#[test]
fn the_page_predicts_an_uploaded_image_and_draws_the_overlay_at_its_size() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (480u32, 320u32);
    let fixture = dir.path().join("street scene.png");
    std::fs::write(&fixture, encode(&scene(w, h, 0), ImageFormat::Png)).unwrap();

    let chrome = headless_chrome::browser::default_executable().unwrap_or_else(|e| {
        panic!("{e}: install Chromium (Debian: apt-get install chromium) or set CHROME=/path")
    });
    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(chrome))
            // Root in a container: Chromium's sandbox needs user namespaces it may not have.
            .sandbox(false)
            .window_size(Some((1400, 900)))
            .idle_browser_timeout(Duration::from_secs(180))
            .build()
            .unwrap(),
    )
    .expect("launching headless Chromium");
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(60));
    tab.navigate_to(&server.url("/"))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let title = tab.get_title().unwrap();
    assert!(title.contains("salient"), "{title}");
    // The model line is filled from /v1/model.
    tab.wait_for_element_with_custom_timeout("#model:not(:empty)", Duration::from_secs(30))
        .unwrap();

    let input = tab.wait_for_element("#file").unwrap();
    input.set_input_files(&[fixture.to_str().unwrap()]).unwrap();
    tab.wait_for_element_with_custom_timeout(
        "#overlay[data-ready='true']",
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| {
        let status = tab
            .evaluate("document.getElementById('status').textContent", false)
            .map(|r| r.value)
            .unwrap_or_default();
        panic!(
            "no overlay: {e}; page status: {status:?}; server log:\n{}",
            server.log()
        )
    });

    let facts = tab
        .evaluate(
            r#"(() => {
                const o = document.getElementById('overlay');
                const i = document.getElementById('image');
                const m = document.getElementById('heatmap');
                const px = (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
                const op = px(o), ip = px(i);
                let differ = 0;
                for (let k = 0; k < op.length; k += 4) if (op[k] !== ip[k] || op[k + 2] !== ip[k + 2]) differ++;
                return JSON.stringify({
                    overlay: [o.width, o.height], image: [i.width, i.height], heatmap: [m.width, m.height],
                    shown: !o.hidden, differ, pixels: o.width * o.height,
                    status: document.getElementById('status').textContent,
                    error: document.getElementById('status').classList.contains('error'),
                    downloads: Array.from(document.querySelectorAll('.downloads button')).every(b => !b.disabled),
                });
            })()"#,
            false,
        )
        .unwrap()
        .value
        .expect("the script returns a value");
    let facts: serde_json::Value = serde_json::from_str(facts.as_str().unwrap()).unwrap();
    let size = serde_json::json!([w, h]);
    assert_eq!(facts["overlay"], size, "{facts}");
    assert_eq!(facts["image"], size, "{facts}");
    assert_eq!(facts["heatmap"], size, "{facts}");
    assert_eq!(facts["shown"], true, "{facts}");
    assert_eq!(facts["error"], false, "{facts}");
    assert_eq!(facts["downloads"], true, "{facts}");
    // The heatmap is blended in: most overlay pixels differ from the image's.
    let differ = facts["differ"].as_f64().unwrap() / facts["pixels"].as_f64().unwrap();
    assert!(differ > 0.5, "{facts}");

    // The opacity slider redraws the overlay: at 0 it is the image itself.
    tab.evaluate(
        "(() => { const s = document.getElementById('opacity'); s.value = 0; s.dispatchEvent(new Event('input')); })()",
        false,
    )
    .unwrap();
    let same = tab
        .evaluate(
            r#"(() => {
                const d = (id) => document.getElementById(id).getContext('2d').getImageData(0, 0, 480, 320).data;
                const o = d('overlay'), i = d('image');
                return o.every((v, k) => v === i[k]);
            })()"#,
            false,
        )
        .unwrap()
        .value;
    assert_eq!(same, Some(serde_json::Value::Bool(true)));
    tab.evaluate(
        "(() => { const s = document.getElementById('opacity'); s.value = 45; s.dispatchEvent(new Event('input')); })()",
        false,
    )
    .unwrap();

    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("page.png");
    std::fs::write(&shot, &png).unwrap();
    let decoded = image::load_from_memory(&png).unwrap();
    assert!(decoded.width() >= 1000, "a full-page screenshot");
    eprintln!("screenshot: {}", shot.display());
}
