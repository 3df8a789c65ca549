//! Studies: experiments of other shapes than IMP rounds (two trained copies and the path
//! between them, a ticket moved to another task, ...). One file per study, each with its
//! config, its record and a bounded-work state machine the page advances per frame and the
//! CLI runs to the end.

pub mod at_init;
pub mod explain;
pub mod lmc;
pub mod request;
pub mod rewind;
mod training;
pub mod transfer;

pub use at_init::{AtInitConfig, AtInitPoint, AtInitProgress, AtInitRecord, AtInitStudy};
pub use explain::{
    ExplainConfig, ExplainError, ExplainProgress, ExplainRecord, ExplainStudy, ExplainedExample,
    ExplainedNetwork,
};
pub use lmc::{LmcConfig, LmcError, LmcPath, LmcProgress, LmcRecord, LmcStudy, Subject};
pub use request::StudyRequest;
pub use rewind::{RewindConfig, RewindPoint, RewindProgress, RewindRecord, RewindSweep};
pub use transfer::{
    Source, TransferConfig, TransferError, TransferProgress, TransferRecord, TransferResult,
    TransferStudy, TransferSubject,
};

/// Makes an engine for a study's experiments and networks (the rewinding sweep's points, the
/// transfer study's tasks, the prune-at-init study's points).
pub use crate::train::EngineMaker;

/// A figure over seeds: mean, standard deviation (n − 1) and range; one seed has sd 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        Some(Self {
            mean,
            sd: var.sqrt(),
            min,
            max,
            n,
        })
    }

    /// "5.10 ± 0.20 (4.90-5.30)" with `decimals` digits.
    pub fn label(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ± {:.d$} ({:.d$}-{:.d$})",
            self.mean,
            self.sd,
            self.min,
            self.max,
            d = decimals
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn a_spread_is_the_mean_the_sample_sd_and_the_range() {
        let s = Spread::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.sd, s.min, s.max, s.n), (2.0, 1.0, 1.0, 3.0, 3));
        assert_eq!(s.label(1), "2.0 ± 1.0 (1.0-3.0)");
        assert_eq!(Spread::of(&[4.0]).unwrap().sd, 0.0);
        assert_eq!(Spread::of(&[]), None);
    }
}
