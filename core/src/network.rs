//! Dense layers and networks whose shapes live in their types.
//!
//! A network is a [`Dense`] layer, or a [`Seq`] of a first dense layer and the
//! rest of the network. The widths are const generics, so
//! `Seq<Dense<2, 8, Tanh>, Dense<8, 1, Sigmoid>>` is a 2-8-1 network and
//! `Seq<Dense<2, 8, Tanh>, Dense<9, 1, Sigmoid>>` is not a network at all: it
//! implements no [`Network`], and any attempt to run it fails to compile.
//!
//! Storage is split three ways, each owned by the caller:
//! - the model (its parameters): a `Dense`/`Seq` value;
//! - the scratch ([`Model::Scratch`]): per-layer outputs and back-propagated
//!   deltas for one sample, so threads can share one `&model`;
//! - gradients ([`crate::Gradients`]) and momentum ([`crate::Velocity`]),
//!   only for mini-batch training.

use core::marker::PhantomData;

use crate::activation::Activation;
use crate::kernel;

/// A read-only view of one layer's parameters.
#[derive(Clone, Copy, Debug)]
pub struct LayerRef<'a> {
    /// Weights, row-major `[outputs][inputs]`.
    pub w: &'a [f32],
    /// Biases, `[outputs]`.
    pub b: &'a [f32],
    /// Input width (fan-in).
    pub inputs: usize,
    /// Output width (fan-out).
    pub outputs: usize,
    /// The activation's name.
    pub activation: &'static str,
}

/// A mutable view of one layer's parameters.
#[derive(Debug)]
pub struct LayerMut<'a> {
    /// Weights, row-major `[outputs][inputs]`.
    pub w: &'a mut [f32],
    /// Biases, `[outputs]`.
    pub b: &'a mut [f32],
    /// Input width (fan-in).
    pub inputs: usize,
    /// Output width (fan-out).
    pub outputs: usize,
}

/// Everything about a network that does not depend on its input/output
/// widths: storage, sizes and parameter access. See [`Network`] for running it.
pub trait Model: Sized {
    /// Per-sample working memory: every layer's outputs and deltas.
    type Scratch;
    /// The network with every parameter zero; usable in `static` initialisers.
    const ZERO: Self;
    /// Zeroed scratch; usable in `static` initialisers.
    const SCRATCH: Self::Scratch;
    /// Number of dense layers.
    const LAYERS: usize;
    /// Number of trainable parameters (weights and biases).
    const PARAMS: usize;
    /// Hash of every layer's widths and activation, in order (FNV-1a); stored
    /// in weight blobs so that a blob only loads into the network that wrote it.
    const SHAPE_HASH: u32;

    /// Bytes of parameters.
    const PARAM_BYTES: usize = core::mem::size_of::<Self>();
    /// Bytes of scratch (activations and deltas of one sample).
    const SCRATCH_BYTES: usize = core::mem::size_of::<Self::Scratch>();
    /// Bytes of a gradient store for mini-batch training.
    const GRAD_BYTES: usize = core::mem::size_of::<crate::Gradients<Self>>();
    /// Bytes of optimizer state (the momentum buffer), when momentum is used.
    const OPTIMIZER_BYTES: usize = core::mem::size_of::<crate::Velocity<Self>>();
    /// Bytes to run inference: parameters and scratch.
    const INFERENCE_BYTES: usize = Self::PARAM_BYTES + Self::SCRATCH_BYTES;
    /// Bytes to train with per-sample updates ([`crate::Sgd::fit_sample`]).
    const TRAIN_PER_SAMPLE_BYTES: usize = Self::PARAM_BYTES + Self::SCRATCH_BYTES;
    /// Bytes to train with mini-batches and momentum: parameters, scratch,
    /// gradients and momentum. Without momentum subtract `OPTIMIZER_BYTES`.
    const TRAIN_BYTES: usize =
        Self::PARAM_BYTES + Self::SCRATCH_BYTES + Self::GRAD_BYTES + Self::OPTIMIZER_BYTES;

    /// Layer `index` (0 = the one that reads the input), or `None`.
    fn layer(&self, index: usize) -> Option<LayerRef<'_>>;
    /// Layer `index`, mutably, or `None`.
    fn layer_mut(&mut self, index: usize) -> Option<LayerMut<'_>>;

    /// Sets every parameter to zero.
    fn zero(&mut self) {
        for l in 0..Self::LAYERS {
            if let Some(layer) = self.layer_mut(l) {
                layer.w.fill(0.0);
                layer.b.fill(0.0);
            }
        }
    }

    /// True when every parameter is finite.
    fn is_finite(&self) -> bool {
        (0..Self::LAYERS).all(|l| {
            self.layer(l)
                .is_some_and(|v| kernel::all_finite(v.w) && kernel::all_finite(v.b))
        })
    }

    /// Copies every parameter from `other`, in place (no stack copy of the model).
    fn copy_from(&mut self, other: &Self) {
        for l in 0..Self::LAYERS {
            if let (Some(dst), Some(src)) = (self.layer_mut(l), other.layer(l)) {
                dst.w.copy_from_slice(src.w);
                dst.b.copy_from_slice(src.b);
            }
        }
    }
}

/// A network that maps `[f32; I]` to `[f32; O]`: forward pass and the pieces
/// of backpropagation.
pub trait Network<const I: usize, const O: usize>: Model {
    /// Runs the network on `x`; the result lives in `scratch`.
    fn forward<'s>(&self, x: &[f32; I], scratch: &'s mut Self::Scratch) -> &'s [f32; O];

    /// The output of the last [`forward`](Network::forward).
    fn output(scratch: &Self::Scratch) -> &[f32; O];

    /// The last layer's delta buffer: a loss writes ∂L/∂output here before
    /// [`backprop`](Network::backprop).
    fn output_delta(scratch: &mut Self::Scratch) -> &mut [f32; O];

    /// Chain rule from the output back to the input: turns every layer's delta
    /// buffer into ∂L/∂z (pre-activation) and, if `dx` is given, writes
    /// ∂L/∂x. Needs the outputs of the last `forward` in `scratch`.
    fn backprop(&self, scratch: &mut Self::Scratch, dx: Option<&mut [f32; I]>);

    /// Adds this sample's weight and bias gradients (δ ⊗ input, δ) to `grads`.
    fn accumulate(x: &[f32; I], scratch: &Self::Scratch, grads: &mut Self);

    /// Fused per-sample SGD: `w −= lr·(δ ⊗ input)`, `b −= lr·δ`, no gradient memory.
    fn apply(&mut self, x: &[f32; I], scratch: &Self::Scratch, lr: f32);

    /// Layer `index`'s input and delta for the sample in `scratch`, as used by
    /// [`accumulate`](Network::accumulate); lets other code (such as a threaded
    /// host trainer) compute the same gradient sums in its own order of work.
    fn layer_io<'a>(
        x: &'a [f32; I],
        scratch: &'a Self::Scratch,
        index: usize,
    ) -> Option<(&'a [f32], &'a [f32])>;

    /// Runs the network on `S` samples at once, each an `(input, scratch)`
    /// pair: the same results, to the bit, as `S` calls of
    /// [`forward`](Network::forward). On hosts a dense layer reads each of
    /// its weights once for all `S` samples: with `S` a multiple of
    /// [`kernel::SAMPLE_LANES`], one sample per vector lane
    /// ([`kernel::matvec_lanes`]), else [`kernel::matvec_batch`].
    fn forward_batch<const S: usize>(&self, io: [(&[f32; I], &mut Self::Scratch); S]) {
        for (x, s) in io {
            self.forward(x, s);
        }
    }

    /// Predicted class: the index of the largest output.
    fn predict(&self, x: &[f32; I], scratch: &mut Self::Scratch) -> usize {
        crate::loss::argmax(self.forward(x, scratch))
    }
}

/// Outputs and deltas of one dense layer for one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerScratch<const O: usize> {
    /// Activations a = f(Wx + b).
    pub out: [f32; O],
    /// ∂L/∂a, then ∂L/∂z after backprop.
    pub delta: [f32; O],
}

impl<const O: usize> LayerScratch<O> {
    /// Zeroed scratch.
    pub const ZERO: Self = LayerScratch {
        out: [0.0; O],
        delta: [0.0; O],
    };
}

/// A fully connected layer `a = A(W·x + b)` from `I` inputs to `O` outputs.
///
/// `w[o][i]` is the weight from input `i` to output `o`, as in PyTorch's
/// `nn.Linear.weight`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<const I: usize, const O: usize, A = crate::Identity> {
    /// Weights `[outputs][inputs]`.
    pub w: [[f32; I]; O],
    /// Biases.
    pub b: [f32; O],
    act: PhantomData<A>,
}

impl<const I: usize, const O: usize, A> Dense<I, O, A> {
    /// A layer with the given weights and biases (usable in `const`/`static`).
    pub const fn from_parts(w: [[f32; I]; O], b: [f32; O]) -> Self {
        Dense {
            w,
            b,
            act: PhantomData,
        }
    }

    /// A zeroed layer.
    pub const fn new() -> Self {
        Self::from_parts([[0.0; I]; O], [0.0; O])
    }
}

impl<const I: usize, const O: usize, A> Default for Dense<I, O, A> {
    fn default() -> Self {
        Self::new()
    }
}

/// A network made of a first dense layer `L` followed by the network `N`.
///
/// Nest it for depth: `Seq<Dense<784, 128, Relu>, Seq<Dense<128, 64, Relu>,
/// Dense<64, 10>>>`; the [`mlp!`](crate::mlp) macro writes this for you.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Seq<L, N> {
    /// The layer that reads the input.
    pub first: L,
    /// The layers after it.
    pub rest: N,
}

impl<L, N> Seq<L, N> {
    /// Joins a layer and the network after it (usable in `const`/`static`).
    pub const fn from_parts(first: L, rest: N) -> Self {
        Seq { first, rest }
    }
}

impl<L: Model, N: Model> Seq<L, N> {
    /// A zeroed network.
    pub const fn new() -> Self {
        Seq {
            first: L::ZERO,
            rest: N::ZERO,
        }
    }
}

/// Scratch of a [`Seq`]: the first layer's scratch and the rest's.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqScratch<S, R> {
    /// The first layer's outputs and deltas.
    pub first: S,
    /// The rest's scratch.
    pub rest: R,
}

const fn fnv1a(mut h: u32, word: u32) -> u32 {
    let bytes = word.to_le_bytes();
    let mut k = 0;
    while k < 4 {
        h ^= bytes[k] as u32;
        h = h.wrapping_mul(0x0100_0193);
        k += 1;
    }
    h
}

const FNV_OFFSET: u32 = 0x811c_9dc5;

impl<const I: usize, const O: usize, A: Activation> Model for Dense<I, O, A> {
    type Scratch = LayerScratch<O>;
    const ZERO: Self = Self::new();
    const SCRATCH: Self::Scratch = LayerScratch::ZERO;
    const LAYERS: usize = 1;
    const PARAMS: usize = I * O + O;
    const SHAPE_HASH: u32 = fnv1a(fnv1a(fnv1a(FNV_OFFSET, I as u32), O as u32), A::ID);

    fn layer(&self, index: usize) -> Option<LayerRef<'_>> {
        (index == 0).then_some(LayerRef {
            w: self.w.as_flattened(),
            b: &self.b,
            inputs: I,
            outputs: O,
            activation: A::NAME,
        })
    }

    fn layer_mut(&mut self, index: usize) -> Option<LayerMut<'_>> {
        (index == 0).then_some(LayerMut {
            w: self.w.as_flattened_mut(),
            b: &mut self.b,
            inputs: I,
            outputs: O,
        })
    }
}

impl<const I: usize, const O: usize, A: Activation> Network<I, O> for Dense<I, O, A> {
    #[inline]
    fn forward<'s>(&self, x: &[f32; I], s: &'s mut LayerScratch<O>) -> &'s [f32; O] {
        kernel::matvec(self.w.as_flattened(), &self.b, x, &mut s.out);
        A::apply(&mut s.out);
        &s.out
    }

    #[inline]
    fn forward_batch<const S: usize>(&self, mut io: [(&[f32; I], &mut LayerScratch<O>); S]) {
        let w = self.w.as_flattened();
        #[cfg(not(target_arch = "arm"))]
        let in_lanes = S.is_multiple_of(kernel::SAMPLE_LANES);
        #[cfg(target_arch = "arm")]
        let in_lanes = false;
        if in_lanes {
            // One sample per vector lane.
            #[cfg(not(target_arch = "arm"))]
            for group in io.chunks_exact_mut(kernel::SAMPLE_LANES) {
                let xs: [&[f32; I]; kernel::SAMPLE_LANES] = core::array::from_fn(|s| group[s].0);
                let mut outs = group.iter_mut().map(|p| &mut p.1.out[..]);
                let outs = core::array::from_fn(|_| outs.next().unwrap_or_default());
                kernel::matvec_lanes(w, &self.b, xs, outs);
            }
        } else {
            let xs = io.each_ref().map(|p| p.0 as &[f32]);
            let outs = io.each_mut().map(|p| &mut p.1.out[..]);
            kernel::matvec_batch(w, &self.b, xs, outs);
        }
        for (_, s) in io {
            A::apply(&mut s.out);
        }
    }

    #[inline]
    fn output(s: &LayerScratch<O>) -> &[f32; O] {
        &s.out
    }

    #[inline]
    fn output_delta(s: &mut LayerScratch<O>) -> &mut [f32; O] {
        &mut s.delta
    }

    #[inline]
    fn backprop(&self, s: &mut LayerScratch<O>, dx: Option<&mut [f32; I]>) {
        A::backprop(&s.out, &mut s.delta);
        if let Some(dx) = dx {
            kernel::matvec_t(self.w.as_flattened(), &s.delta, dx);
        }
    }

    #[inline]
    fn accumulate(x: &[f32; I], s: &LayerScratch<O>, g: &mut Self) {
        kernel::outer_acc(g.w.as_flattened_mut(), &mut g.b, &s.delta, x);
    }

    #[inline]
    fn apply(&mut self, x: &[f32; I], s: &LayerScratch<O>, lr: f32) {
        kernel::outer_sub(self.w.as_flattened_mut(), &mut self.b, &s.delta, x, lr);
    }

    fn layer_io<'a>(
        x: &'a [f32; I],
        s: &'a LayerScratch<O>,
        index: usize,
    ) -> Option<(&'a [f32], &'a [f32])> {
        (index == 0).then_some((&x[..], &s.delta[..]))
    }
}

impl<const I: usize, const H: usize, A: Activation, N: Model> Model for Seq<Dense<I, H, A>, N> {
    type Scratch = SeqScratch<LayerScratch<H>, N::Scratch>;
    const ZERO: Self = Self::new();
    const SCRATCH: Self::Scratch = SeqScratch {
        first: LayerScratch::ZERO,
        rest: N::SCRATCH,
    };
    const LAYERS: usize = 1 + N::LAYERS;
    const PARAMS: usize = I * H + H + N::PARAMS;
    const SHAPE_HASH: u32 = fnv1a(
        fnv1a(<Dense<I, H, A> as Model>::SHAPE_HASH, N::SHAPE_HASH),
        Self::LAYERS as u32,
    );

    fn layer(&self, index: usize) -> Option<LayerRef<'_>> {
        match index {
            0 => self.first.layer(0),
            _ => self.rest.layer(index - 1),
        }
    }

    fn layer_mut(&mut self, index: usize) -> Option<LayerMut<'_>> {
        match index {
            0 => self.first.layer_mut(0),
            _ => self.rest.layer_mut(index - 1),
        }
    }
}

impl<const I: usize, const H: usize, const O: usize, A: Activation, N: Network<H, O>> Network<I, O>
    for Seq<Dense<I, H, A>, N>
{
    #[inline]
    fn forward<'s>(&self, x: &[f32; I], s: &'s mut Self::Scratch) -> &'s [f32; O] {
        let hidden = self.first.forward(x, &mut s.first);
        self.rest.forward(hidden, &mut s.rest)
    }

    #[inline]
    fn forward_batch<const S: usize>(&self, io: [(&[f32; I], &mut Self::Scratch); S]) {
        let mut parts = io.map(|(x, s)| (x, &mut s.first, &mut s.rest));
        self.first
            .forward_batch(parts.each_mut().map(|p| (p.0, &mut *p.1)));
        self.rest.forward_batch(parts.map(|(_, first, rest)| {
            let first: &LayerScratch<H> = first;
            (&first.out, rest)
        }));
    }

    #[inline]
    fn output(s: &Self::Scratch) -> &[f32; O] {
        N::output(&s.rest)
    }

    #[inline]
    fn output_delta(s: &mut Self::Scratch) -> &mut [f32; O] {
        N::output_delta(&mut s.rest)
    }

    #[inline]
    fn backprop(&self, s: &mut Self::Scratch, dx: Option<&mut [f32; I]>) {
        // The rest writes ∂L/∂(our output) straight into our delta buffer.
        self.rest.backprop(&mut s.rest, Some(&mut s.first.delta));
        self.first.backprop(&mut s.first, dx);
    }

    #[inline]
    fn accumulate(x: &[f32; I], s: &Self::Scratch, g: &mut Self) {
        Dense::<I, H, A>::accumulate(x, &s.first, &mut g.first);
        N::accumulate(&s.first.out, &s.rest, &mut g.rest);
    }

    #[inline]
    fn apply(&mut self, x: &[f32; I], s: &Self::Scratch, lr: f32) {
        self.first.apply(x, &s.first, lr);
        self.rest.apply(&s.first.out, &s.rest, lr);
    }

    fn layer_io<'a>(
        x: &'a [f32; I],
        s: &'a Self::Scratch,
        index: usize,
    ) -> Option<(&'a [f32], &'a [f32])> {
        match index {
            0 => Some((&x[..], &s.first.delta[..])),
            _ => N::layer_io(&s.first.out, &s.rest, index - 1),
        }
    }
}

/// Writes the type of a network from its layers, first to last:
///
/// ```
/// use tinytrain::{mlp, Dense, Identity, Relu};
/// type W3 = mlp![Dense<784, 128, Relu>, Dense<128, 64, Relu>, Dense<64, 10, Identity>];
/// // is Seq<Dense<784, 128, Relu>, Seq<Dense<128, 64, Relu>, Dense<64, 10, Identity>>>
/// ```
#[macro_export]
macro_rules! mlp {
    ($last:ty $(,)?) => { $last };
    ($first:ty, $($rest:ty),+ $(,)?) => { $crate::Seq<$first, $crate::mlp![$($rest),+]> };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, Relu, Sigmoid, Tanh};

    type Net = mlp![Dense<3, 4, Tanh>, Dense<4, 5, Relu>, Dense<5, 2, Identity>];

    #[test]
    fn counts_and_sizes() {
        assert_eq!(Net::LAYERS, 3);
        assert_eq!(Net::PARAMS, 3 * 4 + 4 + 4 * 5 + 5 + 5 * 2 + 2);
        assert_eq!(Net::PARAM_BYTES, Net::PARAMS * 4);
        assert_eq!(Net::SCRATCH_BYTES, (4 + 5 + 2) * 2 * 4);
        const { assert!(Net::TRAIN_BYTES > Net::INFERENCE_BYTES) };
    }

    #[test]
    fn shape_hash_depends_on_widths_activations_and_order() {
        type A = Seq<Dense<2, 8, Tanh>, Dense<8, 1, Sigmoid>>;
        type B = Seq<Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>>;
        type C = Seq<Dense<2, 8, Tanh>, Dense<8, 2, Sigmoid>>;
        type D = Seq<Dense<2, 8, Tanh>, Seq<Dense<8, 8, Tanh>, Dense<8, 1, Sigmoid>>>;
        let h = [A::SHAPE_HASH, B::SHAPE_HASH, C::SHAPE_HASH, D::SHAPE_HASH];
        for i in 0..h.len() {
            for j in i + 1..h.len() {
                assert_ne!(h[i], h[j]);
            }
        }
    }

    #[test]
    fn layers_are_visited_in_order() {
        let mut net = Net::ZERO;
        for l in 0..Net::LAYERS {
            let v = net.layer_mut(l).unwrap();
            v.b.fill(l as f32 + 1.0);
        }
        assert!(net.layer(3).is_none());
        assert_eq!(net.first.b, [1.0; 4]);
        assert_eq!(net.rest.first.b, [2.0; 5]);
        assert_eq!(net.rest.rest.b, [3.0; 2]);
        let v = net.layer(1).unwrap();
        assert_eq!((v.inputs, v.outputs, v.activation), (4, 5, "relu"));
    }

    #[test]
    fn forward_computes_each_layer() {
        let mut net = Seq::<Dense<2, 2, Relu>, Dense<2, 1, Identity>>::new();
        net.first.w = [[1.0, 2.0], [-1.0, 0.5]];
        net.first.b = [0.5, 0.0];
        net.rest.w = [[2.0, 3.0]];
        net.rest.b = [-1.0];
        let mut s = <Seq<Dense<2, 2, Relu>, Dense<2, 1, Identity>> as Model>::SCRATCH;
        let y = net.forward(&[1.0, 1.0], &mut s);
        // hidden = relu([3.5, -0.5]) = [3.5, 0]; out = 7 - 1 = 6
        assert_eq!(*y, [6.0]);
    }
}
