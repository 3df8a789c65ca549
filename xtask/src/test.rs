//! `cargo xtask test`: everything CI checks, in the order that fails fastest. It installs
//! what it needs (the wasm32 target, clippy and rustfmt, Chromium, playwright-core), so a fresh
//! machine needs only cargo and node.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;

use super::run_cmd;

pub fn run(root: &Path) -> Result<()> {
    step("toolchain: wasm32 target, clippy, rustfmt");
    run_cmd(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    run_cmd(Command::new("rustup").args(["component", "add", "clippy", "rustfmt"]))?;
    step("a Vulkan driver for the GPU tests (Mesa's lavapipe where there is no GPU)");
    super::apt::ensure(&["mesa-vulkan-drivers"])?;
    // lavapipe complains on every start without a private runtime directory.
    let runtime_dir = root.join("target/xdg-runtime");
    std::fs::create_dir_all(&runtime_dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // SAFETY: single-threaded at this point; the variables are for the child processes.
    unsafe { std::env::set_var("XDG_RUNTIME_DIR", &runtime_dir) };
    if std::env::var_os("CI").is_some() {
        // A clean clone builds once: incremental caches would only take disk (~1 GB) and time.
        // SAFETY: as above.
        unsafe { std::env::set_var("CARGO_INCREMENTAL", "0") };
    }
    report_free_disk(root);

    let cargo = |args: &[&str]| -> Result<()> {
        step(&format!("cargo {}", args.join(" ")));
        run_cmd(Command::new(env!("CARGO")).args(args).current_dir(root))
    };
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&[
        "clippy",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])?;
    browser(root)?;
    step("all checks passed");
    Ok(())
}

/// What the build needs on disk, measured on a clean clone (target/ after the whole run), and
/// what the disk has: a CI run that dies of a full disk should say so at its start.
const DISK_NEEDED_GB: f64 = 6.0;

fn report_free_disk(root: &Path) {
    let Ok(out) = Command::new("df").args(["-Pk"]).arg(root).output() else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let free_kb = text
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|field| field.parse::<f64>().ok());
    if let Some(free_kb) = free_kb {
        let free_gb = free_kb / 1024.0 / 1024.0;
        println!("disk: {free_gb:.1} GB free where target/ is built ({DISK_NEEDED_GB} GB needed)");
        if free_gb < DISK_NEEDED_GB {
            println!(
                "warning: less disk than a full run needs; a build step may fail with \"No space left on device\""
            );
        }
    }
}

/// The built page in Debian's Chromium, driven by playwright-core (tests/browser/run.mjs):
/// once with WebGPU (SwiftShader) and once without. No silent skip: anything missing fails.
fn browser(root: &Path) -> Result<()> {
    step("browser test: Chromium, node and playwright-core");
    browser_setup(root)?;
    let dir = root.join("tests/browser");
    step("cargo xtask build (the page, into dist/)");
    super::web::build(root)?;
    step("node tests/browser/run.mjs");
    run_cmd(
        Command::new("node")
            .arg(dir.join("run.mjs"))
            .current_dir(root),
    )
}

/// Debian's Chromium and the pinned playwright-core (npm ci), for the browser test and bench.
pub fn browser_setup(root: &Path) -> Result<()> {
    super::apt::ensure(&["chromium"])?;
    if Command::new("node").arg("--version").output().is_err() {
        bail!("the browser test needs node (20 or newer) and npm on the PATH");
    }
    run_cmd(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(root.join("tests/browser")),
    )
}

fn step(what: &str) {
    println!("\n=== {what}");
}
