//! The command line takes an experiment's fields as the link does: the same table
//! (`src/experiment/fields.rs`), the same values, the same checks.

use std::process::Command;

use lottery_lab::experiment::fields::FIELDS;
use lottery_lab::experiment::link::LinkState;

fn lottery_lab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lottery-lab"))
        .args(args)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("the binary runs")
}

#[test]
fn every_field_with_a_flag_is_on_the_run_command() {
    let help = String::from_utf8(lottery_lab(&["run", "--help"]).stdout).unwrap();
    for field in FIELDS {
        if let Some(flag) = field.flag.name() {
            assert!(
                help.contains(&format!("--{flag}")),
                "--{flag} missing:\n{help}"
            );
        }
    }
}

#[test]
fn flags_give_the_experiment_their_link_gives() {
    let dir = std::env::temp_dir().join(format!("lottery-lab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("run.json");
    let output = lottery_lab(&[
        "run",
        "--preset",
        "tiny",
        "--lr",
        "0.02",
        "--rounds",
        "1",
        "--iterations",
        "60",
        "--reset",
        "rewind:5",
        "--controls",
        "reinit,one-shot",
        "--samples",
        "300",
        "--backend",
        "cpu",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let (state, notices) = LinkState::parse(
        "preset=tiny&lr=0.02&rounds=1&iters=60&reset=rewind&rewind=5&controls=reinit,oneshot\
         &samples=300&weights=0",
        "tiny",
    );
    assert!(notices.is_empty(), "{notices:?}");
    let config: lottery_lab::experiment::ExperimentConfig =
        serde_json::from_value(written["config"].clone()).unwrap();
    assert_eq!(config, state.config);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a new user tries first: an absurd learning rate. Adam keeps the numbers finite, so
/// the run is caught by its exploding loss (or its dense net at chance), exit code 1.
#[test]
fn an_absurd_learning_rate_exits_1_with_the_reason_and_a_hint() {
    for (preset, lr, expect) in [
        ("tiny", "1e9", "too high"),
        ("digits-quick", "1e9", "too high"),
        ("tiny", "1e-9", "too low"),
    ] {
        let output = lottery_lab(&["run", "--preset", preset, "--lr", lr, "--quiet"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{preset} at {lr}: {stderr}");
        assert!(
            stderr.contains("the experiment stopped") && stderr.contains(expect),
            "{preset} at {lr}: {stderr}"
        );
    }
}

#[test]
fn a_bad_flag_stops_the_run_with_the_flag_and_what_it_takes() {
    let output = lottery_lab(&["run", "--preset", "tiny", "--scope", "sideways"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--scope: 'sideways' is not layerwise or global"),
        "{stderr}"
    );
    let output = lottery_lab(&["run", "--preset", "tiny", "--batch", "0"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("batch size must be between 1 and 4096"),
        "{stderr}"
    );
}

#[test]
fn a_start_without_a_runtime_directory_prints_only_our_lines() {
    // `auto` probes the GPU: Mesa's drivers complain there when XDG_RUNTIME_DIR is unset.
    let output = lottery_lab(&[
        "run",
        "--preset",
        "tiny",
        "--rounds",
        "1",
        "--iterations",
        "50",
        "--quiet",
    ]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("engine: "), "{stdout}");
}

#[test]
fn check_presets_names_what_it_cannot_check_and_refuses_an_unknown_preset() {
    let output = lottery_lab(&["check-presets", "--preset", "tiny", "--seeds", "1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("tiny: no checked claim yet"), "{stdout}");
    let output = lottery_lab(&["check-presets", "--preset", "nope"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--preset nope: no such preset"), "{stderr}");
}

#[test]
fn check_presets_reads_saved_runs_and_refuses_a_run_of_another_config() {
    let dir = std::env::temp_dir().join(format!("lottery-lab-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("spiral-1.json");
    let run = lottery_lab(&[
        "run",
        "--preset",
        "spiral",
        "--seed",
        "1",
        "--quiet",
        "--backend",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let check = |dir: &std::path::Path| {
        lottery_lab(&[
            "check-presets",
            "--preset",
            "spiral",
            "--seeds",
            "1",
            "--from",
            dir.to_str().unwrap(),
        ])
    };
    let output = check(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("PASS  spiral: every network keeps"),
        "{stdout}"
    );
    assert!(stdout.contains("seed 1: lowest 97.67%"), "{stdout}");
    // The same file under another config is not the preset's run.
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::write(&out, text.replacen("\"seed\": 1", "\"seed\": 2", 1)).unwrap();
    let output = check(&dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not the preset's run for seed 1"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_small_dense_control_prints_its_network_beside_each_round() {
    let output = lottery_lab(&[
        "run",
        "--preset",
        "tiny",
        "--controls",
        "small-dense",
        "--rounds",
        "2",
        "--quiet",
        "--backend",
        "cpu",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("small dense net acc"), "{stdout}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains("%")).collect();
    assert!(
        rows.iter()
            .filter(|l| l.contains(" 2-") && l.ends_with("-2"))
            .count()
            >= 2,
        "{stdout}"
    );
}

#[test]
fn lmc_prints_each_networks_barrier_saves_its_study_and_refuses_bad_branch_points() {
    let dir = std::env::temp_dir().join(format!("lottery-lab-lmc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("lmc.json");
    let output = lottery_lab(&[
        "lmc",
        "--preset",
        "tiny",
        "--iterations",
        "80",
        "--round",
        "1",
        "--branch-at",
        "0,20",
        "--points",
        "5",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for network in ["dense", "ticket", "random pruning", "random re-init"] {
        let rows = stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(network) && l.contains("stable"))
            .count();
        assert_eq!(rows, 2, "{network}: a row per branch point\n{stdout}");
    }
    let record: lottery_lab::experiment::studies::LmcRecord =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(record.paths.len(), 8);
    assert_eq!(record.config.branch_at, vec![0, 20]);
    assert!(record.paths.iter().all(|p| p.test_error.len() == 5));
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8 * 5);

    // A branch point past the end of training: the flag, the reason, exit code 2.
    let output = lottery_lab(&["lmc", "--preset", "tiny", "--branch-at", "0,5000"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--branch-at") && stderr.contains("5000"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rewind_sweep_prints_a_row_per_rewind_point_and_refuses_one_past_training() {
    let output = lottery_lab(&[
        "rewind-sweep",
        "--preset",
        "tiny",
        "--iterations",
        "60",
        "--rewind-at",
        "0,10",
        "--density",
        "0.3",
        "--quiet",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(rows[0].trim_start().starts_with("0 ") && rows[1].trim_start().starts_with("10 "));
    let output = lottery_lab(&["rewind-sweep", "--preset", "tiny", "--rewind-at", "0,5000"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--rewind-at") && stderr.contains("5000"),
        "{stderr}"
    );
}

#[test]
fn studies_run_over_seeds_with_a_summary_and_a_file_per_seed() {
    let dir = std::env::temp_dir().join(format!("lottery-lab-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("sweep.json");
    let output = lottery_lab(&[
        "rewind-sweep",
        "--preset",
        "tiny",
        "--iterations",
        "60",
        "--rewind-at",
        "0,10",
        "--density",
        "0.3",
        "--seed",
        "4",
        "--seeds",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("seed 4:") && stdout.contains("seed 5:"),
        "{stdout}"
    );
    assert!(stdout.contains("over 2 seeds"), "{stdout}");
    let seeds: Vec<u64> = [4, 5]
        .iter()
        .map(|s| {
            let text = std::fs::read_to_string(dir.join(format!("sweep-seed{s}.json"))).unwrap();
            let record: lottery_lab::experiment::studies::RewindRecord =
                serde_json::from_str(&text).unwrap();
            record.config.base.seed
        })
        .collect();
    assert_eq!(seeds, vec![4, 5]);
    let output = lottery_lab(&["lmc", "--preset", "tiny", "--seeds", "11"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--seeds"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn explain_prints_each_networks_figures_over_seeds_and_refuses_bad_examples() {
    let dir = std::env::temp_dir().join(format!("lottery-lab-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("explain.json");
    let output = lottery_lab(&[
        "explain",
        "--preset",
        "tiny",
        "--iterations",
        "60",
        "--round",
        "1",
        "--examples",
        "0-2,9",
        "--seeds",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Per seed a row per network; then the summary's row per network.
    for network in ["dense", "ticket", "random pruning"] {
        let rows = stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(network))
            .count();
        assert_eq!(rows, 3, "{network}\n{stdout}");
    }
    assert!(stdout.contains("over 2 seeds"), "{stdout}");
    assert!(stdout.contains("agreement across seeds"), "{stdout}");
    for seed in [1, 2] {
        let path = dir.join(format!("explain-seed{seed}.json"));
        let record = lottery_lab::experiment::studies::ExplainRecord::parse(
            &std::fs::read_to_string(&path).unwrap(),
        )
        .unwrap();
        assert_eq!(record.config.examples, vec![0, 1, 2, 9]);
        assert_eq!(record.experiment.seed, seed);
        assert_eq!(record.networks.len(), 3);
        let csv = std::fs::read_to_string(path.with_extension("csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 3 * 4);
    }
    let output = lottery_lab(&["explain", "--preset", "tiny", "--examples", "3-1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--examples") && stderr.contains("goes up"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn transfer_prints_five_networks_on_b_takes_a_ticket_file_and_refuses_bad_tasks() {
    let dir = std::env::temp_dir().join(format!("lottery-lab-transfer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("transfer.json");
    let small = [
        "--preset",
        "digits-quick",
        "--hidden",
        "30",
        "--iterations",
        "60",
        "--quiet",
    ];
    let mut args = vec!["transfer", "--task", "shifted-digits", "--round", "1"];
    args.extend(small);
    args.extend(["--out", out.to_str().unwrap()]);
    let output = lottery_lab(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for network in [
        "dense on B",
        "B's own ticket",
        "random mask on B",
        "A's ticket",
        "A's mask, fresh weights",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(network) && l.ends_with('%')),
            "{network}\n{stdout}"
        );
    }
    let record = lottery_lab::experiment::studies::TransferRecord::parse(
        &std::fs::read_to_string(&out).unwrap(),
    )
    .unwrap();
    assert_eq!(record.results.len(), 5);
    assert_eq!(
        std::fs::read_to_string(out.with_extension("csv"))
            .unwrap()
            .lines()
            .count(),
        6
    );

    // A ticket from a run's file, moved to inverted digits.
    let run_out = dir.join("run.json");
    let mut args = vec!["run", "--rounds", "1"];
    args.extend(small);
    args.extend(["--out", run_out.to_str().unwrap()]);
    assert!(lottery_lab(&args).status.success());
    let run: lottery_lab::experiment::ExperimentRecord =
        serde_json::from_str(&std::fs::read_to_string(&run_out).unwrap()).unwrap();
    let ticket_path = dir.join("ticket.json");
    let ticket = lottery_lab::experiment::io::ticket(&run, 1).unwrap();
    std::fs::write(&ticket_path, serde_json::to_string(&ticket).unwrap()).unwrap();
    let output = lottery_lab(&[
        "transfer",
        "--task",
        "inverted-digits",
        "--ticket",
        ticket_path.to_str().unwrap(),
        "--quiet",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("A's ticket: a ticket file"), "{stdout}");

    let output = lottery_lab(&["transfer", "--preset", "tiny", "--task", "upside-down"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--task upside-down") && stderr.contains("inverted-digits"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_over_seeds_prints_each_rounds_mean_and_saves_a_file_per_seed() {
    let dir = std::env::temp_dir().join(format!("lottery-lab-run-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tiny.json");
    let output = lottery_lab(&[
        "run",
        "--preset",
        "tiny",
        "--seeds",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("over 2 seeds: test accuracy (%) at early stop"),
        "{stdout}"
    );
    let summary = stdout.split("over 2 seeds").nth(1).unwrap();
    // A row per round (dense + 3), each with a mean ± s.d. (range) per run kind.
    let rows = summary
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && l.contains(" ± "))
        .count();
    assert_eq!(rows, 4, "{summary}");
    for seed in [1, 2] {
        let record: lottery_lab::experiment::ExperimentRecord = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("tiny-seed{seed}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(record.config.seed, seed);
    }
    let output = lottery_lab(&["run", "--preset", "tiny", "--seeds", "0"]);
    assert_eq!(output.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn prune_at_init_prints_each_mask_beside_its_shuffle_and_refuses_a_method_that_is_not_at_init() {
    let dir = std::env::temp_dir().join(format!("lottery-lab-at-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("at-init.json");
    let output = lottery_lab(&[
        "prune-at-init",
        "--preset",
        "tiny",
        "--iterations",
        "60",
        "--densities",
        "50,20",
        "--methods",
        "snip,synflow",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The IMP ticket and both methods at both densities.
    for mask in ["IMP ticket", "SNIP", "SynFlow"] {
        let rows = stdout.lines().filter(|l| l.starts_with(mask)).count();
        assert_eq!(rows, 2, "{mask}: {stdout}");
    }
    assert!(
        stdout.contains("Shuffling each layer's mask costs"),
        "{stdout}"
    );
    let saved = std::fs::read_to_string(&out).unwrap();
    let record = lottery_lab::experiment::studies::AtInitRecord::parse(&saved).unwrap();
    assert_eq!(record.points.len(), 6);
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    assert_eq!(csv.lines().count(), 7);
    let output = lottery_lab(&[
        "prune-at-init",
        "--preset",
        "tiny",
        "--methods",
        "magnitude",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--methods") && stderr.contains("snip"),
        "{stderr}"
    );
    let output = lottery_lab(&["prune-at-init", "--preset", "tiny", "--method", "snip"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("magnitude"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
