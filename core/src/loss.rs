//! Loss functions, each giving its value and its gradient ∂L/∂output for one
//! sample. The mean over a batch is taken by the optimizer step.
//!
//! Match the loss to the target: [`Mse`] for continuous targets,
//! [`BinaryCrossEntropy`] for two classes (one logit per output),
//! [`SoftmaxCrossEntropy`] for one of many classes. The cross-entropies take
//! *logits*: give their network an [`Identity`](crate::Identity) output layer.

use crate::error::Error;
use crate::math;

/// What a sample should produce.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Target<const O: usize> {
    /// A class index in `0..O` (one-hot for losses that need a vector).
    Class(usize),
    /// A target vector: regression values, BCE probabilities or a one-hot row.
    Values([f32; O]),
}

impl<const O: usize> Target<O> {
    /// The target as a vector (one-hot for a class).
    pub fn to_values(&self) -> Result<[f32; O], Error> {
        match *self {
            Target::Values(v) => Ok(v),
            Target::Class(c) => {
                let mut v = [0.0; O];
                *v.get_mut(c).ok_or(Error::ClassOutOfRange {
                    class: c,
                    classes: O,
                })? = 1.0;
                Ok(v)
            }
        }
    }

    /// The class this target stands for: the index for `Class`, the largest
    /// entry for a vector with several outputs, and `value ≥ 0.5` for one output.
    pub fn class(&self) -> usize {
        match self {
            Target::Class(c) => *c,
            Target::Values(v) if O == 1 => usize::from(v[0] >= 0.5),
            Target::Values(v) => argmax(v),
        }
    }
}

/// Index of the largest element (the first one on ties; 0 for an empty slice).
pub fn argmax(v: &[f32]) -> usize {
    let Some(&first) = v.first() else {
        return 0;
    };
    // The best so far kept in registers and updated by selects, not
    // branches: which logit wins is data, and a mispredicted branch per
    // sample cost W2's training about 5 %.
    let (mut best, mut top) = (0, first);
    for (i, &x) in v.iter().enumerate().skip(1) {
        let better = x > top;
        best = if better { i } else { best };
        top = if better { x } else { top };
    }
    best
}

/// Whether `out` predicts the target's class: one output against
/// `threshold`, several by their largest.
fn predicts<const O: usize>(out: &[f32; O], target: &Target<O>, threshold: f32) -> bool {
    let predicted = if O == 1 {
        usize::from(out[0] >= threshold)
    } else {
        argmax(out)
    };
    predicted == target.class()
}

/// A loss over network outputs `[f32; O]`.
pub trait Loss<const O: usize> {
    /// Name for reports.
    const NAME: &'static str;

    /// L(out, target) for one sample, and ∂L/∂out written into `grad`.
    /// Fails for a class index out of range; returns a non-finite loss as is
    /// (the caller decides to reject it).
    fn loss_grad(
        &self,
        out: &[f32; O],
        target: &Target<O>,
        grad: &mut [f32; O],
    ) -> Result<f32, Error>;

    /// [`Loss::loss_grad`] for `S` samples at once: result `s` and
    /// `grads[s]` are exactly those of
    /// `loss_grad(outs[s], targets[s], grads[s])`. A loss may compute the
    /// samples together ([`SoftmaxCrossEntropy`] does, eight per vector on
    /// hosts); by default they go one after another.
    fn loss_grad_batch<const S: usize>(
        &self,
        outs: [&[f32; O]; S],
        targets: [&Target<O>; S],
        grads: [&mut [f32; O]; S],
    ) -> [Result<f32, Error>; S] {
        one_by_one(self, outs, targets, grads)
    }

    /// L(out, target) alone.
    fn loss(&self, out: &[f32; O], target: &Target<O>) -> Result<f32, Error> {
        let mut g = [0.0; O];
        self.loss_grad(out, target, &mut g)
    }

    /// Whether `out` predicts the target's class (see [`Target::class`]).
    fn correct(&self, out: &[f32; O], target: &Target<O>) -> bool;
}

/// [`Loss::loss_grad`] of each sample in turn: what
/// [`Loss::loss_grad_batch`] computes.
fn one_by_one<L: Loss<O> + ?Sized, const O: usize, const S: usize>(
    loss: &L,
    outs: [&[f32; O]; S],
    targets: [&Target<O>; S],
    grads: [&mut [f32; O]; S],
) -> [Result<f32, Error>; S] {
    let mut out = [Ok(0.0); S];
    for (k, g) in grads.into_iter().enumerate() {
        out[k] = loss.loss_grad(outs[k], targets[k], g);
    }
    out
}

/// Mean squared error, averaged over the outputs: L = (1/O)·Σ (y − t)².
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mse;

/// Binary cross-entropy on logits z, averaged over the outputs:
/// L = (1/O)·Σ [max(z, 0) − z·t + ln(1 + e^−|z|)], gradient (σ(z) − t)/O.
/// Finite for any finite logit (|z| up to 1e4 and beyond).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BinaryCrossEntropy;

/// Softmax fused with categorical cross-entropy on logits z:
/// L = logΣexp(z) − Σ t·z (log-sum-exp shifted by max z), gradient p − t
/// with p = softmax(z). Class-index and one-hot/soft targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxCrossEntropy;

impl<const O: usize> Loss<O> for Mse {
    const NAME: &'static str = "mse";

    #[inline]
    fn loss_grad(
        &self,
        out: &[f32; O],
        target: &Target<O>,
        grad: &mut [f32; O],
    ) -> Result<f32, Error> {
        let t = target.to_values()?;
        let inv = 1.0 / O as f32;
        let mut sum = 0.0f32;
        for ((g, &y), &t) in grad.iter_mut().zip(out).zip(&t) {
            let d = y - t;
            sum += d * d;
            *g = 2.0 * d * inv;
        }
        Ok(sum * inv)
    }

    fn correct(&self, out: &[f32; O], target: &Target<O>) -> bool {
        predicts(out, target, 0.5)
    }
}

impl<const O: usize> Loss<O> for BinaryCrossEntropy {
    const NAME: &'static str = "bce";

    #[inline]
    fn loss_grad(
        &self,
        out: &[f32; O],
        target: &Target<O>,
        grad: &mut [f32; O],
    ) -> Result<f32, Error> {
        let t = target.to_values()?;
        let inv = 1.0 / O as f32;
        let mut sum = 0.0f32;
        for ((g, &z), &t) in grad.iter_mut().zip(out).zip(&t) {
            let e = math::exp(-math::abs(z)); // in (0, 1]: never overflows
            sum += z.max(0.0) - z * t + math::ln_1p(e);
            let p = if z >= 0.0 {
                1.0 / (1.0 + e)
            } else {
                e / (1.0 + e)
            };
            *g = (p - t) * inv;
        }
        Ok(sum * inv)
    }

    fn correct(&self, out: &[f32; O], target: &Target<O>) -> bool {
        // A logit of 0 is probability 0.5.
        predicts(out, target, 0.0)
    }
}

impl<const O: usize> Loss<O> for SoftmaxCrossEntropy {
    const NAME: &'static str = "softmax_ce";

    #[inline]
    fn loss_grad(
        &self,
        out: &[f32; O],
        target: &Target<O>,
        grad: &mut [f32; O],
    ) -> Result<f32, Error> {
        let mut m = f32::NEG_INFINITY;
        for &z in out {
            m = m.max(z);
        }
        let mut sum = 0.0f32;
        if math::VECTOR_EXP {
            // The same operations, the exponentials eight at a time.
            for (g, &z) in grad.iter_mut().zip(out) {
                *g = z - m;
            }
            math::exp_in_place(grad);
            for &e in grad.iter() {
                sum += e;
            }
        } else {
            for (g, &z) in grad.iter_mut().zip(out) {
                let e = math::exp(z - m);
                *g = e;
                sum += e;
            }
        }
        let lse = m + math::ln(sum);
        let inv = 1.0 / sum;
        for g in grad.iter_mut() {
            *g *= inv;
        }
        match *target {
            Target::Class(c) => {
                let z = *out.get(c).ok_or(Error::ClassOutOfRange {
                    class: c,
                    classes: O,
                })?;
                grad[c] -= 1.0;
                Ok(lse - z)
            }
            Target::Values(t) => {
                let mut loss = 0.0f32;
                for ((g, &z), &t) in grad.iter_mut().zip(out).zip(&t) {
                    loss += t * (lse - z);
                    *g -= t;
                }
                Ok(loss)
            }
        }
    }

    /// On hosts ([`math::VECTOR_EXP`]), when every target is a class in
    /// range and every output finite, the samples go eight at a time, one
    /// per lane: the same operations in the same order as
    /// [`Loss::loss_grad`], with [`math::exp8`] and [`math::ln8`], so the
    /// same bits. Otherwise one after another.
    fn loss_grad_batch<const S: usize>(
        &self,
        outs: [&[f32; O]; S],
        targets: [&Target<O>; S],
        mut grads: [&mut [f32; O]; S],
    ) -> [Result<f32, Error>; S] {
        let classes = targets.map(|t| match *t {
            Target::Class(c) if c < O => Some(c),
            _ => None,
        });
        let lanes = math::VECTOR_EXP
            && classes.iter().all(Option::is_some)
            && outs.iter().all(|o| crate::kernel::all_finite(&o[..]));
        if !lanes {
            return one_by_one(self, outs, targets, grads);
        }
        let mut losses = [0.0f32; S];
        for g0 in (0..S).step_by(8) {
            let n = (S - g0).min(8);
            // Logit c of each lane's sample (unused lanes: 0), then e^(z − m).
            let mut z = [wide::f32x8::ZERO; O];
            for (c, z) in z.iter_mut().enumerate() {
                let mut v = [0.0f32; 8];
                for (j, v) in v[..n].iter_mut().enumerate() {
                    *v = outs[g0 + j][c];
                }
                *z = wide::f32x8::from(v);
            }
            let mut m = wide::f32x8::splat(f32::NEG_INFINITY);
            for &z in &z {
                m = m.fast_max(z);
            }
            // Summed over the classes in order.
            let mut sum = wide::f32x8::ZERO;
            for z in z.iter_mut() {
                *z = wide::f32x8::from(math::exp8((*z - m).to_array()));
                sum += *z;
            }
            let lse = (m + wide::f32x8::from(math::ln8(sum.to_array()))).to_array();
            let inv = wide::f32x8::ONE / sum;
            for (c, &e) in z.iter().enumerate() {
                for (g, &p) in grads[g0..g0 + n].iter_mut().zip((e * inv).as_array_ref()) {
                    g[c] = p;
                }
            }
            for (j, &lse) in lse[..n].iter().enumerate() {
                let s = g0 + j;
                let c = classes[s].unwrap_or_default();
                grads[s][c] -= 1.0;
                losses[s] = lse - outs[s][c];
            }
        }
        losses.map(Ok)
    }

    fn correct(&self, out: &[f32; O], target: &Target<O>) -> bool {
        argmax(out) == target.class()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd_check<L: Loss<3>>(loss: L, out: [f32; 3], t: Target<3>) {
        let mut g = [0.0; 3];
        loss.loss_grad(&out, &t, &mut g).unwrap();
        for k in 0..3 {
            let h = 1e-2f32;
            let (mut p, mut m) = (out, out);
            p[k] += h;
            m[k] -= h;
            let fd = (loss.loss(&p, &t).unwrap() - loss.loss(&m, &t).unwrap()) / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 2e-3,
                "{} k={k}: fd {fd} vs {}",
                L::NAME,
                g[k]
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let out = [0.3, -1.2, 2.0];
        fd_check(Mse, out, Target::Values([0.5, 0.0, 1.0]));
        fd_check(BinaryCrossEntropy, out, Target::Values([1.0, 0.0, 1.0]));
        fd_check(SoftmaxCrossEntropy, out, Target::Class(1));
        fd_check(SoftmaxCrossEntropy, out, Target::Values([0.2, 0.3, 0.5]));
    }

    #[test]
    fn class_and_one_hot_agree() {
        let out = [0.1, 2.0, -0.5];
        let (mut g1, mut g2) = ([0.0; 3], [0.0; 3]);
        let l1 = SoftmaxCrossEntropy
            .loss_grad(&out, &Target::Class(2), &mut g1)
            .unwrap();
        let l2 = SoftmaxCrossEntropy
            .loss_grad(&out, &Target::Values([0.0, 0.0, 1.0]), &mut g2)
            .unwrap();
        assert!((l1 - l2).abs() < 1e-6);
        for k in 0..3 {
            assert!((g1[k] - g2[k]).abs() < 1e-7);
        }
    }

    #[test]
    fn bce_is_finite_for_huge_logits() {
        for &z in &[1e4f32, -1e4, 3e38, -3e38] {
            for &t in &[0.0f32, 1.0] {
                let mut g = [0.0];
                let l = BinaryCrossEntropy
                    .loss_grad(&[z], &Target::Values([t]), &mut g)
                    .unwrap();
                assert!(l.is_finite() && g[0].is_finite(), "z={z} t={t}");
                assert!(l >= 0.0);
            }
        }
        let mut g = [0.0];
        let l = BinaryCrossEntropy
            .loss_grad(&[1e4], &Target::Values([0.0]), &mut g)
            .unwrap();
        assert_eq!(l, 1e4);
        assert_eq!(g[0], 1.0);
    }

    #[test]
    fn softmax_ce_is_stable() {
        let mut g = [0.0; 3];
        let l = SoftmaxCrossEntropy
            .loss_grad(&[1e4, -1e4, 0.0], &Target::Class(1), &mut g)
            .unwrap();
        assert_eq!(l, 2e4);
        assert_eq!(g, [1.0, -1.0, 0.0]);
    }

    /// `loss_grad_batch` against `loss_grad` one sample at a time, bit for bit.
    fn batch_matches_one_by_one<const O: usize, const S: usize>(
        outs: &[[f32; O]; S],
        targets: &[Target<O>; S],
    ) {
        let loss = SoftmaxCrossEntropy;
        let mut one = [[0.0f32; O]; S];
        let want: [Result<u32, Error>; S] = core::array::from_fn(|s| {
            loss.loss_grad(&outs[s], &targets[s], &mut one[s])
                .map(f32::to_bits)
        });
        let mut many = [[7.0f32; O]; S];
        let got = loss
            .loss_grad_batch(outs.each_ref(), targets.each_ref(), many.each_mut())
            .map(|r| r.map(f32::to_bits));
        assert_eq!(got, want);
        for s in 0..S {
            if want[s].is_ok() {
                assert_eq!(
                    many[s].map(f32::to_bits),
                    one[s].map(f32::to_bits),
                    "sample {s}"
                );
            }
        }
    }

    #[test]
    fn softmax_ce_batch_has_the_bits_of_one_sample_at_a_time() {
        // Twelve samples: a full group of eight lanes and a part group.
        let outs: [[f32; 10]; 12] = core::array::from_fn(|s| {
            core::array::from_fn(|c| match (s, c) {
                (0, _) => 0.0,
                (1, c) => {
                    if c % 2 == 0 {
                        0.0
                    } else {
                        -0.0
                    }
                }
                (2, 3) => 1e4,
                (2, _) => -1e4,
                (3, c) => c as f32 * 1e-7,
                (s, c) => ((s * 10 + c) as f32 * 0.77).sin() * (s as f32),
            })
        });
        let targets: [Target<10>; 12] = core::array::from_fn(|s| Target::Class((s * 7) % 10));
        batch_matches_one_by_one(&outs, &targets);
        // Three classes, three samples (one part group).
        let small = [[0.5f32, -2.0, 3.0], [1.0, 1.0, 1.0], [-80.0, 80.0, 0.0]];
        let t3 = [Target::Class(2), Target::Class(0), Target::Class(1)];
        batch_matches_one_by_one(&small, &t3);
        // What the lanes leave to one sample at a time: a class out of range,
        // a vector target, a non-finite logit.
        let mut t = targets;
        t[4] = Target::Class(10);
        batch_matches_one_by_one(&outs, &t);
        let mut t = targets;
        t[9] = Target::Values([0.1; 10]);
        batch_matches_one_by_one(&outs, &t);
        for bad in [f32::NAN, f32::INFINITY] {
            let mut o = outs;
            o[5][2] = bad;
            batch_matches_one_by_one(&o, &targets);
        }
    }

    #[test]
    fn bad_class_is_an_error() {
        let mut g = [0.0; 3];
        assert_eq!(
            SoftmaxCrossEntropy.loss_grad(&[0.0; 3], &Target::Class(3), &mut g),
            Err(Error::ClassOutOfRange {
                class: 3,
                classes: 3
            })
        );
        assert!(Mse.loss(&[0.0; 3], &Target::Class(7)).is_err());
    }

    #[test]
    fn argmax_and_correct() {
        assert_eq!(argmax(&[0.1, 0.5, 0.5, -1.0]), 1);
        assert_eq!(argmax(&[-3.0, -1.0, -2.0, -1.0]), 1);
        assert_eq!(argmax(&[]), 0);
        // A NaN is never larger, and nothing is larger than a NaN in front.
        assert_eq!(argmax(&[1.0, f32::NAN, 2.0]), 2);
        assert_eq!(argmax(&[f32::NAN, 1.0, 2.0]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), 0);
        assert!(SoftmaxCrossEntropy.correct(&[0.0, 1.0, 0.0], &Target::Class(1)));
        assert!(<Mse as Loss<1>>::correct(
            &Mse,
            &[0.7],
            &Target::Values([1.0])
        ));
        assert!(<BinaryCrossEntropy as Loss<1>>::correct(
            &BinaryCrossEntropy,
            &[-0.2],
            &Target::Values([0.0])
        ));
    }
}
