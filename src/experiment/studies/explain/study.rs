//! The explanation study's state machine: each network's integrated gradients of each
//! example and its noisy copies, a chunk of grid rows per call, then the figures.

use std::collections::VecDeque;
use std::sync::Arc;

use rand_distr::{Distribution as _, Normal};

use super::{
    EXPLAIN_FORMAT, ExplainConfig, ExplainError, ExplainProgress, ExplainRecord, ExplainedExample,
    ExplainedNetwork,
};
use crate::data::DataSplits;
use crate::experiment::studies::Subject;
use crate::experiment::{ExperimentRecord, RunKind, Status};
use crate::model::Network;
use crate::model::attribution::{
    ATTRIBUTION_CHUNK, COMPLETENESS_TOLERANCE, IntegratedGradients, connectivity,
    gradient_times_input, top_k_agreement, top_k_for,
};
use crate::rng;

/// One example's work for one network: its integrated gradients, then each noisy copy's.
struct Task {
    network: usize,
    example: usize,
    /// 0 = the example itself, then the noisy copies.
    copy: usize,
    run: IntegratedGradients,
}

pub struct ExplainStudy {
    data: Arc<DataSplits>,
    networks: Vec<Network>,
    record: ExplainRecord,
    /// Each example's input and each noisy copy, shared by every network.
    inputs: Vec<Vec<Vec<f32>>>,
    tasks: VecDeque<(usize, usize, usize)>,
    current: Option<Task>,
    tasks_total: usize,
    rows_evaluated: usize,
}

impl ExplainStudy {
    /// The explanations of `imp`'s dense network and, for `config.round` > 0, that round's
    /// ticket and random-pruning control (when it was trained), on `data`'s test split.
    pub fn new(
        config: ExplainConfig,
        data: Arc<DataSplits>,
        imp: &ExperimentRecord,
    ) -> Result<Self, ExplainError> {
        config.validate()?;
        let rounds = imp.rounds.len();
        let round = imp
            .rounds
            .get(config.round)
            .ok_or(ExplainError::NoSuchRound {
                round: config.round,
                rounds,
            })?;
        let dense = imp
            .rounds
            .first()
            .and_then(|r| r.run(RunKind::Ticket))
            .ok_or(ExplainError::NoSuchRound { round: 0, rounds })?;
        let mut subjects = vec![(Subject::Dense, dense)];
        if config.round > 0 {
            let ticket = round
                .run(RunKind::Ticket)
                .ok_or(ExplainError::NoSuchRound {
                    round: config.round,
                    rounds,
                })?;
            subjects.push((Subject::Ticket, ticket));
            if let Some(random) = round.run(RunKind::RandomPrune) {
                subjects.push((Subject::RandomPrune, random));
            }
        }
        let test = &data.test;
        for &index in &config.examples {
            if index >= test.len() {
                return Err(ExplainError::NoSuchExample {
                    index,
                    len: test.len(),
                });
            }
        }
        let mut networks = Vec::new();
        let mut explained = Vec::new();
        for (subject, run) in subjects {
            let trained = run
                .trained
                .as_ref()
                .ok_or(ExplainError::NoWeights(subject.label()))?;
            explained.push(ExplainedNetwork {
                subject,
                density: run.density,
                connectivity: connectivity(trained, &run.mask),
                examples: Vec::new(),
            });
            networks.push(trained.clone());
        }
        let noise = Normal::new(0.0, config.noise).expect("checked: finite, ≥ 0");
        let inputs: Vec<Vec<Vec<f32>>> = config
            .examples
            .iter()
            .map(|&index| {
                let x: Vec<f32> = test.features.row(index).to_vec();
                let mut rng = rng::rng_indexed(imp.config.seed, "explain-noise", index as u64);
                let mut copies = vec![x.clone()];
                for _ in 0..config.neighbours {
                    copies.push(x.iter().map(|v| v + noise.sample(&mut rng)).collect());
                }
                copies
            })
            .collect();
        let mut tasks = VecDeque::new();
        for network in 0..networks.len() {
            for example in 0..config.examples.len() {
                for copy in 0..=config.neighbours {
                    tasks.push_back((network, example, copy));
                }
            }
        }
        let tasks_total = tasks.len();
        Ok(Self {
            record: ExplainRecord {
                format: EXPLAIN_FORMAT.into(),
                config,
                experiment: imp.config.clone(),
                input: imp.spec.input_shape(),
                networks: explained,
                status: Status::Running,
                notes: Vec::new(),
            },
            data,
            networks,
            inputs,
            tasks,
            current: None,
            tasks_total,
            rows_evaluated: 0,
        })
    }

    /// A saved study, shown again: its record only (nothing is left to compute; a record
    /// saved while running is marked stopped).
    pub fn reopened(mut record: ExplainRecord, data: Arc<DataSplits>) -> Self {
        if record.status == Status::Running {
            record.status = Status::Stopped {
                reason: "saved before it finished".into(),
            };
        }
        Self {
            data,
            networks: Vec::new(),
            record,
            inputs: Vec::new(),
            tasks: VecDeque::new(),
            current: None,
            tasks_total: 0,
            rows_evaluated: 0,
        }
    }

    /// Grid rows (forward and backward passes of one input) evaluated so far.
    pub fn rows_evaluated(&self) -> usize {
        self.rows_evaluated
    }

    pub fn record(&self) -> &ExplainRecord {
        &self.record
    }

    pub fn is_done(&self) -> bool {
        self.record.status != Status::Running
    }

    /// Evaluate up to `rows` grid rows (at least one chunk), then say where it stands.
    pub fn advance(&mut self, rows: usize) -> ExplainProgress {
        let mut done_rows = 0;
        while !self.is_done() {
            if self.current.is_none() {
                match self.tasks.pop_front() {
                    Some((network, example, copy)) => {
                        let x = &self.inputs[example][copy];
                        let class = usize::from(
                            self.data.test.labels[self.record.config.examples[example]],
                        );
                        self.current = Some(Task {
                            network,
                            example,
                            copy,
                            run: IntegratedGradients::new(
                                &self.networks[network],
                                x,
                                &vec![0.0; x.len()],
                                class,
                                COMPLETENESS_TOLERANCE,
                            ),
                        });
                    }
                    None => {
                        self.record.status = Status::Finished;
                        break;
                    }
                }
            }
            if done_rows > 0 && done_rows + ATTRIBUTION_CHUNK > rows.max(ATTRIBUTION_CHUNK) {
                break;
            }
            let task = self.current.as_mut().expect("just filled");
            let before = task.run.rows_evaluated();
            let finished = task.run.step(&self.networks[task.network]).is_some();
            let rows_now = task.run.rows_evaluated() - before;
            done_rows += rows_now;
            self.rows_evaluated += rows_now;
            if finished {
                let task = self.current.take().expect("in flight");
                self.finish(task);
            }
        }
        self.progress()
    }

    fn finish(&mut self, task: Task) {
        let attribution = task.run.result().expect("finished").clone();
        let net = &self.networks[task.network];
        let index = self.record.config.examples[task.example];
        let explained = &mut self.record.networks[task.network];
        if task.copy == 0 {
            let x = &self.inputs[task.example][0];
            let mut forward = None;
            let row = ndarray::ArrayView2::from_shape((1, x.len()), x.as_slice()).expect("one row");
            let logits = crate::model::infer::logits(net, row, &mut forward);
            let predicted = logits
                .row(0)
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            explained.examples.push(ExplainedExample {
                index,
                label: self.data.test.labels[index],
                predicted,
                gradient_input: gradient_times_input(net, x, attribution.class),
                integrated: attribution,
                neighbour_agreement: Vec::new(),
            });
        } else {
            let example = explained
                .examples
                .last_mut()
                .expect("the example itself is explained before its copies");
            let k = top_k_for(attribution.values.len());
            example
                .neighbour_agreement
                .push(top_k_agreement(&example.integrated, &attribution, k));
        }
        if task.copy == 0 {
            let e = explained.examples.last().expect("just pushed");
            if e.integrated.completeness_error() > COMPLETENESS_TOLERANCE {
                self.record.notes.push(format!(
                    "{} example {index}: integrated gradients complete only within {:.2}% at {} intervals",
                    explained.subject.label(),
                    e.integrated.completeness_error() * 100.0,
                    e.integrated.intervals
                ));
            }
        }
    }

    pub fn progress(&self) -> ExplainProgress {
        let tasks_done = self.tasks_total - self.tasks.len() - usize::from(self.current.is_some());
        let doing = match (&self.current, self.tasks.front()) {
            (Some(task), _) => self.describe(task.network, task.example, task.copy),
            (None, Some(&(n, e, c))) => self.describe(n, e, c),
            (None, None) => "done".into(),
        };
        ExplainProgress {
            tasks_done,
            tasks: self.tasks_total,
            doing,
            finished: self.is_done(),
        }
    }

    fn describe(&self, network: usize, example: usize, copy: usize) -> String {
        let subject = self.record.networks[network].subject.label();
        let index = self.record.config.examples[example];
        if copy == 0 {
            format!("{subject}: test example {index}")
        } else {
            format!("{subject}: test example {index}, noisy copy {copy}")
        }
    }

    /// Run to the end at once (the CLI, tests).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_to_end(&mut self, mut on_progress: impl FnMut(&ExplainProgress)) -> &ExplainRecord {
        while !self.is_done() {
            let progress = self.advance(1024);
            on_progress(&progress);
        }
        &self.record
    }
}
