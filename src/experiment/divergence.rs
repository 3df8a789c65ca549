//! A run that fails to train, caught from its evaluation points: a loss that became
//! non-finite, a loss that exploded against its start (Adam with an absurd learning rate
//! keeps every number finite and lands at chance), and a dense network that never rose above
//! chance. Each gives the reason the experiment stops with, and a hint about the learning
//! rate, the usual culprit.

use crate::data::DataSplits;
use crate::train::EvalPoint;

/// A validation loss this many times its start (or ln C, whichever is larger) has exploded:
/// overfitting raises a loss by tens of percent, not tenfold.
pub const EXPLOSION_FACTOR: f32 = 10.0;

/// A dense network whose best validation accuracy is within this of always answering the
/// commonest class learned nothing (two points: chance plus a little luck).
pub const CHANCE_MARGIN: f32 = 0.02;

/// ... and whose validation loss never fell below this share of its start: a network that
/// learned nothing has neither a better accuracy nor a better loss (a short run that is still
/// learning has the second).
pub const UNMOVED_LOSS: f32 = 0.9;

/// On imbalanced binary data accuracy says nothing: a dense network whose best test ROC AUC
/// stays under this ranks frauds no better than a coin.
pub const CHANCE_AUC: f32 = 0.55;

/// What a run's curve is held against: the data's chance level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChanceLevel {
    /// The commonest class's share of the validation set.
    pub majority_share: f32,
    /// ln C: the loss of a network that answers every class alike.
    pub uniform_loss: f32,
    /// Judge by ROC AUC (binary imbalanced data).
    pub by_auc: bool,
}

impl ChanceLevel {
    pub fn of(data: &DataSplits) -> Self {
        let mut counts = vec![0usize; data.n_classes.max(1)];
        for &label in &data.val.labels {
            if let Some(c) = counts.get_mut(usize::from(label)) {
                *c += 1;
            }
        }
        let most = counts.iter().copied().max().unwrap_or(0);
        Self {
            majority_share: most as f32 / data.val.len().max(1) as f32,
            uniform_loss: (data.n_classes.max(2) as f32).ln(),
            by_auc: data.positive_class.is_some(),
        }
    }
}

/// Why the newest point of `curve` (its first point is the untrained network's) shows the
/// run diverging, if it does.
pub fn diverged(curve: &[EvalPoint], chance: &ChanceLevel, lr: f32) -> Option<String> {
    let point = curve.last()?;
    if !point.is_finite() {
        return Some(format!(
            "the loss became non-finite (NaN or infinite) at iteration {}: {}",
            point.iteration,
            lr_hint(lr)
        ));
    }
    let start = curve.first()?.val_loss.max(chance.uniform_loss);
    (point.val_loss > EXPLOSION_FACTOR * start).then(|| {
        format!(
            "the loss exploded at iteration {}: validation loss {:.3e}, {:.0}× its start \
             ({start:.3}): {}",
            point.iteration,
            point.val_loss,
            point.val_loss / start,
            lr_hint(lr)
        )
    })
}

/// Why the finished dense run's `curve` shows a network stuck at chance, if it does.
pub fn stuck_at_chance(curve: &[EvalPoint], chance: &ChanceLevel, lr: f32) -> Option<String> {
    let trained = curve.iter().filter(|p| p.iteration > 0);
    let last = curve.last().filter(|p| p.iteration > 0)?.iteration;
    // (Not on imbalanced data: answering "honest" to everything lowers the loss a lot.)
    let start = curve.first()?.val_loss;
    let lowest = trained.clone().map(|p| p.val_loss).reduce(f32::min)?;
    if !chance.by_auc && lowest < UNMOVED_LOSS * start {
        return None;
    }
    if chance.by_auc {
        let best = trained.filter_map(|p| p.test_auc).reduce(f32::max)?;
        (best < CHANCE_AUC).then(|| {
            format!(
                "the dense network stayed at chance: its best test ROC AUC in {last} \
                 iterations is {best:.3} (a coin: 0.5): {}",
                lr_hint(lr)
            )
        })
    } else {
        let best = trained.map(|p| p.val_accuracy).reduce(f32::max)?;
        (best <= chance.majority_share + CHANCE_MARGIN).then(|| {
            format!(
                "the dense network stayed at chance: its best validation accuracy in {last} \
                 iterations is {:.1}%, where always answering the commonest class gives \
                 {:.1}%: {}",
                best * 100.0,
                chance.majority_share * 100.0,
                lr_hint(lr)
            )
        })
    }
}

/// What to try, from the learning rate the run had.
fn lr_hint(lr: f32) -> String {
    if lr > 0.1 {
        format!("the learning rate {lr} is probably too high (the presets use 1e-3 to 1e-2)")
    } else if lr < 1e-5 {
        format!("the learning rate {lr} is probably too low (the presets use 1e-3 to 1e-2)")
    } else {
        format!(
            "check the learning rate ({lr}; the presets use 1e-3 to 1e-2), the iterations and \
             the data"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(iteration: usize, val_loss: f32, val_accuracy: f32) -> EvalPoint {
        EvalPoint {
            iteration,
            train_loss: None,
            val_loss,
            val_accuracy,
            test_loss: val_loss,
            test_accuracy: val_accuracy,
            test_auc: None,
        }
    }

    const TEN_CLASSES: ChanceLevel = ChanceLevel {
        majority_share: 0.11,
        uniform_loss: std::f32::consts::LN_10,
        by_auc: false,
    };

    #[test]
    fn an_exploding_loss_is_caught_and_overfitting_is_not() {
        let start = point(0, 2.4, 0.1);
        let overfit = [start.clone(), point(100, 0.2, 0.95), point(800, 0.9, 0.93)];
        assert_eq!(diverged(&overfit, &TEN_CLASSES, 1e-3), None);
        let exploded = [start.clone(), point(100, 4.0e7, 0.1)];
        let why = diverged(&exploded, &TEN_CLASSES, 1e9).unwrap();
        assert!(
            why.contains("exploded") && why.contains("too high"),
            "{why}"
        );
        let nan = [start, point(100, f32::NAN, 0.1)];
        assert!(
            diverged(&nan, &TEN_CLASSES, 1e9)
                .unwrap()
                .contains("non-finite")
        );
    }

    #[test]
    fn a_dense_network_at_chance_is_caught() {
        let start = point(0, 2.3, 0.1);
        let stuck = [start.clone(), point(100, 2.3, 0.12), point(200, 2.3, 0.125)];
        let why = stuck_at_chance(&stuck, &TEN_CLASSES, 1e-9).unwrap();
        assert!(why.contains("12.5%") && why.contains("too low"), "{why}");
        let learned = [start.clone(), point(100, 0.5, 0.9)];
        assert_eq!(stuck_at_chance(&learned, &TEN_CLASSES, 1e-3), None);
        // Still at chance but its loss is falling: a short run, learning.
        let learning = [start.clone(), point(20, 1.9, 0.12)];
        assert_eq!(stuck_at_chance(&learning, &TEN_CLASSES, 1e-3), None);
        // Untrained (iteration 0 only): nothing to judge yet.
        assert_eq!(stuck_at_chance(&[start], &TEN_CLASSES, 1e-3), None);
        // Imbalanced data: judged by AUC, not by an accuracy that is 98% for any answer.
        let fraud = ChanceLevel {
            majority_share: 0.985,
            uniform_loss: 0.693,
            by_auc: true,
        };
        let auc = |p: EvalPoint, auc| EvalPoint {
            test_auc: Some(auc),
            ..p
        };
        let coin = [point(0, 0.7, 0.5), auc(point(100, 0.08, 0.985), 0.51)];
        assert!(
            stuck_at_chance(&coin, &fraud, 1e-3)
                .unwrap()
                .contains("AUC")
        );
        let ranks = [point(0, 0.7, 0.5), auc(point(100, 0.08, 0.985), 0.88)];
        assert_eq!(stuck_at_chance(&ranks, &fraud, 1e-3), None);
    }
}
