//! Headless Chromium for page tests: the DOM a page renders to, and a
//! screenshot of it, decoded. Chromium missing is a failure that says how
//! to install it (Debian: `apt-get install -y chromium`), never a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Chromium binary: `$CHROMIUM`, else the first of the usual names on
/// `PATH`. Panics, saying how to install it, when there is none.
pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM").map(PathBuf::from) {
        assert!(
            p.is_file(),
            "$CHROMIUM is {}, which is not a file: point it at a Chrome or Chromium binary, or unset it and `apt-get install -y chromium`",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "this test needs headless Chromium and found none on PATH (nor $CHROMIUM): \
         install it with `apt-get install -y chromium` (Debian), or point $CHROMIUM at a Chrome binary"
    );
}

/// Runs Chromium headless (as root it needs `--no-sandbox`) with `args`,
/// its own profile directory, and a deadline; returns stdout.
fn run(args: &[&str]) -> Vec<u8> {
    let profile = tempfile::tempdir().expect("a profile directory");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut out = Vec::new();
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => {
                assert!(status.success(), "chromium failed: {status}");
                break;
            }
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 90 s: {args:?}");
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    out.extend(reader.join().unwrap_or_default());
    out
}

/// The DOM `url` renders to.
pub async fn dump_dom(url: &str) -> String {
    let url = url.to_string();
    let out = tokio::task::spawn_blocking(move || run(&["--dump-dom", &url]))
        .await
        .expect("chromium thread");
    String::from_utf8_lossy(&out).into_owned()
}

/// A PNG screenshot of `url` at `width`×`height`, written to `file`.
pub async fn screenshot(url: &str, file: &Path, (width, height): (u32, u32)) {
    let (url, file) = (url.to_string(), file.to_path_buf());
    tokio::task::spawn_blocking(move || {
        run(&[
            &format!("--screenshot={}", file.display()),
            &format!("--window-size={width},{height}"),
            &url,
        ])
    })
    .await
    .expect("chromium thread");
}

/// A decoded PNG: its size and RGBA pixels.
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<[u8; 4]>,
}

impl Pixels {
    /// Distinct colours, counted up to `limit`.
    pub fn colours(&self, limit: usize) -> usize {
        let mut seen = std::collections::HashSet::new();
        for p in &self.rgba {
            seen.insert(*p);
            if seen.len() >= limit {
                break;
            }
        }
        seen.len()
    }
}

/// Decodes a PNG file into RGBA pixels.
pub fn decode_png(file: &Path) -> Pixels {
    let data = std::fs::read(file).expect("the screenshot file");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let bytes = &buf[..info.buffer_size()];
    let rgba = match info.color_type {
        png::ColorType::Rgba => bytes.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect(),
        png::ColorType::Rgb => bytes.chunks(3).map(|c| [c[0], c[1], c[2], 255]).collect(),
        png::ColorType::GrayscaleAlpha => {
            bytes.chunks(2).map(|c| [c[0], c[0], c[0], c[1]]).collect()
        }
        png::ColorType::Grayscale => bytes.iter().map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => panic!("indexed PNG after EXPAND"),
    };
    Pixels {
        width: info.width,
        height: info.height,
        rgba,
    }
}
