//! An independent f64 reference of the network (plain loops over each layer's definition):
//! what gradient checks and pruning scores are held against.

use lottery_lab::model::{Network, PlannedOp, Shape};

/// One sample through the network, in f64, straight from the definitions.
pub fn reference_logits(net: &Network, x: &[f32]) -> Vec<f64> {
    let mut act: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    for layer in net.spec.plan() {
        let (input, output) = (layer.input, layer.output);
        let at = |s: &Shape, y: usize, x: usize, c: usize| (y * s.width + x) * s.channels + c;
        act = match layer.op {
            PlannedOp::Dense {
                fan_in,
                fan_out,
                relu,
            } => {
                let p = &net.layers[layer.param.unwrap()];
                (0..fan_out)
                    .map(|o| {
                        let z = f64::from(p.bias[o])
                            + (0..fan_in)
                                .map(|i| act[i] * f64::from(p.weight[(i, o)]))
                                .sum::<f64>();
                        if relu { z.max(0.0) } else { z }
                    })
                    .collect()
            }
            PlannedOp::Conv(g) => {
                let p = &net.layers[layer.param.unwrap()];
                let mut out = vec![0.0; output.len()];
                for oy in 0..output.height {
                    for ox in 0..output.width {
                        for o in 0..output.channels {
                            let mut z = f64::from(p.bias[o]);
                            for ky in 0..g.kernel_h {
                                for kx in 0..g.kernel_w {
                                    let iy = (oy * g.stride_h + ky) as isize - g.pad_h as isize;
                                    let ix = (ox * g.stride_w + kx) as isize - g.pad_w as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= input.height as isize
                                        || ix >= input.width as isize
                                    {
                                        continue;
                                    }
                                    for c in 0..input.channels {
                                        let tap = (ky * g.kernel_w + kx) * input.channels + c;
                                        z += act[at(&input, iy as usize, ix as usize, c)]
                                            * f64::from(p.weight[(tap, o)]);
                                    }
                                }
                            }
                            out[at(&output, oy, ox, o)] = z.max(0.0);
                        }
                    }
                }
                out
            }
            PlannedOp::MaxPool(g) => {
                let mut out = vec![0.0; output.len()];
                for oy in 0..output.height {
                    for ox in 0..output.width {
                        for c in 0..output.channels {
                            let mut best = f64::NEG_INFINITY;
                            for ky in 0..g.size_h {
                                for kx in 0..g.size_w {
                                    let v =
                                        act[at(&input, oy * g.size_h + ky, ox * g.size_w + kx, c)];
                                    best = best.max(v);
                                }
                            }
                            out[at(&output, oy, ox, c)] = best;
                        }
                    }
                }
                out
            }
            PlannedOp::Flatten => act,
        };
    }
    act
}

pub fn reference_loss(net: &Network, data: &lottery_lab::data::Dataset, rows: &[usize]) -> f64 {
    let mut total = 0.0;
    for &r in rows {
        let z = reference_logits(net, data.features.row(r).as_slice().unwrap());
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_sum = z.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
        total += log_sum - z[data.labels[r] as usize];
    }
    total / rows.len() as f64
}
