//! `cargo xtask build` and `cargo xtask serve`: the web page as a static site in `dist/`.
//!
//! build: the library for wasm32 (release), wasm-bindgen run as a library (no CLI to install),
//! then `dist/` = `index.html` + `web/` + `assets/mnist-digits.bin.gz` + `pkg/` (the bindgen
//! output). serve: build, then a small std-only static server on 127.0.0.1.

use anyhow::{Context as _, Result, bail};
use flate2::{Compression, write::GzEncoder};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::run_cmd;

const TARGET: &str = "wasm32-unknown-unknown";
/// The crate's name as the wasm file and the bindgen output are named.
const STEM: &str = "lottery_lab";

/// Build the page into `<root>/dist` (removed first) and return its path.
pub fn build(root: &Path) -> Result<PathBuf> {
    let started = Instant::now();
    check_bindgen_version(root)?;
    run_cmd(Command::new("rustup").args(["target", "add", TARGET]))?;
    println!("=== cargo rustc --release --lib --crate-type cdylib --target {TARGET}");
    run_cmd(
        Command::new(env!("CARGO"))
            .args(["rustc", "--release", "--lib", "--package", "lottery-lab"])
            .args(["--crate-type", "cdylib", "--target", TARGET])
            .current_dir(root),
    )?;
    let wasm = target_dir(root)
        .join(TARGET)
        .join("release")
        .join(format!("{STEM}.wasm"));

    let dist = root.join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    let pkg = dist.join("pkg");
    std::fs::create_dir_all(&pkg)?;

    println!("=== wasm-bindgen (web target) -> {}", pkg.display());
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        // The library's default (true) leaves init() without the wasm's URL (toolchain.md).
        .omit_default_module_path(false)
        .remove_name_section(true)
        .typescript(false)
        .generate(&pkg)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))?;

    std::fs::copy(root.join("index.html"), dist.join("index.html")).context("index.html")?;
    copy_dir(&root.join("web"), &dist.join("web"))?;
    std::fs::create_dir_all(dist.join("assets"))?;
    std::fs::copy(
        root.join("assets/mnist-digits.bin.gz"),
        dist.join("assets/mnist-digits.bin.gz"),
    )
    .context("assets/mnist-digits.bin.gz")?;

    std::fs::remove_file(dist.join("web/sw.template.js")).context("web/sw.template.js")?;
    let template = std::fs::read_to_string(root.join("web/sw.template.js"))?;
    let files = site_files(&dist)?;
    let hash = build_hash(&files);
    std::fs::write(dist.join("sw.js"), service_worker(&template, &hash, &files))?;
    println!(
        "=== dist/ ({:.1} s), build {hash}",
        started.elapsed().as_secs_f64()
    );
    for file in [format!("{STEM}_bg.wasm"), format!("{STEM}.js")] {
        let path = pkg.join(&file);
        let bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&bytes)?;
        println!(
            "  pkg/{file}: {} raw, {} gzip",
            human(bytes.len()),
            human(gz.finish()?.len())
        );
    }
    Ok(dist)
}

/// Every file of the site (relative paths, `/`-separated, sorted) with its bytes.
fn site_files(dist: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, base, out)?;
            } else {
                let rel = path
                    .strip_prefix(base)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&path)?));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dist, dist, &mut files)?;
    files.retain(|(name, _)| name != "sw.js");
    files.sort();
    Ok(files)
}

/// A hash of every file's name and bytes (FNV-1a 64): any change to the build changes it.
pub fn build_hash(files: &[(String, Vec<u8>)]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (name, bytes) in files {
        feed(name.as_bytes());
        feed(&(bytes.len() as u64).to_le_bytes());
        feed(bytes);
    }
    format!("{hash:016x}")
}

/// dist/sw.js: the template with this build's cache name and file list.
pub fn service_worker(template: &str, hash: &str, files: &[(String, Vec<u8>)]) -> String {
    let mut urls = vec!["./".to_string()];
    urls.extend(files.iter().map(|(name, _)| name.clone()));
    template
        .replace("__BUILD_HASH__", hash)
        .replace("__FILES__", &serde_json::to_string(&urls).expect("strings"))
}

/// `cargo xtask serve [--port N]`: build, then serve `dist/` until stopped.
pub fn serve(root: &Path, args: &[String]) -> Result<()> {
    let mut port: u16 = 8080;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().context("--port needs a number")?;
                port = value
                    .parse()
                    .with_context(|| format!("--port: '{value}' is not a port number"))?;
            }
            other => bail!("serve: unknown argument '{other}' (usage: serve [--port N])"),
        }
    }
    let dist = build(root)?;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("binding 127.0.0.1:{port} (try --port)"))?;
    println!("\nserving {} at http://127.0.0.1:{port}/", dist.display());
    println!("(Ctrl-C to stop)");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let dist = dist.clone();
        std::thread::spawn(move || {
            if let Err(e) = handle(stream, &dist) {
                eprintln!("request failed: {e}");
            }
        });
    }
    Ok(())
}

/// Cargo.lock must hold one wasm-bindgen, the same version as the wasm-bindgen-cli-support
/// compiled into this tool: otherwise the generated JS does not fit the wasm's glue.
fn check_bindgen_version(root: &Path) -> Result<()> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let runtime = locked_versions(&lock, "wasm-bindgen");
    let cli = locked_versions(&lock, "wasm-bindgen-cli-support");
    match (runtime.as_slice(), cli.as_slice()) {
        ([r], [c]) if r == c => Ok(()),
        _ => bail!(
            "wasm-bindgen versions differ: Cargo.lock has wasm-bindgen {runtime:?} (the crate) \
             and wasm-bindgen-cli-support {cli:?} (xtask). Pin both to the same version with `=` \
             in Cargo.toml and xtask/Cargo.toml."
        ),
    }
}

/// Every version Cargo.lock records for the package `name`.
fn locked_versions(lock: &str, name: &str) -> Vec<String> {
    let mut versions = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"")
            && let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
        {
            versions.push(v.trim_matches('"').to_string());
        }
    }
    versions
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("{}", from.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(&path, to.join(entry.file_name()))
                .with_context(|| format!("{}", path.display()))?;
        }
    }
    Ok(())
}

fn human(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

// ---- the static server -------------------------------------------------------------------

/// One request, then close. Bad requests get a 4xx, never a panic.
fn handle(stream: TcpStream, dist: &Path) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(16 * 1024);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    // Drain the headers (bounded by take() above).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let mut stream = stream;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
            false,
        );
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET or HEAD only\n",
            head_only,
        );
    }
    let response = match resolve(dist, target) {
        Err(status) => respond(
            &mut stream,
            status,
            "text/plain",
            status.as_bytes(),
            head_only,
        ),
        Ok(path) => match std::fs::read(&path) {
            Ok(body) => respond(&mut stream, "200 OK", mime(&path), &body, head_only),
            Err(_) => respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                b"not found\n",
                head_only,
            ),
        },
    };
    println!("{method} {target}");
    response
}

/// Map a request target to a file under `dist`, or the status to answer with.
fn resolve(dist: &Path, target: &str) -> std::result::Result<PathBuf, &'static str> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err("400 Bad Request");
    }
    let decoded = percent_decode(path).ok_or("400 Bad Request")?;
    let mut file = dist.to_path_buf();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == ".." || segment == "." || segment.contains('\\') || segment.contains('\0') {
            return Err("403 Forbidden");
        }
        file.push(segment);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    if file.is_file() {
        Ok(file)
    } else {
        Err("404 Not Found")
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Content types by extension. `.gz` is served as an opaque binary, with no
/// Content-Encoding: the app decompresses the digit file itself.
fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "gz" => "application/gzip",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> Result<()> {
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-serve-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.join("pkg/a b.wasm"), [0u8, 97, 115, 109]).unwrap();
        dir
    }

    #[test]
    fn resolves_files_and_rejects_escapes() {
        let dist = site();
        assert_eq!(resolve(&dist, "/").unwrap(), dist.join("index.html"));
        assert_eq!(
            resolve(&dist, "/index.html?x=1").unwrap(),
            dist.join("index.html")
        );
        assert_eq!(
            resolve(&dist, "/pkg/a%20b.wasm").unwrap(),
            dist.join("pkg/a b.wasm")
        );
        assert_eq!(resolve(&dist, "/missing.js"), Err("404 Not Found"));
        assert_eq!(resolve(&dist, "/../Cargo.toml"), Err("403 Forbidden"));
        assert_eq!(resolve(&dist, "/pkg/%2e%2e/%2e%2e/x"), Err("403 Forbidden"));
        assert_eq!(resolve(&dist, "/%zz"), Err("400 Bad Request"));
        assert_eq!(resolve(&dist, "http://x/"), Err("400 Bad Request"));
        std::fs::remove_dir_all(dist).unwrap();
    }

    #[test]
    fn the_cache_name_changes_with_the_build() {
        let files = |wasm: &[u8]| {
            vec![
                ("index.html".to_string(), b"<html>".to_vec()),
                ("pkg/lottery_lab_bg.wasm".to_string(), wasm.to_vec()),
            ]
        };
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/sw.template.js"),
        )
        .unwrap();
        let a = files(b"\0asm1");
        let b = files(b"\0asm2");
        let (hash_a, hash_b) = (build_hash(&a), build_hash(&b));
        assert_ne!(hash_a, hash_b, "one changed byte, a new cache");
        assert_eq!(
            hash_a,
            build_hash(&files(b"\0asm1")),
            "the same build, the same cache"
        );
        // A file renamed (same bytes) is a different build too.
        let mut renamed = a.clone();
        renamed[0].0 = "other.html".into();
        assert_ne!(build_hash(&renamed), hash_a);
        let sw = service_worker(&template, &hash_a, &a);
        assert!(sw.contains(&format!("const CACHE = \"lottery-lab-{hash_a}\";")));
        assert!(sw.contains(r#"const FILES = ["./","index.html","pkg/lottery_lab_bg.wasm"];"#));
        assert!(!sw.contains("__"), "every placeholder filled");
        assert_ne!(sw, service_worker(&template, &hash_b, &b));
    }

    #[test]
    fn content_types() {
        assert_eq!(mime(Path::new("x_bg.wasm")), "application/wasm");
        assert_eq!(mime(Path::new("x.js")), "text/javascript; charset=utf-8");
        assert_eq!(mime(Path::new("m.bin.gz")), "application/gzip");
    }

    #[test]
    fn reads_locked_versions() {
        let lock = "[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n\n\
                    [[package]]\nname = \"wasm-bindgen-cli-support\"\nversion = \"0.2.130\"\n";
        assert_eq!(locked_versions(lock, "wasm-bindgen"), ["0.2.130"]);
        assert_eq!(
            locked_versions(lock, "wasm-bindgen-cli-support"),
            ["0.2.130"]
        );

        let dir = std::env::temp_dir().join(format!("xtask-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.lock"), lock).unwrap();
        assert!(check_bindgen_version(&dir).is_ok());
        std::fs::write(
            dir.join("Cargo.lock"),
            lock.replacen("0.2.130", "0.2.131", 1),
        )
        .unwrap();
        let err = check_bindgen_version(&dir).unwrap_err().to_string();
        assert!(err.contains("versions differ"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
        // And the workspace's own lockfile agrees.
        assert!(check_bindgen_version(&crate::root()).is_ok());
    }
}
