//! Element-wise activations, chosen per layer as a type parameter.
//!
//! Each activation's derivative is computed from its *output*, so a layer only
//! keeps its outputs for backpropagation (no pre-activation buffer):
//! ReLU' = \[a > 0\], sigmoid' = a(1 − a), tanh' = 1 − a², identity' = 1.

use crate::math;

/// An element-wise activation function `a = f(z)`.
pub trait Activation {
    /// Stable identifier, recorded in the shape hash of weight blobs.
    const ID: u32;
    /// Lower-case name, as in `--help` texts and reports.
    const NAME: &'static str;
    /// f(z).
    fn f(z: f32) -> f32;
    /// f'(z) expressed through the output a = f(z).
    fn df_from_output(a: f32) -> f32;

    /// Applies f in place.
    #[inline]
    fn apply(z: &mut [f32]) {
        for v in z {
            *v = Self::f(*v);
        }
    }

    /// `delta[k] *= f'(z[k])`, from the outputs `a`.
    #[inline]
    fn backprop(a: &[f32], delta: &mut [f32]) {
        for (d, &a) in delta.iter_mut().zip(a) {
            *d *= Self::df_from_output(a);
        }
    }
}

/// f(z) = z. The output layer for softmax cross-entropy and BCE-with-logits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Identity;

/// f(z) = max(z, 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Relu;

/// f(z) = z for z > 0, else 0.01·z (PyTorch's default slope).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LeakyRelu;

/// f(z) = 1 / (1 + e^−z).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sigmoid;

/// f(z) = tanh(z).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tanh;

/// Slope of [`LeakyRelu`] for negative inputs.
pub const LEAKY_SLOPE: f32 = 0.01;

impl Activation for Identity {
    const ID: u32 = 0;
    const NAME: &'static str = "identity";
    #[inline(always)]
    fn f(z: f32) -> f32 {
        z
    }
    #[inline(always)]
    fn df_from_output(_: f32) -> f32 {
        1.0
    }
    #[inline]
    fn apply(_: &mut [f32]) {}
    #[inline]
    fn backprop(_: &[f32], _: &mut [f32]) {}
}

impl Activation for Relu {
    const ID: u32 = 1;
    const NAME: &'static str = "relu";
    #[inline(always)]
    fn f(z: f32) -> f32 {
        // NaN propagates (z > 0 is false for NaN, so select z explicitly).
        if z > 0.0 || z.is_nan() {
            z
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn df_from_output(a: f32) -> f32 {
        if a > 0.0 {
            1.0
        } else {
            0.0
        }
    }
    #[inline]
    fn apply(z: &mut [f32]) {
        // On hosts eight at a time, as explicit vector selects: written as
        // a loop of `f`, the compiler may branch on every unit, and a ReLU
        // layer's signs are a coin toss.
        #[cfg(not(target_arch = "arm"))]
        let z = {
            use wide::{f32x8, CmpGt};
            let (chunks, rest) = z.as_chunks_mut::<8>();
            for c in chunks {
                let v = f32x8::from(*c);
                let keep = v.cmp_gt(f32x8::ZERO) | v.is_nan();
                *c = keep.blend(v, f32x8::ZERO).to_array();
            }
            rest
        };
        for v in z {
            *v = Self::f(*v);
        }
    }
    #[inline]
    fn backprop(a: &[f32], delta: &mut [f32]) {
        // A select, not a multiply: exact. On hosts eight at a time as
        // vector selects, for the reason given in `apply`.
        #[cfg(not(target_arch = "arm"))]
        let (a, delta) = {
            use wide::{f32x8, CmpGt};
            let n = a.len().min(delta.len());
            let (ac, at) = a[..n].as_chunks::<8>();
            let (dc, dt) = delta[..n].as_chunks_mut::<8>();
            for (a, d) in ac.iter().zip(dc.iter_mut()) {
                let on = f32x8::from(*a).cmp_gt(f32x8::ZERO);
                *d = on.blend(f32x8::from(*d), f32x8::ZERO).to_array();
            }
            (at, dt)
        };
        for (d, &a) in delta.iter_mut().zip(a) {
            *d = if a > 0.0 { *d } else { 0.0 };
        }
    }
}

impl Activation for LeakyRelu {
    const ID: u32 = 2;
    const NAME: &'static str = "leaky_relu";
    #[inline(always)]
    fn f(z: f32) -> f32 {
        if z > 0.0 {
            z
        } else {
            LEAKY_SLOPE * z
        }
    }
    #[inline(always)]
    fn df_from_output(a: f32) -> f32 {
        if a > 0.0 {
            1.0
        } else {
            LEAKY_SLOPE
        }
    }
}

impl Activation for Sigmoid {
    const ID: u32 = 3;
    const NAME: &'static str = "sigmoid";
    #[inline(always)]
    fn f(z: f32) -> f32 {
        // For z below about −88, e^−z overflows to +∞ and the quotient is
        // exactly 0, the right limit: no branch needed, and no NaN.
        1.0 / (1.0 + math::exp(-z))
    }
    #[inline(always)]
    fn df_from_output(a: f32) -> f32 {
        a * (1.0 - a)
    }
    #[inline]
    fn apply(z: &mut [f32]) {
        if math::VECTOR_EXP {
            // The same operations as `f`, each over the whole layer: the
            // exponentials eight at a time.
            for v in z.iter_mut() {
                *v = -*v;
            }
            math::exp_in_place(z);
            for v in z.iter_mut() {
                *v = 1.0 / (1.0 + *v);
            }
        } else {
            for v in z {
                *v = Self::f(*v);
            }
        }
    }
}

impl Activation for Tanh {
    const ID: u32 = 4;
    const NAME: &'static str = "tanh";
    #[inline(always)]
    fn f(z: f32) -> f32 {
        math::tanh(z)
    }
    #[inline(always)]
    fn df_from_output(a: f32) -> f32 {
        1.0 - a * a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_derivative<A: Activation>(z: f32) {
        let h = 1e-3f64;
        let zp = (z as f64 + h) as f32;
        let zm = (z as f64 - h) as f32;
        let fd = (A::f(zp) as f64 - A::f(zm) as f64) / (zp as f64 - zm as f64);
        let an = A::df_from_output(A::f(z)) as f64;
        assert!(
            (fd - an).abs() < 5e-3,
            "{} at {z}: fd {fd} vs {an}",
            A::NAME
        );
    }

    #[test]
    fn derivatives_from_output_match_finite_differences() {
        for &z in &[-3.0f32, -0.7, -0.2, 0.3, 0.9, 2.5] {
            check_derivative::<Identity>(z);
            check_derivative::<Relu>(z);
            check_derivative::<LeakyRelu>(z);
            check_derivative::<Sigmoid>(z);
            check_derivative::<Tanh>(z);
        }
    }

    #[test]
    fn relu_on_slices_is_relu_on_each_value() {
        let vals = [
            1.5f32,
            -2.0,
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-42,
            -1e-42,
            3.0,
        ];
        for len in 0..=20 {
            let z: [f32; 20] = core::array::from_fn(|k| vals[(k * 7) % vals.len()]);
            let d: [f32; 20] = core::array::from_fn(|k| k as f32 - 9.5);
            let mut a = z;
            Relu::apply(&mut a[..len]);
            let mut delta = d;
            Relu::backprop(&a[..len], &mut delta[..len]);
            for k in 0..20 {
                let (want_a, want_d) = if k < len {
                    let f = Relu::f(z[k]);
                    (f, if f > 0.0 { d[k] } else { 0.0 })
                } else {
                    (z[k], d[k])
                };
                assert_eq!(a[k].to_bits(), want_a.to_bits(), "len {len}, apply {k}");
                assert_eq!(
                    delta[k].to_bits(),
                    want_d.to_bits(),
                    "len {len}, backprop {k}"
                );
            }
        }
        // Outputs longer than the deltas: only the common part changes.
        let mut delta = [1.0f32; 9];
        Relu::backprop(&[-1.0; 12], &mut delta);
        assert_eq!(delta, [0.0; 9]);
    }

    #[test]
    fn sigmoid_saturates_without_nan() {
        assert_eq!(Sigmoid::f(1e4), 1.0);
        assert_eq!(Sigmoid::f(-1e4), 0.0);
        assert!(Sigmoid::f(-88.0) > 0.0);
    }

    #[test]
    fn ids_are_distinct() {
        let ids = [Identity::ID, Relu::ID, LeakyRelu::ID, Sigmoid::ID, Tanh::ID];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
