//! The site in headless Chromium, at a phone's width (390 px) and a desktop's (1440 px):
//! a screenshot of each page into the test output folder, no console message (the pages have
//! no script, so any message is an error: a blocked resource, a parse complaint), and nothing
//! wider than the viewport except inside the scrolling table and figure boxes.
//!
//! The overflow check loads every page into an iframe of the width under test inside a
//! harness page of the test's own (a copy of the site in a scratch folder, so the site stays
//! script-free); the harness's script measures each element's right edge and writes what
//! sticks out into an attribute that `--dump-dom` prints. An iframe because headless Chromium
//! lays a window out at least 500 px wide, and a phone is narrower.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const WIDTHS: [u32; 2] = [390, 1440];

fn chromium(scratch: &Path, args: &[String]) -> (bool, String, String) {
    let out = Command::new("timeout")
        .arg("180")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ))
        .args(args)
        .output()
        .expect("run chromium");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Screenshots of `pages` (paths relative to `site`) at both widths into `shots`, named
/// `<name>-<width>.png`; panics on a console message. Returns the files.
pub fn screenshots(
    site: &Path,
    pages: &[(String, String)],
    shots: &Path,
    scratch: &Path,
) -> Vec<PathBuf> {
    std::fs::create_dir_all(shots).unwrap();
    let mut out = Vec::new();
    for (name, page) in pages {
        for w in WIDTHS {
            let png = shots.join(format!("{name}-{w}.png"));
            let _ = std::fs::remove_file(&png);
            // A browser that dies before drawing (seen once on the loaded 2-core machine) is
            // started again, twice at most; what the page logs is judged every time.
            let mut err = String::new();
            for _ in 0..3 {
                err = chromium(
                    scratch,
                    &[
                        format!("--screenshot={}", png.display()),
                        format!("--window-size={w},2400"),
                        format!("file://{}", site.join(page).display()),
                    ],
                )
                .2;
                let console = console_lines(&err);
                assert!(
                    console.is_empty(),
                    "{page} at {w} px: console messages:\n{}",
                    console.join("\n")
                );
                if png.is_file() {
                    break;
                }
            }
            assert!(png.is_file(), "no screenshot of {page} at {w} px:\n{err}");
            out.push(png);
        }
    }
    out
}

const HARNESS: &str = r#"<!DOCTYPE html><html><body>{frames}
<script>
window.addEventListener('load', function () {
  var report = [];
  document.querySelectorAll('iframe').forEach(function (f) {
    var d = f.contentDocument, W = d.defaultView.innerWidth, bad = [];
    d.querySelectorAll('body *').forEach(function (e) {
      if (e.closest('.table-wrap, .figure-wrap')) return;
      var r = e.getBoundingClientRect();
      if (r.width > 0 && r.right > W + 0.5) bad.push(e.tagName.toLowerCase() + '.' + e.className + ' right=' + Math.round(r.right));
    });
    if (d.documentElement.scrollWidth > W) bad.push('page scrollWidth=' + d.documentElement.scrollWidth);
    report.push(f.getAttribute('src') + ' @' + W + ': ' + (bad.length ? bad.join('; ') : 'ok'));
  });
  document.body.setAttribute('data-report', report.join(' | '));
});
</script></body></html>"#;

/// For each width, every page that sticks out of the viewport (empty: none does).
pub fn overflow(site: &Path, pages: &[(String, String)], scratch: &Path) -> Vec<String> {
    let copy = scratch.join("site-copy");
    copy_dir(site, &copy);
    let mut faults = Vec::new();
    for w in WIDTHS {
        let frames: String = pages
            .iter()
            .map(|(_, p)| format!("<iframe src=\"{p}\" width=\"{w}\" height=\"900\"></iframe>"))
            .collect();
        let harness = copy.join(format!("__overflow_{w}.html"));
        std::fs::write(&harness, HARNESS.replace("{frames}", &frames)).unwrap();
        let (ok, dom, err) = chromium(
            scratch,
            &[
                "--allow-file-access-from-files".into(),
                "--virtual-time-budget=10000".into(),
                "--window-size=1600,1000".into(),
                "--dump-dom".into(),
                format!("file://{}", harness.display()),
            ],
        );
        assert!(ok, "chromium failed on the overflow harness:\n{err}");
        let report = dom
            .split("data-report=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("the harness wrote no report:\n{dom}\n{err}"));
        let report = super::html::unescape(report);
        for line in report.split(" | ") {
            assert!(
                line.contains(&format!("@{w}:")),
                "an iframe was not {w} px wide: {line}"
            );
            if !line.ends_with(": ok") {
                faults.push(line.to_string());
            }
        }
        assert_eq!(report.split(" | ").count(), pages.len(), "{report}");
    }
    faults
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}
