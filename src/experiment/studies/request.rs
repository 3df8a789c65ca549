//! A study asked for by name: what a link's `study=` carries, so that a shared link runs the
//! experiment and then the study ("the experiment, then its stability at round 10"). One
//! token each, the same words as the CLI's study commands:
//!
//! - `lmc:ROUND:K,K…` — linear mode connectivity of the dense net and round ROUND's ticket
//!   (ROUND 0: the dense net only), branched at each θ_K;
//! - `rewind:DENSITY:K,K…` — the late-rewinding sweep at DENSITY (0-1);
//! - `explain:ROUND:EXAMPLE` — explanations of test example EXAMPLE;
//! - `transfer:TASK:ROUND` — round ROUND's ticket moved to TASK's B;
//! - `at-init:PERCENT,PERCENT…:METHODS` — pruning at initialisation (METHODS `all` or
//!   `snip,grasp,…`) at each density (percent of weights kept), against IMP's tickets.

use crate::data::tasks::TransferTask;
use crate::experiment::studies::at_init::{AT_INIT_METHODS, parse_methods, parse_percentages};
use crate::prune::PruneMethod;

#[derive(Clone, Debug, PartialEq)]
pub enum StudyRequest {
    Stability {
        round: usize,
        branch_at: Vec<usize>,
    },
    Rewinding {
        density: f64,
        rewind_at: Vec<usize>,
    },
    Explain {
        round: usize,
        example: usize,
    },
    Transfer {
        task: TransferTask,
        round: usize,
    },
    /// Densities as fractions (descending), methods at initialisation.
    AtInit {
        densities: Vec<f64>,
        methods: Vec<PruneMethod>,
    },
}

/// What a `study=` value may be, in a notice's words.
pub const STUDY_VALUES: &str = "lmc:ROUND:K,K…, rewind:DENSITY:K,K…, explain:ROUND:EXAMPLE, \
    transfer:TASK:ROUND, at-init:PERCENT,PERCENT…:METHODS, or none";

impl StudyRequest {
    /// Its token in a link.
    pub fn token(&self) -> String {
        let list = |v: &[usize]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            StudyRequest::Stability { round, branch_at } => {
                format!("lmc:{round}:{}", list(branch_at))
            }
            StudyRequest::Rewinding { density, rewind_at } => {
                format!("rewind:{density}:{}", list(rewind_at))
            }
            StudyRequest::Explain { round, example } => format!("explain:{round}:{example}"),
            StudyRequest::Transfer { task, round } => format!("transfer:{}:{round}", task.key()),
            StudyRequest::AtInit { densities, methods } => {
                let percents = densities
                    .iter()
                    .map(|d| format!("{}", (d * 1e5).round() / 1e3))
                    .collect::<Vec<_>>()
                    .join(",");
                let methods = if methods.as_slice() == AT_INIT_METHODS {
                    "all".to_string()
                } else {
                    methods
                        .iter()
                        .map(|m| m.key())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!("at-init:{percents}:{methods}")
            }
        }
    }

    /// Read a token; `None` when it is not one of [`STUDY_VALUES`]. The figures themselves
    /// (a round the experiment has, k within training) are checked when the study starts.
    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.splitn(3, ':');
        let (kind, first, second) = (parts.next()?, parts.next()?, parts.next()?);
        let list = |text: &str| -> Option<Vec<usize>> {
            let values: Option<Vec<usize>> =
                text.split(',').map(|v| v.trim().parse().ok()).collect();
            values.filter(|v| !v.is_empty() && v.len() <= 16)
        };
        Some(match kind {
            "lmc" => StudyRequest::Stability {
                round: first.parse().ok()?,
                branch_at: list(second)?,
            },
            "rewind" => StudyRequest::Rewinding {
                density: first.parse().ok().filter(|d: &f64| *d > 0.0 && *d < 1.0)?,
                rewind_at: list(second)?,
            },
            "explain" => StudyRequest::Explain {
                round: first.parse().ok()?,
                example: second.parse().ok()?,
            },
            "transfer" => StudyRequest::Transfer {
                task: TransferTask::from_key(first)?,
                round: second.parse().ok()?,
            },
            "at-init" => StudyRequest::AtInit {
                densities: parse_percentages(first).ok()?,
                methods: parse_methods(second).ok()?,
            },
            _ => return None,
        })
    }

    /// Its name in notices ("Stability", as the panel's).
    pub fn name(&self) -> &'static str {
        match self {
            StudyRequest::Stability { .. } => "Stability",
            StudyRequest::Rewinding { .. } => "Rewinding",
            StudyRequest::Explain { .. } => "Explanations",
            StudyRequest::Transfer { .. } => "Transfer",
            StudyRequest::AtInit { .. } => "Prune at init",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_round_trips_through_its_token() {
        let requests = [
            StudyRequest::Stability {
                round: 10,
                branch_at: vec![0, 100],
            },
            StudyRequest::Rewinding {
                density: 0.05,
                rewind_at: vec![0, 10, 400],
            },
            StudyRequest::Explain {
                round: 8,
                example: 3,
            },
            StudyRequest::Transfer {
                task: TransferTask::InvertedDigits,
                round: 8,
            },
            StudyRequest::AtInit {
                densities: vec![0.21, 0.036],
                methods: vec![PruneMethod::Snip, PruneMethod::Synflow],
            },
            StudyRequest::AtInit {
                densities: vec![0.5],
                methods: AT_INIT_METHODS.to_vec(),
            },
        ];
        for request in requests {
            let token = request.token();
            assert_eq!(StudyRequest::parse(&token), Some(request), "{token}");
        }
        assert_eq!(
            StudyRequest::parse("transfer:noisier:8").unwrap().token(),
            "transfer:noisier:8"
        );
        assert_eq!(
            StudyRequest::parse("at-init:7,21:all").unwrap().token(),
            "at-init:21,7:all"
        );
    }

    #[test]
    fn garbage_is_not_a_request() {
        for bad in [
            "",
            "lmc",
            "lmc:1",
            "lmc:x:0",
            "lmc:1:",
            "rewind:1.5:0",
            "rewind:0:0",
            "explain:1:-2",
            "transfer:upside-down:3",
            "party:1:2",
            "at-init:21:magnitude",
            "at-init:0:all",
            "at-init::all",
        ] {
            assert_eq!(StudyRequest::parse(bad), None, "{bad:?}");
        }
    }
}
