//! Linear mode connectivity (Frankle et al. 2020): is training *stable* to the data order?
//!
//! Each subject (the dense network, and with an IMP round: its ticket, random pruning at the
//! same per-layer density, and the ticket's mask with fresh weights) trains from its start for
//! `k` iterations (θ_k); from θ_k two copies train on with different data orders (a fresh
//! optimiser state each, as a rewound ticket gets) to the config's full length. The test error
//! is measured at evenly spaced points of the straight line between the two copies; the
//! **error barrier** is its maximum minus the mean of the two ends. Under ~2 points the
//! network is "stable": both copies land in one linearly connected valley.
//!
//! The study is a bounded-work state machine like [`crate::experiment::Experiment`]: the page
//! advances it a slice per frame, the CLI runs it to the end.

use serde::{Deserialize, Serialize};

use crate::experiment::{ConfigError, DataSummary, ExperimentConfig, RunKind, Status};
use crate::model::{NetSpec, Network};
use crate::train::EngineInfo;

mod study;

pub use study::{LmcProgress, LmcStudy};

pub const LMC_FORMAT: &str = "lottery-lab-lmc/1";
/// The paper calls a network stable when its barrier is within ~2 points of error.
pub const STABLE_BARRIER: f32 = 0.02;
pub const MAX_POINTS: usize = 101;
pub const DEFAULT_POINTS: usize = 11;
/// What one evaluation chunk along the path costs in training steps of the budget (a chunk is
/// a forward pass of 256 rows; a step is forward + backward of one batch).
const CHUNK_COST: usize = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmcConfig {
    /// The network, data, training recipe and seed (an IMP experiment's config).
    pub base: ExperimentConfig,
    /// The iterations k at which the two copies branch off, ascending, each below the
    /// config's iterations.
    pub branch_at: Vec<usize>,
    /// Points on the line between the copies, ends included.
    pub points: usize,
    /// The IMP round whose ticket and random controls are measured beside the dense network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<usize>,
}

impl LmcConfig {
    pub fn dense(base: ExperimentConfig, branch_at: Vec<usize>) -> Self {
        Self {
            base,
            branch_at,
            points: DEFAULT_POINTS,
            round: None,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.base.validate()?;
        let bad = |field, message: String| Err(ConfigError { field, message });
        if self.branch_at.is_empty() {
            return bad(
                "branch-at",
                "give at least one iteration to branch at (0 = θ₀)".into(),
            );
        }
        if !self.branch_at.windows(2).all(|w| w[0] < w[1]) {
            return bad(
                "branch-at",
                format!(
                    "{:?}: the iterations must be ascending, each once",
                    self.branch_at
                ),
            );
        }
        let last = *self.branch_at.last().expect("not empty");
        if last >= self.base.iterations {
            return bad(
                "branch-at",
                format!(
                    "{last} is not below the {} iterations a run trains: the copies would not train",
                    self.base.iterations
                ),
            );
        }
        if !(3..=MAX_POINTS).contains(&self.points) {
            return bad(
                "points",
                format!(
                    "{}: choose 3 to {MAX_POINTS} points along the path",
                    self.points
                ),
            );
        }
        if self.round == Some(0) {
            return bad(
                "round",
                "round 0 is the dense network, measured anyway: choose a pruned round (1 or more)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Which network a path belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    Dense,
    Ticket,
    RandomPrune,
    Reinit,
}

impl Subject {
    pub const ALL: [Subject; 4] = [
        Subject::Dense,
        Subject::Ticket,
        Subject::RandomPrune,
        Subject::Reinit,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Subject::Dense => "dense",
            Subject::Ticket => RunKind::Ticket.label(),
            Subject::RandomPrune => RunKind::RandomPrune.label(),
            Subject::Reinit => RunKind::Reinit.label(),
        }
    }
}

/// The test error along the line between one subject's two copies branched at `branch_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmcPath {
    pub subject: Subject,
    pub density: f64,
    pub branch_at: usize,
    /// Weight of the second copy at each point: θ(α) = (1 − α)·θ_A + α·θ_B.
    pub alphas: Vec<f32>,
    /// Test error (fraction) at each α.
    pub test_error: Vec<f32>,
    pub test_loss: Vec<f32>,
}

impl LmcPath {
    /// The error barrier: the highest error along the path minus the mean of the two ends.
    pub fn barrier(&self) -> f32 {
        barrier(&self.test_error)
    }

    pub fn is_stable(&self) -> bool {
        self.barrier() <= STABLE_BARRIER
    }
}

/// Max of `errors` minus the mean of its two ends (0 for a flat or convex path).
pub fn barrier(errors: &[f32]) -> f32 {
    let (Some(&first), Some(&last)) = (errors.first(), errors.last()) else {
        return 0.0;
    };
    let top = errors.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (top - 0.5 * (first + last)).max(0.0)
}

/// θ(α) = (1 − α)·a + α·b, into `out`. Written from the nearer end (`a + α(b − a)` up to
/// the middle, `b + (1 − α)(a − b)` after it), so that α = 0 gives `a` and α = 1 gives `b`
/// exactly, and two identical copies give that network at every α.
pub fn interpolate_into(a: &Network, b: &Network, alpha: f32, out: &mut Network) {
    let lerp = |x: f32, y: f32| {
        if alpha <= 0.5 {
            x + alpha * (y - x)
        } else {
            y + (1.0 - alpha) * (x - y)
        }
    };
    for ((o, x), y) in out.layers.iter_mut().zip(&a.layers).zip(&b.layers) {
        ndarray::Zip::from(&mut o.weight)
            .and(&x.weight)
            .and(&y.weight)
            .for_each(|o, &x, &y| *o = lerp(x, y));
        ndarray::Zip::from(&mut o.bias)
            .and(&x.bias)
            .and(&y.bias)
            .for_each(|o, &x, &y| *o = lerp(x, y));
    }
}

/// The α of each of `points` evenly spaced points, 0 and 1 included exactly.
pub fn alphas(points: usize) -> Vec<f32> {
    let last = points.saturating_sub(1).max(1);
    (0..points).map(|i| i as f32 / last as f32).collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmcRecord {
    pub format: String,
    pub config: LmcConfig,
    pub spec: NetSpec,
    pub data: DataSummary,
    pub engine: EngineInfo,
    pub paths: Vec<LmcPath>,
    pub status: Status,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl LmcRecord {
    pub fn path(&self, subject: Subject, branch_at: usize) -> Option<&LmcPath> {
        self.paths
            .iter()
            .find(|p| p.subject == subject && p.branch_at == branch_at)
    }

    /// What is wrong in a study file, if anything (`paths[2].test_error`): its config's own
    /// checks, and paths of the config's points with errors in [0, 1].
    pub fn check(&self) -> Result<(), String> {
        if self.format != LMC_FORMAT {
            return Err(format!("format: '{}' is not {LMC_FORMAT}", self.format));
        }
        self.config.validate().map_err(|e| format!("config.{e}"))?;
        if self.paths.len() > Subject::ALL.len() * self.config.branch_at.len() {
            return Err(format!(
                "paths: {} is more than the study makes",
                self.paths.len()
            ));
        }
        for (i, path) in self.paths.iter().enumerate() {
            let place = |field: &str| format!("paths[{i}].{field}");
            let points = self.config.points;
            if path.alphas.len() != points
                || path.test_error.len() != points
                || path.test_loss.len() != points
            {
                return Err(format!(
                    "{}: the config has {points} points",
                    place("alphas")
                ));
            }
            if !path.test_error.iter().all(|e| (0.0..=1.0).contains(e)) {
                return Err(format!(
                    "{}: errors are fractions in [0, 1]",
                    place("test_error")
                ));
            }
            if !self.config.branch_at.contains(&path.branch_at) {
                return Err(format!("{}: not one of the config's", place("branch_at")));
            }
            if !(0.0..=1.0).contains(&path.density) {
                return Err(format!("{}: a density is in [0, 1]", place("density")));
            }
        }
        Ok(())
    }

    /// Read a study file (JSON), checked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let record: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        record.check()?;
        Ok(record)
    }

    /// One row per point: subject, density, k, α, test error, test loss.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("subject,density,branch_at,alpha,test_error,test_loss\n");
        for p in &self.paths {
            for ((a, e), l) in p.alphas.iter().zip(&p.test_error).zip(&p.test_loss) {
                out += &format!(
                    "{},{:.6},{},{a},{e},{l}\n",
                    p.subject.label(),
                    p.density,
                    p.branch_at
                );
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LmcError {
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error("round {round}: the experiment has {rounds} rounds (0 = dense)")]
    NoSuchRound { round: usize, rounds: usize },
    #[error("round {round}: measuring its ticket needs the IMP experiment that found it")]
    NoExperiment { round: usize },
    #[error("the experiment's network ({theirs}) is not this study's ({ours})")]
    OtherNetwork { theirs: String, ours: String },
    #[error("network: {0}")]
    Network(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Init;
    use crate::rng;

    fn net(seed: u64) -> Network {
        let spec = NetSpec::mlp(5, &[7], 3);
        Network::init(&spec, Init::GlorotNormal, &mut rng::rng(seed, "init"))
    }

    #[test]
    fn the_path_starts_and_ends_exactly_at_the_copies() {
        let (a, b) = (net(1), net(2));
        let mut out = net(3);
        interpolate_into(&a, &b, 0.0, &mut out);
        assert_eq!(out, a);
        interpolate_into(&a, &b, 1.0, &mut out);
        assert_eq!(out, b);
        interpolate_into(&a, &b, 0.5, &mut out);
        assert_ne!(out, a);
        assert_ne!(out, b);
        let mid = out.layers[0].weight[[0, 0]];
        let expected = 0.5 * (a.layers[0].weight[[0, 0]] + b.layers[0].weight[[0, 0]]);
        assert!((mid - expected).abs() < 1e-6);
        // Identical copies: the same network at every point.
        for alpha in alphas(11) {
            interpolate_into(&a, &a, alpha, &mut out);
            assert_eq!(out, a, "alpha {alpha}");
        }
    }

    #[test]
    fn alphas_are_evenly_spaced_with_exact_ends() {
        let a = alphas(11);
        assert_eq!(a.len(), 11);
        assert_eq!((a[0], a[10]), (0.0, 1.0));
        assert!((a[3] - 0.3).abs() < 1e-7);
    }

    #[test]
    fn the_barrier_is_the_peak_above_the_mean_of_the_ends() {
        assert_eq!(barrier(&[0.1, 0.1, 0.1]), 0.0);
        assert!((barrier(&[0.02, 0.30, 0.04]) - 0.27).abs() < 1e-6);
        // A path below its ends (a convex valley) has no barrier.
        assert_eq!(barrier(&[0.10, 0.05, 0.10]), 0.0);
    }

    #[test]
    fn a_study_file_is_checked_before_it_is_shown() {
        let base = (crate::experiment::presets::find("spiral")
            .expect("listed")
            .config)();
        let record = LmcRecord {
            format: LMC_FORMAT.into(),
            config: LmcConfig {
                points: 3,
                ..LmcConfig::dense(base, vec![0])
            },
            spec: NetSpec::mlp(2, &[4], 2),
            data: crate::experiment::DataSummary {
                name: "spiral".into(),
                train: 1,
                val: 1,
                test: 1,
                classes: 2,
                shape: crate::data::DataShape::Tabular {
                    feature_names: vec!["x".into(), "y".into()],
                },
                positive_class: None,
            },
            engine: EngineInfo {
                kind: "cpu".into(),
                name: "test".into(),
            },
            paths: vec![LmcPath {
                subject: Subject::Dense,
                density: 1.0,
                branch_at: 0,
                alphas: alphas(3),
                test_error: vec![0.1, 0.2, 0.1],
                test_loss: vec![0.3, 0.5, 0.3],
            }],
            status: Status::Finished,
            notes: Vec::new(),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(LmcRecord::parse(&text), Ok(record.clone()));
        let broken = |edit: &dyn Fn(&mut LmcRecord)| {
            let mut bad = record.clone();
            edit(&mut bad);
            LmcRecord::parse(&serde_json::to_string(&bad).unwrap()).unwrap_err()
        };
        assert!(broken(&|r| r.paths[0].test_error.push(0.1)).starts_with("paths[0].alphas"));
        assert!(broken(&|r| r.paths[0].test_error[1] = 7.0).starts_with("paths[0].test_error"));
        assert!(broken(&|r| r.paths[0].branch_at = 5).starts_with("paths[0].branch_at"));
        assert!(broken(&|r| r.config.points = 1).starts_with("config.points"));
        assert!(broken(&|r| r.format = "x".into()).starts_with("format"));
        assert!(LmcRecord::parse("{ not json").is_err());
        assert!(LmcRecord::parse(&text[..text.len() / 2]).is_err());
    }

    #[test]
    fn bad_configs_say_which_field() {
        let base = (crate::experiment::presets::find("spiral")
            .expect("listed")
            .config)();
        let field = |branch_at: Vec<usize>, points: usize, round: Option<usize>| {
            LmcConfig {
                base: base.clone(),
                branch_at,
                points,
                round,
            }
            .validate()
            .err()
            .map(|e| e.field)
        };
        assert_eq!(field(vec![0], 11, None), None);
        assert_eq!(field(vec![], 11, None), Some("branch-at"));
        assert_eq!(field(vec![10, 5], 11, None), Some("branch-at"));
        assert_eq!(field(vec![base.iterations], 11, None), Some("branch-at"));
        assert_eq!(field(vec![0], 2, None), Some("points"));
        assert_eq!(field(vec![0], 11, Some(0)), Some("round"));
    }
}
