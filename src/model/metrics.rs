//! Loss and metrics shared by every engine and by the views.

/// ROC AUC by the rank statistic (Mann–Whitney U), ties counted half.
/// `None` when one of the classes is absent (the AUC is undefined then).
pub fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f32> {
    assert_eq!(scores.len(), positive.len());
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some((u / (n_pos as f64 * n_neg as f64)) as f32)
}

/// Softmax cross-entropy of one row of logits against `label`; writes the softmax into
/// `probs` and returns the loss. Stable for large logits (max subtracted).
pub fn softmax_cross_entropy(logits: &[f32], label: usize, probs: &mut [f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (p, &z) in probs.iter_mut().zip(logits) {
        *p = (z - max).exp();
        sum += *p;
    }
    for p in probs.iter_mut() {
        *p /= sum;
    }
    // log p_y = z_y - max - ln(sum): exact even when p_y underflows to 0.
    -(logits[label] - max - sum.ln())
}

/// Index of the largest logit (first one on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_inverted_rankings() {
        let pos = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &pos), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &pos), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &pos), Some(0.5));
        // One of 4 (pos, neg) pairs misordered.
        assert_eq!(roc_auc(&[0.1, 0.6, 0.5, 0.9], &pos), Some(0.75));
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
    }

    #[test]
    fn cross_entropy_is_stable_and_matches_the_formula() {
        let mut p = [0.0; 3];
        let loss = softmax_cross_entropy(&[1.0, 2.0, 3.0], 2, &mut p);
        let expected = -(3.0f32.exp() / (1.0f32.exp() + 2.0f32.exp() + 3.0f32.exp())).ln();
        assert!((loss - expected).abs() < 1e-6);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let loss = softmax_cross_entropy(&[1000.0, -1000.0, 0.0], 1, &mut p);
        assert!(loss.is_finite() && (loss - 2000.0).abs() < 1e-2);
    }
}
