//! Weight initialisation from a seed or any random source.

use rand_core::RngCore;

use crate::network::Model;
use crate::rng::{uniform, Rng};

/// How to draw initial parameters. Weights are drawn layer by layer, row-major
/// (`w[o][i]`), then that layer's biases, so a seed gives the same network on
/// every target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Init {
    /// Glorot/Xavier uniform: w ~ U(±√(6 / (fan_in + fan_out))), b = 0. For
    /// tanh and sigmoid layers.
    XavierUniform,
    /// He/Kaiming uniform for ReLU: w ~ U(±√(6 / fan_in)), b = 0.
    HeUniform,
    /// PyTorch `nn.Linear`'s default: w, b ~ U(±1/√fan_in).
    PyTorchDefault,
}

/// Draws every parameter of `net` in place from `rng` (a board's hardware RNG
/// or a seeded [`Rng`]).
pub fn init<N: Model, R: RngCore + ?Sized>(net: &mut N, scheme: Init, rng: &mut R) {
    for l in 0..N::LAYERS {
        let Some(layer) = net.layer_mut(l) else {
            continue;
        };
        let fan_in = layer.inputs as f32;
        let fan_out = layer.outputs as f32;
        let (wb, bb) = match scheme {
            Init::XavierUniform => (crate::math::sqrt(6.0 / (fan_in + fan_out)), 0.0),
            Init::HeUniform => (crate::math::sqrt(6.0 / fan_in), 0.0),
            Init::PyTorchDefault => {
                let b = 1.0 / crate::math::sqrt(fan_in);
                (b, b)
            }
        };
        for w in layer.w.iter_mut() {
            *w = uniform(rng, wb);
        }
        for b in layer.b.iter_mut() {
            *b = if bb == 0.0 { 0.0 } else { uniform(rng, bb) };
        }
    }
}

/// [`init`] from a seed, with the crate's deterministic [`Rng`].
pub fn init_seeded<N: Model>(net: &mut N, scheme: Init, seed: u64) {
    init(net, scheme, &mut Rng::seed(seed));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dense, Relu, Seq, Tanh};

    type Net = Seq<Dense<50, 20, Relu>, Dense<20, 4, Tanh>>;

    #[test]
    fn bounds_and_determinism() {
        let mut a = Net::ZERO;
        init_seeded(&mut a, Init::PyTorchDefault, 5);
        let bound = 1.0 / 50f32.sqrt();
        assert!(a.first.w.as_flattened().iter().all(|w| w.abs() <= bound));
        assert!(a.first.b.iter().any(|&b| b != 0.0));
        let mut b = Net::ZERO;
        init_seeded(&mut b, Init::PyTorchDefault, 5);
        assert_eq!(a, b);
        init_seeded(&mut b, Init::PyTorchDefault, 6);
        assert_ne!(a, b);
    }

    #[test]
    fn he_and_xavier_have_zero_bias_and_right_spread() {
        let mut n = Net::ZERO;
        init_seeded(&mut n, Init::HeUniform, 1);
        let he = (6.0f32 / 50.0).sqrt();
        let max = n
            .first
            .w
            .as_flattened()
            .iter()
            .fold(0.0f32, |m, w| m.max(w.abs()));
        assert!(max <= he && max > 0.9 * he);
        assert!(n.first.b.iter().all(|&b| b == 0.0));
        init_seeded(&mut n, Init::XavierUniform, 1);
        let xb = (6.0f32 / 24.0).sqrt();
        assert!(n.rest.w.as_flattened().iter().all(|w| w.abs() <= xb));
    }
}
