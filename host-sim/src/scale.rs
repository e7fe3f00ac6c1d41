//! Standardising a data set's columns for training, and folding the
//! scaling into the trained network, so that the saved model takes the raw
//! values and needs nothing more on a device.
//!
//! Training on columns of very different size (a floor area near 2,000, a
//! room count near 3, a price near 400,000) makes plain SGD diverge at any
//! useful learning rate. Standardised, each input column `x` becomes
//! `(x − m) / s` (its training rows' mean and standard deviation), and a
//! regression target `t` becomes `(t − mₜ) / sₜ`. Both are affine, so they
//! fold exactly into the network's first layer and, for a linear output,
//! its last:
//!
//! - first layer: `W·((x − m)/s) + b = (W/s)·x + (b − (W/s)·m)`;
//! - last layer: `mₜ + sₜ·(W·h + b) = (sₜW)·h + (sₜb + mₜ)`.
//!
//! [`Standardizer::fold`] does that after training (in `f64`, rounded once
//! to `f32`), and [`Standardizer::unfold`] the reverse before continuing to
//! train a saved model.

use tinytrain::Model;

use crate::data::{Labels, Table};

/// The mean and standard deviation of each input column, and of the target
/// when it is scaled too.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Mean of each input column.
    pub mean: Vec<f64>,
    /// Standard deviation of each input column (1 for a constant column).
    pub std: Vec<f64>,
    /// Mean and standard deviation of a regression target, if scaled.
    pub target: Option<(f64, f64)>,
}

/// Mean and standard deviation (population) of `values`; a spread of 0 (or
/// one too small to divide by) counts as 1, so the column is only shifted.
fn moments(values: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().map(f64::from).sum::<f64>() / n;
    let var = values.map(|v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt();
    let std = if std > 1e-12 * mean.abs().max(1.0) {
        std
    } else {
        1.0
    };
    (mean, std)
}

impl Standardizer {
    /// The scaling of `train`'s columns, and of its target when `target`
    /// (and the labels are values: a class is never scaled).
    pub fn fit(train: &Table, target: bool) -> Self {
        let w = train.width;
        let (mean, std) = (0..w)
            .map(|c| moments(train.x.iter().skip(c).step_by(w.max(1)).copied()))
            .unzip();
        let target = match &train.labels {
            Labels::Values(y) if target => Some(moments(y.iter().copied())),
            _ => None,
        };
        Standardizer { mean, std, target }
    }

    /// Scales `table`'s inputs, and its target if this scales one.
    pub fn apply(&self, table: &mut Table) {
        let w = table.width.max(1);
        for row in table.x.chunks_exact_mut(w) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = ((f64::from(*x) - m) / s) as f32;
            }
        }
        if let (Labels::Values(y), Some((m, s))) = (&mut table.labels, self.target) {
            for t in y {
                *t = ((f64::from(*t) - m) / s) as f32;
            }
        }
    }

    /// What a loss on the scaled target is multiplied by to be in the raw
    /// target's units (a mean squared error scales with `sₜ²`).
    pub fn loss_factor(&self) -> f32 {
        self.target.map_or(1.0, |(_, s)| (s * s) as f32)
    }

    /// Turns a network trained on scaled data into one that computes the
    /// same on raw data (see the module's notes).
    pub fn fold<N: Model>(&self, net: &mut N) {
        self.transform(net, true);
    }

    /// The reverse of [`fold`](Self::fold): a network for raw data becomes
    /// one for data scaled by `self`.
    pub fn unfold<N: Model>(&self, net: &mut N) {
        self.transform(net, false);
    }

    fn transform<N: Model>(&self, net: &mut N, fold: bool) {
        let layers: Vec<usize> = (0..N::LAYERS).filter(|&l| net.layer(l).is_some()).collect();
        if let Some(layer) = layers.first().and_then(|&l| net.layer_mut(l)) {
            let cols = layer.inputs.min(self.mean.len());
            for (row, b) in layer
                .w
                .chunks_exact_mut(layer.inputs)
                .zip(layer.b.iter_mut())
            {
                // fold: w' = w/s, b' = b − Σ w'·m; unfold: w = w'·s, b = b' + Σ w'·m.
                let mut shift = 0.0f64;
                for ((w, m), s) in row[..cols].iter_mut().zip(&self.mean).zip(&self.std) {
                    let folded = if fold {
                        let v = f64::from(*w) / s;
                        *w = v as f32;
                        v
                    } else {
                        let v = f64::from(*w);
                        *w = (v * s) as f32;
                        v
                    };
                    shift += folded * m;
                }
                let sign = if fold { -1.0 } else { 1.0 };
                *b = (f64::from(*b) + sign * shift) as f32;
            }
        }
        if let (Some((m, s)), Some(layer)) =
            (self.target, layers.last().and_then(|&l| net.layer_mut(l)))
        {
            for w in layer.w.iter_mut() {
                *w = if fold {
                    f64::from(*w) * s
                } else {
                    f64::from(*w) / s
                } as f32;
            }
            for b in layer.b.iter_mut() {
                *b = if fold {
                    f64::from(*b) * s + m
                } else {
                    (f64::from(*b) - m) / s
                } as f32;
            }
        }
    }

    /// A one-line account of the scaling, for the training banner.
    pub fn describe(&self) -> String {
        let target = self.target.map_or(String::new(), |(m, s)| {
            format!(", and the target (mean {m:.4}, std {s:.4})")
        });
        let cols: Vec<String> = self
            .mean
            .iter()
            .zip(&self.std)
            .map(|(m, s)| format!("{m:.4}±{s:.4}"))
            .collect();
        let shown = if cols.len() > 8 {
            format!("{}, …", cols[..8].join(", "))
        } else {
            cols.join(", ")
        };
        let plural = if cols.len() == 1 { "" } else { "s" };
        format!(
            "standardised {} input column{plural} (mean±std: {shown}){target}; the saved model takes raw values",
            cols.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::Csv8Reg;
    use tinytrain::{init_seeded, Init, Network};

    fn table() -> Table {
        // Columns near 2,000 ± 800 and 3 ± 1.4, a target near 400,000; a constant column.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for k in 0..50 {
            let (a, b) = (1000.0 + 40.0 * k as f32, (k % 5 + 1) as f32);
            x.extend([a, b, 7.0]);
            y.push(50_000.0 + 150.0 * a + 10_000.0 * b);
        }
        Table {
            width: 3,
            x,
            labels: Labels::Values(y),
        }
    }

    #[test]
    fn scaled_columns_have_mean_0_and_spread_1_and_constant_ones_are_shifted() {
        let t = table();
        let s = Standardizer::fit(&t, true);
        assert_eq!(s.std[2], 1.0);
        let mut scaled = t.clone();
        s.apply(&mut scaled);
        for c in 0..2 {
            let (m, sd) = moments(scaled.x.iter().skip(c).step_by(3).copied());
            assert!(
                m.abs() < 1e-5 && (sd - 1.0).abs() < 1e-5,
                "column {c}: {m} {sd}"
            );
        }
        assert!(scaled.x.iter().skip(2).step_by(3).all(|&v| v == 0.0));
        let Labels::Values(y) = &scaled.labels else {
            panic!("values")
        };
        let (m, sd) = moments(y.iter().copied());
        assert!(m.abs() < 1e-5 && (sd - 1.0).abs() < 1e-5);
        assert!((f64::from(s.loss_factor()) / s.target.unwrap().1.powi(2) - 1.0).abs() < 1e-6);
        // A classifier's labels are never scaled.
        assert_eq!(Standardizer::fit(&t, false).target, None);
    }

    #[test]
    fn the_folded_network_computes_on_raw_data_what_the_trained_one_did_on_scaled_data() {
        let raw = table();
        let s = Standardizer::fit(&raw, true);
        let mut scaled = raw.clone();
        s.apply(&mut scaled);
        let mut net = tinytrain::host::boxed::<Csv8Reg>();
        init_seeded(&mut *net, Init::PyTorchDefault, 5);
        let trained = net.clone();
        s.fold(&mut *net);
        let mut scratch = <Csv8Reg as tinytrain::Model>::SCRATCH;
        let (m, sd) = s.target.unwrap();
        for (r, s_row) in raw.x.chunks(3).zip(scaled.x.chunks(3)) {
            let pad = |row: &[f32]| {
                let mut v = [0.0f32; 8];
                v[..3].copy_from_slice(row);
                v
            };
            let on_raw = f64::from(net.forward(&pad(r), &mut scratch)[0]);
            let on_scaled = f64::from(trained.forward(&pad(s_row), &mut scratch)[0]) * sd + m;
            assert!(
                (on_raw - on_scaled).abs() <= 1e-5 * on_scaled.abs().max(sd),
                "{on_raw} vs {on_scaled}"
            );
        }
        // Unfolding gives back the trained weights, to rounding.
        s.unfold(&mut *net);
        for l in 0..<Csv8Reg as tinytrain::Model>::LAYERS {
            let (Some(a), Some(b)) = (net.layer(l), trained.layer(l)) else {
                continue;
            };
            for (x, y) in a.w.iter().chain(a.b).zip(b.w.iter().chain(b.b)) {
                assert!((x - y).abs() <= 1e-5 * y.abs().max(1e-3), "{x} vs {y}");
            }
        }
    }
}
