//! The study "prune at initialisation" (after Frankle et al. 2021, "Pruning Neural Networks
//! at Initialization: Why are We Missing the Mark?"): at a few densities, each method's mask
//! chosen at θ₀ (SNIP, GraSP, SynFlow, magnitude at init, random) is trained from θ₀ beside
//! the IMP ticket of a finished experiment at the same density, and each mask beside its
//! **layer shuffle** (the same number of weights in every layer, at random positions). If
//! shuffling costs a mask nothing, the method chose how much to keep per layer, not which
//! weights; the paper finds that true of the methods at init and false of the ticket.
//!
//! The IMP ticket and its shuffle (the experiment's random-pruning control: the ticket's
//! per-layer counts, random positions, the ticket's start) are read from the experiment's
//! record, not trained again; every method's point is a one-shot experiment of the base
//! config without its dense run (`Experiment::without_dense_run`).

mod study;

pub use study::{AtInitProgress, AtInitStudy};

use serde::{Deserialize, Serialize};

use crate::experiment::{
    ConfigError, Controls, ExperimentConfig, ExperimentRecord, ResetMode, RunKind, Schedule, Status,
};
use crate::prune::{Granularity, PruneMethod};

pub const AT_INIT_FORMAT: &str = "lottery-lab-at-init/1";

/// The paper's IMP densities (LeNet-300-100 at 20% a round: rounds 7, 12, 15 and 20).
pub const DEFAULT_DENSITIES: [f64; 4] = [0.21, 0.07, 0.036, 0.012];

/// The methods at initialisation, in the order the study trains and shows them.
pub const AT_INIT_METHODS: [PruneMethod; 5] = [
    PruneMethod::Snip,
    PruneMethod::Grasp,
    PruneMethod::Synflow,
    PruneMethod::InitMagnitude,
    PruneMethod::Random,
];

/// At most this many densities (each costs every method two trainings).
pub const MAX_DENSITIES: usize = 8;

/// A requested density is replaced by an IMP round's own density when one lies within this
/// factor of it, so that the methods are compared with the ticket at exactly its size.
const SNAP_FACTOR: f64 = 1.25;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtInitConfig {
    /// The IMP experiment's config: network, data, training recipe, seed.
    pub base: ExperimentConfig,
    /// Fractions of the weights kept, descending.
    pub densities: Vec<f64>,
    pub methods: Vec<PruneMethod>,
}

impl AtInitConfig {
    /// The study of `record`'s experiment at `requested` densities: each one that an IMP
    /// round of the record lies near (within a factor 1.25) becomes that round's density.
    pub fn for_record(
        record: &ExperimentRecord,
        requested: &[f64],
        methods: Vec<PruneMethod>,
    ) -> Self {
        let mut densities: Vec<f64> = requested
            .iter()
            .map(|&d| imp_round_near(record, d).map_or(d, |(_, density)| density))
            .collect();
        densities.sort_by(|a, b| b.total_cmp(a));
        densities.dedup();
        Self {
            base: record.config.clone(),
            densities,
            methods,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, message: String| Err(ConfigError { field, message });
        if self.densities.is_empty() || self.densities.len() > MAX_DENSITIES {
            return bad(
                "densities",
                format!(
                    "give 1 to {MAX_DENSITIES} densities, not {}",
                    self.densities.len()
                ),
            );
        }
        if let Some(d) = self.densities.iter().find(|d| !(**d > 0.0 && **d < 1.0)) {
            return bad(
                "densities",
                format!("{d}: a density is a fraction of the weights in (0, 1)"),
            );
        }
        if !self.densities.windows(2).all(|w| w[0] > w[1]) {
            return bad(
                "densities",
                "the densities must be descending, each once".into(),
            );
        }
        if self.methods.is_empty() {
            return bad("methods", "give at least one method".into());
        }
        if let Some(m) = self.methods.iter().find(|m| !m.at_init()) {
            return bad(
                "methods",
                format!(
                    "{}: the methods are chosen at initialisation (the IMP ticket comes from the experiment)",
                    m.key()
                ),
            );
        }
        for (i, m) in self.methods.iter().enumerate() {
            if self.methods[..i].contains(m) {
                return bad("methods", format!("{} is listed twice", m.key()));
            }
        }
        self.experiment(self.methods[0], self.densities[0])
            .validate()
    }

    /// The experiment of one point: `method`'s mask at `density`, chosen at θ₀ and trained
    /// from θ₀, beside its layer shuffle (the random-pruning control).
    pub fn experiment(&self, method: PruneMethod, density: f64) -> ExperimentConfig {
        ExperimentConfig {
            method,
            granularity: Granularity::Weights,
            early_bird: None,
            schedule: Schedule::OneShot { density },
            reset: ResetMode::Init,
            controls: Controls {
                random_prune: true,
                ..Controls::NONE
            },
            keep_weights: false,
            ..self.base.clone()
        }
    }

    /// How many points the methods train (each a mask and its shuffle).
    pub fn method_points(&self) -> usize {
        self.methods.len() * self.densities.len()
    }
}

/// The IMP round of `record` whose ticket's density is nearest `density` within the snapping
/// factor: (round, its density). Only for an IMP experiment (magnitude, any weight).
pub fn imp_round_near(record: &ExperimentRecord, density: f64) -> Option<(usize, f64)> {
    if !is_imp(&record.config) {
        return None;
    }
    record
        .rounds
        .iter()
        .filter(|r| r.round > 0 && r.run(RunKind::Ticket).is_some())
        .map(|r| (r.round, r.density()))
        .filter(|(_, d)| (d / density).ln().abs() <= SNAP_FACTOR.ln())
        .min_by(|a, b| {
            let off = |d: f64| (d / density).ln().abs();
            off(a.1).total_cmp(&off(b.1))
        })
}

/// An experiment whose tickets the study can stand beside the methods: IMP by magnitude on
/// any weight (not structured, not N:M, not itself a method at init).
fn is_imp(config: &ExperimentConfig) -> bool {
    config.method == PruneMethod::Magnitude && config.granularity == Granularity::Weights
}

/// One mask at one density: a method's (trained by the study) or the IMP ticket (read from
/// the experiment).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtInitPoint {
    /// `magnitude` for the IMP ticket.
    pub method: PruneMethod,
    pub density: f64,
    /// The IMP round the ticket is from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<usize>,
    /// Test accuracy at the early-stop iteration.
    pub accuracy: Option<f32>,
    /// The same per-layer counts at random positions, from the same start.
    pub shuffled_accuracy: Option<f32>,
    /// Test ROC AUC at the early-stop iteration (binary imbalanced data only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffled_auc: Option<f32>,
    pub layer_density: Vec<f64>,
    /// Why the mask was not trained (layer collapse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untrainable: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtInitRecord {
    pub format: String,
    pub config: AtInitConfig,
    /// The experiment's dense network, for reference.
    pub dense_accuracy: Option<f32>,
    /// The figure compared is ROC AUC, as everywhere in the app on binary imbalanced data
    /// (where predicting the common class is already accurate); test accuracy otherwise.
    #[serde(default)]
    pub by_auc: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense_auc: Option<f32>,
    /// The IMP ticket's points first, then each method's in the config's order.
    pub points: Vec<AtInitPoint>,
    pub status: Status,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl AtInitRecord {
    /// The points of `method` (magnitude: the IMP ticket), densest first.
    pub fn points_of(&self, method: PruneMethod) -> impl Iterator<Item = &AtInitPoint> {
        self.points.iter().filter(move |p| p.method == method)
    }

    /// A mask's figure: test accuracy in percent, or ROC AUC (see `by_auc`).
    pub fn score(&self, point: &AtInitPoint) -> Option<f64> {
        self.pick(point.accuracy, point.auc)
    }

    /// Its layer shuffle's figure.
    pub fn shuffled_score(&self, point: &AtInitPoint) -> Option<f64> {
        self.pick(point.shuffled_accuracy, point.shuffled_auc)
    }

    pub fn dense_score(&self) -> Option<f64> {
        self.pick(self.dense_accuracy, self.dense_auc)
    }

    fn pick(&self, accuracy: Option<f32>, auc: Option<f32>) -> Option<f64> {
        if self.by_auc {
            auc.map(f64::from)
        } else {
            accuracy.map(|a| f64::from(a) * 100.0)
        }
    }

    /// The figure's name on screen and in the CLI's table.
    pub fn metric_name(&self) -> &'static str {
        if self.by_auc {
            "test ROC AUC"
        } else {
            "test accuracy (%)"
        }
    }

    /// A score as the table shows it: "97.12%" or "0.912".
    pub fn score_label(&self, score: Option<f64>) -> String {
        match score {
            None => "-".into(),
            Some(s) if self.by_auc => format!("{s:.3}"),
            Some(s) => format!("{s:.2}%"),
        }
    }

    /// A difference of scores with its unit: "+4.20 points" (of accuracy) or "+0.031 AUC".
    pub fn difference_label(&self, difference: f64) -> String {
        if self.by_auc {
            format!("{difference:+.3} AUC")
        } else {
            format!("{difference:+.2} points")
        }
    }

    /// What shuffling the mask within its layers cost (positive: the mask's positions
    /// mattered), in accuracy points or AUC; none for a mask that could not train (layer
    /// collapse).
    pub fn shuffle_cost(&self, point: &AtInitPoint) -> Option<f64> {
        if point.untrainable.is_some() {
            return None;
        }
        Some(self.score(point)? - self.shuffled_score(point)?)
    }

    /// The mean cost of shuffling `method`'s masks over the densities where both trained.
    pub fn mean_shuffle_cost(&self, method: PruneMethod) -> Option<f64> {
        mean(self.points_of(method).filter_map(|p| self.shuffle_cost(p)))
    }

    /// How far `method` stays below the IMP ticket, on average over the densities both have.
    pub fn mean_gap_to_imp(&self, method: PruneMethod) -> Option<f64> {
        mean(self.points_of(method).filter_map(|p| {
            let imp = self
                .points_of(PruneMethod::Magnitude)
                .find(|t| (t.density / p.density - 1.0).abs() < 1e-3)?;
            Some(self.score(imp)? - self.score(p)?)
        }))
    }

    /// What this run shows about shuffling, in a sentence from its own figures (the panel's
    /// and the CLI's), or `None` before the ticket and a method both have a shuffle cost.
    pub fn finding(&self) -> Option<String> {
        let ticket = self.mean_shuffle_cost(PruneMethod::Magnitude)?;
        let costs: Vec<(PruneMethod, f64)> = self
            .config
            .methods
            .iter()
            .filter_map(|&m| Some((m, self.mean_shuffle_cost(m)?)))
            .collect();
        let (lo, hi) = costs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
                (lo.min(c.1), hi.max(c.1))
            });
        if costs.is_empty() {
            return None;
        }
        // Half a point of accuracy, or 0.005 of AUC: below that, a difference is noise.
        let margin = if self.by_auc { 0.005 } else { 0.5 };
        let verdict = if ticket > hi + margin {
            "the methods' masks are worth about what their per-layer densities are, the ticket's \
             positions matter (as Frankle et al. 2021 report)"
        } else {
            "here shuffling does not hurt the ticket more than the methods (unlike Frankle et \
             al. 2021's finding)"
        };
        let (ticket, lo, hi) = (
            self.difference_label(ticket),
            self.difference_label(lo),
            self.difference_label(hi),
        );
        Some(format!(
            "Shuffling each layer's mask costs the IMP ticket {ticket} on average and the \
             methods at init {lo} to {hi}: {verdict}."
        ))
    }

    /// A saved study's file, checked: its format, its config, its points' methods, densities
    /// and accuracies.
    pub fn parse(text: &str) -> Result<Self, String> {
        let record: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if record.format != AT_INIT_FORMAT {
            return Err(format!(
                "format {:?}: this app reads {AT_INIT_FORMAT}",
                record.format
            ));
        }
        record
            .config
            .validate()
            .map_err(|e| format!("its config: {e}"))?;
        let most = (record.config.methods.len() + 1) * record.config.densities.len();
        if record.points.len() > most {
            return Err(format!(
                "{} points for {} methods and the ticket at {} densities",
                record.points.len(),
                record.config.methods.len(),
                record.config.densities.len()
            ));
        }
        for p in &record.points {
            let known =
                p.method == PruneMethod::Magnitude || record.config.methods.contains(&p.method);
            if !known {
                return Err(format!(
                    "a point of {}, which the study does not list",
                    p.method.key()
                ));
            }
            let accuracies = [
                p.accuracy,
                p.shuffled_accuracy,
                p.auc,
                p.shuffled_auc,
                record.dense_accuracy,
                record.dense_auc,
            ];
            let bad_accuracy = accuracies
                .iter()
                .flatten()
                .any(|a| !(0.0..=1.0).contains(a));
            if bad_accuracy || !(p.density > 0.0 && p.density <= 1.0) {
                return Err(format!(
                    "{} at {}: an accuracy, AUC or density outside [0, 1]",
                    p.method.key(),
                    p.density
                ));
            }
        }
        Ok(record)
    }

    pub fn to_csv(&self) -> String {
        let unit = if self.by_auc { "auc" } else { "points" };
        let mut out = format!(
            "method,density,imp_round,accuracy,shuffled_accuracy,auc,shuffled_auc,shuffle_cost_{unit},untrainable\n"
        );
        let cell = |v: Option<f32>| v.map_or(String::new(), |v| v.to_string());
        for p in &self.points {
            out += &format!(
                "{},{:.6},{},{},{},{},{},{},{}\n",
                p.method.key(),
                p.density,
                p.round.map_or(String::new(), |r| r.to_string()),
                cell(p.accuracy),
                cell(p.shuffled_accuracy),
                cell(p.auc),
                cell(p.shuffled_auc),
                self.shuffle_cost(p)
                    .map_or(String::new(), |c| format!("{c:.4}")),
                p.untrainable.as_deref().unwrap_or("").replace(',', ";"),
            );
        }
        out
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// `"21, 7, 3.6, 1.2"` (percent) → fractions, descending.
pub fn parse_percentages(text: &str) -> Result<Vec<f64>, String> {
    let mut densities = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let percent: f64 = part
            .trim_end_matches('%')
            .parse()
            .map_err(|_| format!("{part:?} is not a number (percent of the weights kept)"))?;
        if !(percent > 0.0 && percent < 100.0) {
            return Err(format!("{part}: a density is a percentage in (0, 100)"));
        }
        // Rounded to 1e-9 so that "3.6" is the fraction 0.036 itself (a link's token reads
        // back as the request it came from).
        densities.push((percent / 100.0 * 1e9).round() / 1e9);
    }
    if densities.is_empty() || densities.len() > MAX_DENSITIES {
        return Err(format!(
            "give 1 to {MAX_DENSITIES} densities (percent, comma-separated)"
        ));
    }
    densities.sort_by(|a, b| b.total_cmp(a));
    densities.dedup();
    Ok(densities)
}

/// `"snip,grasp"` or `"all"` → methods at init.
pub fn parse_methods(text: &str) -> Result<Vec<PruneMethod>, String> {
    if text.trim() == "all" {
        return Ok(AT_INIT_METHODS.to_vec());
    }
    let mut methods = Vec::new();
    for key in text.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let method = PruneMethod::from_key(key)
            .filter(|m| m.at_init())
            .ok_or_else(|| {
                format!(
                    "{key:?} is not a method at initialisation ({})",
                    AT_INIT_METHODS.map(|m| m.key()).join(", ")
                )
            })?;
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    if methods.is_empty() {
        return Err("give at least one method".into());
    }
    Ok(methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AtInitConfig {
        AtInitConfig {
            base: (crate::experiment::presets::find("tiny")
                .expect("listed")
                .config)(),
            densities: vec![0.3, 0.1],
            methods: AT_INIT_METHODS.to_vec(),
        }
    }

    #[test]
    fn each_point_is_a_one_shot_mask_at_init_beside_its_shuffle() {
        let c = config();
        let e = c.experiment(PruneMethod::Snip, 0.1);
        assert_eq!(e.schedule, Schedule::OneShot { density: 0.1 });
        assert_eq!((e.method, e.reset), (PruneMethod::Snip, ResetMode::Init));
        assert!(e.controls.random_prune && !e.controls.reinit && !e.controls.one_shot);
        assert!(c.validate().is_ok());
        assert_eq!(c.method_points(), 10);
    }

    #[test]
    fn bad_studies_say_which_field() {
        let field = |edit: &dyn Fn(&mut AtInitConfig)| {
            let mut c = config();
            edit(&mut c);
            c.validate().err().map(|e| e.field)
        };
        assert_eq!(field(&|c| c.densities.clear()), Some("densities"));
        assert_eq!(field(&|c| c.densities = vec![0.1, 0.3]), Some("densities"));
        assert_eq!(field(&|c| c.densities = vec![1.5]), Some("densities"));
        assert_eq!(field(&|c| c.methods.clear()), Some("methods"));
        assert_eq!(
            field(&|c| c.methods = vec![PruneMethod::Magnitude]),
            Some("methods")
        );
        assert_eq!(
            field(&|c| c.methods = vec![PruneMethod::Snip, PruneMethod::Snip]),
            Some("methods")
        );
        assert_eq!(field(&|c| c.base.iterations = 0), Some("iterations"));
    }

    #[test]
    fn densities_and_methods_read_from_their_words() {
        let read = parse_percentages("7, 21%,3.6 ,1.2").unwrap();
        let expected = [0.21, 0.07, 0.036, 0.012];
        assert_eq!(read.len(), expected.len());
        for (got, want) in read.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{read:?}");
        }
        assert!(parse_percentages("").is_err());
        assert!(parse_percentages("0").unwrap_err().contains("(0, 100)"));
        assert!(
            parse_percentages("half")
                .unwrap_err()
                .contains("not a number")
        );
        assert_eq!(parse_methods("all").unwrap(), AT_INIT_METHODS.to_vec());
        assert_eq!(
            parse_methods("synflow, snip,snip").unwrap(),
            vec![PruneMethod::Synflow, PruneMethod::Snip]
        );
        assert!(parse_methods("magnitude").unwrap_err().contains("synflow"));
    }

    #[test]
    fn the_finding_is_read_from_the_figures() {
        let point = |method, accuracy: f32, shuffled: f32| AtInitPoint {
            method,
            density: 0.1,
            round: None,
            accuracy: Some(accuracy),
            shuffled_accuracy: Some(shuffled),
            auc: Some(accuracy - 0.1),
            shuffled_auc: Some(shuffled - 0.2),
            layer_density: vec![],
            untrainable: None,
        };
        let mut record = AtInitRecord {
            format: AT_INIT_FORMAT.into(),
            config: config(),
            dense_accuracy: Some(0.95),
            by_auc: false,
            dense_auc: None,
            points: vec![
                point(PruneMethod::Magnitude, 0.94, 0.90),
                point(PruneMethod::Snip, 0.92, 0.915),
            ],
            status: Status::Finished,
            notes: vec![],
        };
        let cost = record.mean_shuffle_cost(PruneMethod::Magnitude).unwrap();
        assert!((cost - 4.0).abs() < 1e-4, "{cost}");
        let gap = record.mean_gap_to_imp(PruneMethod::Snip).unwrap();
        assert!((gap - 2.0).abs() < 1e-4, "{gap}");
        let finding = record.finding().unwrap();
        assert!(finding.contains("4.00 points") && finding.contains("positions matter"));
        // The ticket loses no more than the method: the sentence says so.
        record.points[0].shuffled_accuracy = Some(0.94);
        assert!(record.finding().unwrap().contains("unlike"));
        // On imbalanced data the figure is AUC: the costs and the sentence are in AUC.
        record.by_auc = true;
        let cost = record.mean_shuffle_cost(PruneMethod::Magnitude).unwrap();
        assert!((cost - 0.14).abs() < 1e-4, "{cost}");
        let finding = record.finding().unwrap();
        assert!(
            finding.contains("+0.140 AUC") && finding.contains("+0.105 AUC"),
            "{finding}"
        );
        assert!(finding.contains("positions matter"), "{finding}");
        assert!(
            record
                .to_csv()
                .lines()
                .next()
                .unwrap()
                .contains("shuffle_cost_auc")
        );
        // A saved record reads back; a point of an unlisted method does not.
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(AtInitRecord::parse(&json).unwrap(), record);
        record.config.methods = vec![PruneMethod::Grasp];
        let json = serde_json::to_string(&record).unwrap();
        assert!(AtInitRecord::parse(&json).unwrap_err().contains("snip"));
    }
}
