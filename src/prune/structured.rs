//! Structured pruning: whole units go — a dense layer's neurons, a conv layer's filters —
//! ranked within each layer by the ℓ1 norm of their incoming weights (Li et al. 2017's filter
//! criterion), and what is left is a smaller dense network.
//!
//! A unit is a column of its layer's `[fan_in, fan_out]` weights. Removing it empties that
//! column and every row of the next parametric layer that reads it: the next layer's rows are
//! channels-last (`position · C + c` after a flatten, `tap · C + c` in a conv's patches, `c`
//! for a dense layer), so unit `j` of a layer with `C` units feeds the rows `r` with
//! `r % C == j`. The output layer's units are never removed.
//!
//! Such a mask is exactly a smaller network: [`Shrunk`] cuts the kept rows and columns out
//! (its spec reads e.g. 784-212-61-10) and puts trained weights back in the full shape (zeros
//! where units were removed), so the record, heatmaps and views keep one shape while the
//! engine trains the small dense net.

use ndarray::{Array1, Array2, Axis};

use super::PruneRates;
use crate::model::{Layer, LayerSpec, Mask, NetSpec, Network};

/// Which units of every hidden parametric layer are kept (ascending indices), out of how
/// many; the output layer keeps all of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Units {
    pub kept: Vec<Vec<usize>>,
    /// Units per hidden parametric layer before pruning.
    pub of: Vec<usize>,
}

impl Units {
    /// The units `mask` still uses: a unit is gone only when its own column and every row
    /// that reads it are pruned (then it changes nothing downstream, and removing it is
    /// exact). Any mask has such a set; a structured mask is fully described by it.
    pub fn of_mask(mask: &Mask) -> Self {
        let hidden = mask.layers.len().saturating_sub(1);
        let of: Vec<usize> = (0..hidden).map(|l| mask.layers[l].ncols()).collect();
        let kept = (0..hidden)
            .map(|l| {
                let units = of[l].max(1);
                let mut used = vec![false; units];
                for (j, column) in mask.layers[l].axis_iter(Axis(1)).enumerate() {
                    used[j] |= column.iter().any(|&k| k);
                }
                for (r, row) in mask.layers[l + 1].axis_iter(Axis(0)).enumerate() {
                    if row.iter().any(|&k| k) {
                        used[r % units] = true;
                    }
                }
                (0..of[l]).filter(|&j| used[j]).collect()
            })
            .collect();
        Units { kept, of }
    }

    /// Units kept per hidden layer.
    pub fn counts(&self) -> Vec<usize> {
        self.kept.iter().map(Vec::len).collect()
    }

    /// Whether a unit is gone anywhere.
    pub fn removes_any(&self) -> bool {
        self.counts() != self.of
    }

    /// `mask` with the removed units' columns, and the rows that read them, pruned.
    pub fn restrict(&self, mask: &Mask) -> Mask {
        let mut mask = mask.clone();
        for (l, kept) in self.kept.iter().enumerate() {
            let keep = membership(kept, self.of[l]);
            for (j, mut column) in mask.layers[l].axis_iter_mut(Axis(1)).enumerate() {
                if !keep[j] {
                    column.fill(false);
                }
            }
            for (r, mut row) in mask.layers[l + 1].axis_iter_mut(Axis(0)).enumerate() {
                if !keep[r % self.of[l].max(1)] {
                    row.fill(false);
                }
            }
        }
        mask
    }

    /// The rows of parametric layer `l` (of `fan_in`) that read kept units.
    fn rows(&self, l: usize, fan_in: usize) -> Vec<usize> {
        match l.checked_sub(1) {
            None => (0..fan_in).collect(),
            Some(p) => {
                let keep = membership(&self.kept[p], self.of[p]);
                (0..fan_in)
                    .filter(|r| keep[r % self.of[p].max(1)])
                    .collect()
            }
        }
    }

    /// The columns of parametric layer `l` (of `fan_out`) that are kept units.
    fn columns(&self, l: usize, fan_out: usize) -> Vec<usize> {
        self.kept
            .get(l)
            .cloned()
            .unwrap_or_else(|| (0..fan_out).collect())
    }
}

/// The `rows × cols` of `a`, in standard (row-major) layout, which the engines need.
fn pick<T: Copy>(a: &Array2<T>, rows: &[usize], cols: &[usize]) -> Array2<T> {
    Array2::from_shape_fn((rows.len(), cols.len()), |(i, k)| a[(rows[i], cols[k])])
}

fn membership(kept: &[usize], units: usize) -> Vec<bool> {
    let mut keep = vec![false; units];
    for &j in kept {
        if j < units {
            keep[j] = true;
        }
    }
    keep
}

/// Units each hidden layer keeps after `rounds` rounds: `round(n · (1 − p)^r)` of its `n`
/// units at its kind's rate (the same rounding rule as weights), never fewer than one.
pub fn unit_counts(spec: &NetSpec, rates: &PruneRates, rounds: f64) -> Vec<usize> {
    let params = spec.param_layers();
    params[..params.len().saturating_sub(1)]
        .iter()
        .map(|p| {
            let n = p.shape.1;
            let keep = (n as f64 * (1.0 - rates.rate_for(p.kind)).powf(rounds)).round() as usize;
            keep.clamp(1, n.max(1))
        })
        .collect()
}

/// The (fractional) rounds after which structured pruning leaves `density` of the weights
/// (a unit takes its row in the next layer along, so this is not the weights' schedule).
pub fn unit_rounds_for_density(spec: &NetSpec, rates: &PruneRates, density: f64) -> f64 {
    super::rounds_reaching(density, |r| {
        structured_density(spec, &unit_counts(spec, rates, r))
    })
}

/// The mask that keeps the first `counts[l]` units of each hidden layer: a narrower dense
/// network inside the full shape (which units does not matter for fresh weights).
pub fn first_units(spec: &NetSpec, counts: &[usize]) -> Mask {
    let dense = Mask::dense(spec);
    let units = Units::of_mask(&dense);
    let kept = counts.iter().map(|&count| (0..count).collect()).collect();
    Units { kept, ..units }.restrict(&dense)
}

/// The units of a narrower dense copy of `spec`: every hidden layer's width (or channels)
/// scaled by one factor, the one whose copy has the number of weights closest to `density` of
/// the full network's. "Search vs shrink": a small dense network the size of a ticket.
pub fn narrower_counts(spec: &NetSpec, density: f64) -> Vec<usize> {
    let params = spec.param_layers();
    let widths: Vec<usize> = params[..params.len().saturating_sub(1)]
        .iter()
        .map(|p| p.shape.1)
        .collect();
    let counts = |scale: f64| -> Vec<usize> {
        widths
            .iter()
            .map(|&n| ((n as f64 * scale).round() as usize).clamp(1, n.max(1)))
            .collect()
    };
    // The density grows with the scale (in steps): bisect for the last scale below it and
    // the first at or above it, and keep the closer of the two.
    let (mut below, mut above) = (0.0f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (below + above);
        if structured_density(spec, &counts(mid)) < density {
            below = mid
        } else {
            above = mid
        }
    }
    let (low, high) = (counts(below), counts(above));
    let miss = |c: &[usize]| (structured_density(spec, c) - density).abs();
    if miss(&low) < miss(&high) { low } else { high }
}

/// The fraction of weights left when every hidden layer keeps `counts[l]` of its units:
/// each unit has a column of its layer and `fan_in / units` rows of the next.
pub fn structured_density(spec: &NetSpec, counts: &[usize]) -> f64 {
    let shapes = spec.layer_shapes();
    let (mut kept, mut total) = (0usize, 0usize);
    for (l, &(fan_in, fan_out)) in shapes.iter().enumerate() {
        let rows = match l.checked_sub(1) {
            None => fan_in,
            Some(p) => fan_in / shapes[p].1.max(1) * counts[p],
        };
        let cols = counts.get(l).copied().unwrap_or(fan_out);
        kept += rows * cols;
        total += fan_in * fan_out;
    }
    kept as f64 / total.max(1) as f64
}

/// The ℓ1 norm of each unit's kept incoming weights in parametric layer `l`.
pub fn unit_norms(net: &Network, mask: &Mask, l: usize) -> Vec<f32> {
    net.layers[l]
        .weight
        .axis_iter(Axis(1))
        .zip(mask.layers[l].axis_iter(Axis(1)))
        .map(|(w, k)| {
            w.iter()
                .zip(k.iter())
                .filter(|&(_, &k)| k)
                .map(|(w, _)| w.abs())
                .sum()
        })
        .collect()
}

/// Keep, in every hidden layer, the `counts[l]` units of `current` with the largest norm
/// (ties to the lower index).
pub fn structured_prune(net: &Network, current: &Mask, counts: &[usize]) -> Mask {
    let units = Units::of_mask(current);
    let kept = units
        .kept
        .iter()
        .enumerate()
        .map(|(l, alive)| {
            let norms = unit_norms(net, current, l);
            let mut ranked = alive.clone();
            ranked.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]).then(a.cmp(&b)));
            ranked.truncate(counts[l]);
            ranked.sort_unstable();
            ranked
        })
        .collect();
    Units { kept, ..units }.restrict(current)
}

/// `counts[l]` units of every hidden layer at random (the random control at the same
/// structure).
pub fn random_units(spec: &NetSpec, counts: &[usize], rng: &mut crate::rng::Rng) -> Mask {
    use rand::seq::SliceRandom as _;
    let dense = Mask::dense(spec);
    let units = Units::of_mask(&dense);
    let kept = units
        .of
        .iter()
        .zip(counts)
        .map(|(&n, &count)| {
            let mut all: Vec<usize> = (0..n).collect();
            all.shuffle(rng);
            all.truncate(count);
            all.sort_unstable();
            all
        })
        .collect();
    Units { kept, ..units }.restrict(&dense)
}

/// A network with its removed units cut out: the smaller spec, and the way back.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub spec: NetSpec,
    pub units: Units,
    full: NetSpec,
}

impl Shrunk {
    /// The smaller network that `mask` (on `full`) amounts to.
    pub fn of(full: &NetSpec, mask: &Mask) -> Self {
        let units = Units::of_mask(mask);
        let mut counts = units.counts().into_iter();
        let hidden = full
            .hidden
            .iter()
            .map(|layer| match *layer {
                LayerSpec::Dense { .. } => LayerSpec::Dense {
                    units: counts.next().unwrap_or(1),
                },
                LayerSpec::Conv {
                    kernel,
                    stride,
                    padding,
                    ..
                } => LayerSpec::Conv {
                    channels: counts.next().unwrap_or(1),
                    kernel,
                    stride,
                    padding,
                },
                other => other,
            })
            .collect();
        let spec = NetSpec {
            hidden,
            ..full.clone()
        };
        Shrunk {
            spec,
            units,
            full: full.clone(),
        }
    }

    /// The kept rows and columns of `net` (on the full spec).
    pub fn network(&self, net: &Network) -> Network {
        let layers = net
            .layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let (rows, cols) = self.cut(l, layer.weight.dim());
                Layer {
                    weight: pick(&layer.weight, &rows, &cols),
                    bias: layer.bias.select(Axis(0), &cols),
                }
            })
            .collect();
        Network {
            spec: self.spec.clone(),
            layers,
        }
    }

    /// The kept rows and columns of `mask` (on the full spec).
    pub fn mask(&self, mask: &Mask) -> Mask {
        Mask {
            layers: mask
                .layers
                .iter()
                .enumerate()
                .map(|(l, m)| {
                    let (rows, cols) = self.cut(l, m.dim());
                    pick(m, &rows, &cols)
                })
                .collect(),
        }
    }

    /// `small` (on the shrunk spec) back in the full shape: removed weights 0, a removed
    /// unit's bias from `fill` (it never changes: nothing downstream reads the unit, so its
    /// gradient is 0).
    pub fn expand(&self, small: &Network, fill: &Network) -> Network {
        let layers = small
            .layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let full = &fill.layers[l];
                let (rows, cols) = self.cut(l, full.weight.dim());
                let mut weight = Array2::zeros(full.weight.dim());
                let mut bias: Array1<f32> = full.bias.clone();
                for (i, &r) in rows.iter().enumerate() {
                    for (k, &c) in cols.iter().enumerate() {
                        weight[(r, c)] = layer.weight[(i, k)];
                    }
                }
                for (k, &c) in cols.iter().enumerate() {
                    bias[c] = layer.bias[k];
                }
                Layer { weight, bias }
            })
            .collect();
        Network {
            spec: self.full.clone(),
            layers,
        }
    }

    /// The rows and columns of parametric layer `l` (of shape `dim`) that stay.
    fn cut(&self, l: usize, (fan_in, fan_out): (usize, usize)) -> (Vec<usize>, Vec<usize>) {
        (self.units.rows(l, fan_in), self.units.columns(l, fan_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrower_counts_scale_every_layer_to_the_tickets_size() {
        let lenet = NetSpec::mlp(784, &[300, 100], 10);
        // At the quick-digits ticket's 2.9% (7,720 of 266,200 weights): 784-10-3-10.
        assert_eq!(narrower_counts(&lenet, 0.029), vec![10, 3]);
        assert_eq!(narrower_counts(&lenet, 1.0), vec![300, 100]);
        // The same share of each layer, and the closest size there is.
        for density in [0.7, 0.3, 0.1, 0.05] {
            let counts = narrower_counts(&lenet, density);
            let share = counts[0] as f64 / 300.0;
            assert!(
                (counts[1] as f64 / 100.0 - share).abs() < 0.02,
                "{counts:?}"
            );
            let got = structured_density(&lenet, &counts);
            let wider = structured_density(&lenet, &[counts[0] + 1, counts[1]]);
            assert!(
                (got - density).abs() <= (wider - got).abs() * 2.0,
                "{density}: {got}"
            );
        }
        // Never below one unit a layer.
        assert_eq!(narrower_counts(&lenet, 1e-6), vec![1, 1]);
    }
}
