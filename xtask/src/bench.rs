//! `cargo xtask bench`: our CPU engine's figures, then numpy's matrix products on the same
//! shapes and JAX training the same conv net, in one run so the ratios are measured side by
//! side; then the page's frame times while it trains, in headless Chromium
//! (tests/browser/frames.mjs); then, in the same Chromium, TensorFlow.js's cpu, wasm and webgpu
//! backends training the same LeNet-300-100 beside our two engines, and one round of the
//! default preset with its runs one after another vs two at a time in Web Workers
//! (xtask/peers/peers.mjs). numpy and JAX come from PyPI into a virtual environment under
//! `target/`, TF.js from npm (pinned in xtask/peers/package-lock.json), so nothing is installed
//! by hand.

use anyhow::{Context as _, Result};
use std::path::Path;
use std::process::Command;

use super::run_cmd;

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    println!("=== lottery-lab bench (release build)");
    run_cmd(
        Command::new(env!("CARGO"))
            .args(["run", "--release", "--quiet", "--", "bench"])
            .args(args)
            .current_dir(root),
    )?;

    println!("\n=== numpy, same shapes (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for this run)");
    let venv = root.join("target/bench-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("creating a Python virtual environment (is python3-venv installed?)")?;
    }
    run_cmd(Command::new(&python).args(["-m", "pip", "install", "--quiet", "numpy", "jax"]))
        .context("installing numpy and JAX (CPU) from PyPI")?;
    for batch in ["60", "256"] {
        run_cmd(
            Command::new(&python)
                .arg(root.join("xtask/bench_numpy.py"))
                .args([batch, "3"])
                .env_remove("OPENBLAS_CORETYPE")
                .env_remove("OPENBLAS_L2_SIZE"),
        )?;
    }

    // The native peer for the conv net: JAX, the same net and step (xtask/bench_jax_conv.py).
    println!("\n=== JAX, the Conv-2-style digits net (compare with the CPU engine's line above)");
    for batch in ["60", "256"] {
        run_cmd(
            Command::new(&python)
                .arg(root.join("xtask/bench_jax_conv.py"))
                .args([batch, "3"]),
        )?;
    }

    // The page's frame times while it trains (the built site in headless Chromium).
    println!("\n=== the page in Chromium (builds dist/)");
    super::web::build(root)?;
    super::test::browser_setup(root)?;
    run_cmd(Command::new("node").arg(root.join("tests/browser/frames.mjs")))?;

    println!("\n=== TensorFlow.js beside our engines, and a round in workers (the same Chromium)");
    let peers = root.join("xtask/peers");
    run_cmd(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&peers),
    )
    .context("installing TensorFlow.js from npm (xtask/peers/package-lock.json)")?;
    run_cmd(Command::new("node").arg(peers.join("peers.mjs")))?;
    Ok(())
}
