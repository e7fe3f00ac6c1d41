//! Finite-difference gradient checks: the analytic gradients of
//! `Gradients::accumulate` (every weight and bias) and of `Network::backprop`
//! (the input) against central differences of the loss, for every activation
//! in the hidden layers × every loss (MSE, BCE on logits, softmax
//! cross-entropy with class and with one-hot targets), on nets of depth 1, 2
//! and 4.
//!
//! The network computes in f32 only, so the loss F is evaluated in f32 (the
//! per-sample losses are summed in f64) and the derivative is estimated by
//! Richardson extrapolation of two central differences,
//! R = (4·D(h/2) − D(h))/3 with D(h) = (F(θ+h) − F(θ−h))/2h, whose truncation
//! error is O(h⁴) instead of O(h²). That allows a fairly large step (h = 1/32,
//! θ and inputs are O(1)), which keeps the f32 rounding noise of F, amplified
//! by 1/h, small. The tolerance is the sum of the two error sources:
//!
//! - rounding: F carries a few ulp of error (per sample: a forward pass of
//!   ≤ 4 layers, then `exp`/`ln`). An error δ in each evaluation moves D(h/2)
//!   by up to 2δ/h and D(h) by up to δ/h, so R by up to (4·2 + 1)/3·δ/h = 3δ/h.
//!   With δ = `F_ULPS`·ε·(1 + |F|) this is the absolute term of the tolerance
//!   (ε = f32::EPSILON; the 1 covers losses near 0, whose rounding is set by
//!   the O(1) logits and outputs they are computed from).
//! - truncation and the remaining curvature: `REL_TOL` of the gradient.
//!
//! With h = 1/32 and |F| ≈ 1 that is 3·4·1.2e-7·2·32 ≈ 1e-4 absolute plus
//! 1e-3 relative; the observed errors stay below a fifth of it, while a wrong
//! derivative (see the `gradcheck_catches_*` tests) exceeds it many times.
//!
//! ReLU and LeakyReLU are not differentiable at 0, and a difference quotient
//! across a kink is meaningless. Each case searches seeds for weights and
//! inputs whose ReLU/LeakyReLU pre-activations are all at least `KINK_MARGIN`
//! from 0, and every perturbed evaluation checks that no such unit changed
//! side; if one did, the step is halved (the noise bound grows with 1/h), and
//! a case that still crosses at `H_MIN` fails rather than being skipped.

use tinytrain::rng::{below, uniform};
use tinytrain::{
    mlp, Activation, BinaryCrossEntropy, Dense, Gradients, Identity, LeakyRelu, Loss, Model, Mse,
    Network, Relu, Rng, Sigmoid, SoftmaxCrossEntropy, Tanh, Target,
};

/// Samples per case; the analytic side is the sum `Gradients::accumulate` builds.
const SAMPLES: usize = 2;
/// First finite-difference step; halved while a perturbation crosses a kink.
const H_START: f32 = 1.0 / 32.0;
/// Smallest step tried.
const H_MIN: f32 = 1.0 / 1024.0;
/// Distance of every ReLU/LeakyReLU pre-activation from 0 at the base point.
const KINK_MARGIN: f64 = 0.02;
/// Seeds tried to find a base point that satisfies `KINK_MARGIN`.
const SEEDS: u64 = 500;
/// Rounding error of one evaluation of F, in ulps of (1 + |F|).
const F_ULPS: f64 = 4.0;
/// Relative tolerance: Richardson's O(h⁴) remainder and second-order noise.
#[cfg(not(feature = "fast-math"))]
const REL_TOL: f64 = 1e-3;
/// With `fast-math` the activations and losses use approximations of exp and
/// tanh whose own derivatives differ from the exact ones that backpropagation
/// uses (σ' = σ(1 − σ), tanh' = 1 − tanh²) by up to a few percent.
#[cfg(feature = "fast-math")]
const REL_TOL: f64 = 5e-2;

/// How a case draws its targets.
#[derive(Clone, Copy, Debug)]
enum Targets {
    /// Values in [−1, 1] (MSE).
    Regression,
    /// 0 or 1 per output (BCE).
    Binary,
    /// A class index.
    Class,
    /// The same as a one-hot vector.
    OneHot,
}

fn draw_target<const O: usize>(kind: Targets, rng: &mut Rng) -> Target<O> {
    match kind {
        Targets::Regression => Target::Values(core::array::from_fn(|_| uniform(rng, 1.0))),
        Targets::Binary => Target::Values(core::array::from_fn(|_| below(rng, 2) as f32)),
        Targets::Class => Target::Class(below(rng, O as u32) as usize),
        Targets::OneHot => {
            let c = below(rng, O as u32) as usize;
            Target::Values(core::array::from_fn(|k| f32::from(u8::from(k == c))))
        }
    }
}

/// What a case measured.
#[derive(Debug)]
struct Report {
    /// Parameters and inputs compared.
    checked: usize,
    /// Largest |analytic| seen (a case whose gradient is all zero proves nothing).
    max_grad: f64,
    /// Largest |analytic − finite difference| / tolerance (must stay ≤ 1).
    worst_ratio: f64,
    /// Largest |analytic − finite difference| / |finite difference| over
    /// entries of at least 1e-2 (informative).
    worst_rel: f64,
    /// Smallest finite-difference step used (below `H_START` where a kink
    /// was near).
    min_h: f32,
    /// The seed the base point came from.
    seed: u64,
}

/// A network, its samples and its loss: everything F(θ, x) needs.
struct Problem<N: Model, L, const I: usize, const O: usize> {
    net: N,
    scratch: N::Scratch,
    xs: [[f32; I]; SAMPLES],
    ts: [Target<O>; SAMPLES],
    loss: L,
}

impl<N, L, const I: usize, const O: usize> Problem<N, L, I, O>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    /// Weights ~ U(±2/√fan_in), biases ~ U(±0.5), inputs ~ U(±1) from `seed`.
    fn draw(seed: u64, loss: L, targets: Targets) -> Self {
        let mut rng = Rng::seed(seed);
        let mut net = N::ZERO;
        for l in 0..N::LAYERS {
            let layer = net.layer_mut(l).expect("layer");
            let bound = 2.0 / (layer.inputs as f32).sqrt();
            layer
                .w
                .iter_mut()
                .for_each(|w| *w = uniform(&mut rng, bound));
            layer.b.iter_mut().for_each(|b| *b = uniform(&mut rng, 0.5));
        }
        let xs = core::array::from_fn(|_| core::array::from_fn(|_| uniform(&mut rng, 1.0)));
        let ts = core::array::from_fn(|_| draw_target(targets, &mut rng));
        Problem {
            net,
            scratch: N::SCRATCH,
            xs,
            ts,
            loss,
        }
    }

    /// Loss of sample `n`, and the side of 0 each ReLU/LeakyReLU
    /// pre-activation falls on (appended to `sides`); the smallest such |z|.
    fn sample_loss(&mut self, n: usize, sides: &mut Vec<bool>) -> Result<(f64, f64), String> {
        let x = &self.xs[n];
        let out = self.net.forward(x, &mut self.scratch);
        let l = self
            .loss
            .loss(out, &self.ts[n])
            .map_err(|e| e.to_string())?;
        let mut min_abs = f64::INFINITY;
        for k in 0..N::LAYERS {
            let layer = self.net.layer(k).ok_or("layer")?;
            if layer.activation != "relu" && layer.activation != "leaky_relu" {
                continue;
            }
            let (input, _) = N::layer_io(x, &self.scratch, k).ok_or("layer_io")?;
            for (row, &b) in layer.w.chunks_exact(layer.inputs).zip(layer.b) {
                let z: f64 = f64::from(b)
                    + row
                        .iter()
                        .zip(input)
                        .map(|(&w, &a)| f64::from(w) * f64::from(a))
                        .sum::<f64>();
                sides.push(z > 0.0);
                min_abs = min_abs.min(z.abs());
            }
        }
        Ok((f64::from(l), min_abs))
    }

    /// F = Σ_n L_n, the kink sides, and the smallest |z| at a kink.
    fn total_loss(&mut self) -> Result<(f64, Vec<bool>, f64), String> {
        let mut sides = Vec::new();
        let (mut f, mut min_abs) = (0.0, f64::INFINITY);
        for n in 0..SAMPLES {
            let (l, m) = self.sample_loss(n, &mut sides)?;
            f += l;
            min_abs = min_abs.min(m);
        }
        Ok((f, sides, min_abs))
    }
}

/// Richardson-extrapolated central difference of `eval` in the coordinate
/// that `set` writes, starting from `v0`. Returns the estimate and the step.
fn derivative(
    v0: f32,
    sides0: &[bool],
    mut set: impl FnMut(f32),
    mut eval: impl FnMut() -> Result<(f64, Vec<bool>), String>,
) -> Result<(f64, f32), String> {
    let mut h = H_START;
    while h >= H_MIN {
        let mut f = [0.0f64; 4];
        let mut step = [0.0f64; 4];
        let mut same_side = true;
        for (k, s) in [h, -h, h / 2.0, -h / 2.0].into_iter().enumerate() {
            let v = v0 + s;
            set(v);
            let (fk, sides) = eval()?;
            f[k] = fk;
            step[k] = f64::from(v);
            same_side &= sides == sides0;
        }
        set(v0);
        if same_side {
            // Actual steps (v0 ± h rounds in f32); their ratio stays 2 up to
            // an ulp, which Richardson tolerates.
            let d1 = (f[0] - f[1]) / (step[0] - step[1]);
            let d2 = (f[2] - f[3]) / (step[2] - step[3]);
            return Ok(((4.0 * d2 - d1) / 3.0, h));
        }
        h /= 2.0;
    }
    Err(format!(
        "a ReLU pre-activation crosses 0 within {H_MIN} of {v0}"
    ))
}

/// Compares analytic and finite-difference derivatives; updates `report`.
fn compare(
    report: &mut Report,
    what: &str,
    analytic: f64,
    fd: f64,
    h: f32,
    f_scale: f64,
) -> Result<(), String> {
    let noise = 3.0 * F_ULPS * f64::from(f32::EPSILON) * (1.0 + f_scale) / f64::from(h);
    let tol = REL_TOL * analytic.abs().max(fd.abs()) + noise;
    let err = (analytic - fd).abs();
    if err.is_nan() || err > tol {
        return Err(format!(
            "{what}: analytic {analytic:e}, finite difference {fd:e} (error {err:.2e} > tolerance {tol:.2e}, h = {h})"
        ));
    }
    report.checked += 1;
    report.min_h = report.min_h.min(h);
    report.max_grad = report.max_grad.max(analytic.abs());
    report.worst_ratio = report.worst_ratio.max(err / tol);
    if fd.abs() >= 1e-2 {
        report.worst_rel = report.worst_rel.max(err / fd.abs());
    }
    Ok(())
}

/// Checks every parameter gradient and every input gradient of the network
/// type `N` under `loss`, at the first seed whose base point keeps
/// `KINK_MARGIN` from every ReLU kink.
fn check<N, L, const I: usize, const O: usize>(loss: L, targets: Targets) -> Result<Report, String>
where
    N: Network<I, O>,
    L: Loss<O> + Copy,
{
    let seed = (0..SEEDS)
        .find(|&s| {
            Problem::<N, L, I, O>::draw(s, loss, targets)
                .total_loss()
                .is_ok_and(|(f, _, m)| f.is_finite() && m >= KINK_MARGIN)
        })
        .ok_or("no seed gives a base point away from the ReLU kinks")?;
    let mut p = Problem::<N, L, I, O>::draw(seed, loss, targets);
    let (f0, sides0, _) = p.total_loss()?;
    let mut report = Report {
        checked: 0,
        max_grad: 0.0,
        worst_ratio: 0.0,
        worst_rel: 0.0,
        min_h: H_START,
        seed,
    };

    // Parameters: the analytic side is the sum over the samples.
    let mut grads = Gradients::<N>::ZERO;
    for n in 0..SAMPLES {
        grads
            .accumulate(&p.net, &mut p.scratch, &p.xs[n], &p.ts[n], &p.loss)
            .map_err(|e| e.to_string())?;
    }
    for l in 0..N::LAYERS {
        let g = grads.sum.layer(l).ok_or("layer")?;
        let analytic: Vec<f32> = g.w.iter().chain(g.b).copied().collect();
        let n_w = g.w.len();
        for (k, &a) in analytic.iter().enumerate() {
            let v0 = {
                let layer = p.net.layer(l).ok_or("layer")?;
                if k < n_w {
                    layer.w[k]
                } else {
                    layer.b[k - n_w]
                }
            };
            let cell = std::cell::RefCell::new(&mut p);
            let (fd, h) = derivative(
                v0,
                &sides0,
                |v| {
                    let mut p = cell.borrow_mut();
                    let layer = p.net.layer_mut(l).expect("layer");
                    if k < n_w {
                        layer.w[k] = v;
                    } else {
                        layer.b[k - n_w] = v;
                    }
                },
                || cell.borrow_mut().total_loss().map(|(f, s, _)| (f, s)),
            )?;
            let what = if k < n_w {
                format!(
                    "layer {l} weight [{}][{}]",
                    k / (n_w / g.b.len()),
                    k % (n_w / g.b.len())
                )
            } else {
                format!("layer {l} bias [{}]", k - n_w)
            };
            compare(&mut report, &what, f64::from(a), fd, h, f0.abs())?;
        }
    }

    // Inputs: ∂L_n/∂x_n through `backprop` with `dx`.
    for n in 0..SAMPLES {
        let mut g = [0.0f32; O];
        let out = p.net.forward(&p.xs[n], &mut p.scratch);
        let l0 = p
            .loss
            .loss_grad(out, &p.ts[n], &mut g)
            .map_err(|e| e.to_string())?;
        *N::output_delta(&mut p.scratch) = g;
        let mut dx = [0.0f32; I];
        p.net.backprop(&mut p.scratch, Some(&mut dx));
        let mut sides_n = Vec::new();
        p.sample_loss(n, &mut sides_n)?;
        for (i, &a) in dx.iter().enumerate() {
            let v0 = p.xs[n][i];
            let cell = std::cell::RefCell::new(&mut p);
            let (fd, h) = derivative(
                v0,
                &sides_n,
                |v| cell.borrow_mut().xs[n][i] = v,
                || {
                    let mut sides = Vec::new();
                    let (l, _) = cell.borrow_mut().sample_loss(n, &mut sides)?;
                    Ok((l, sides))
                },
            )?;
            compare(
                &mut report,
                &format!("sample {n} input [{i}]"),
                f64::from(a),
                fd,
                h,
                f64::from(l0).abs(),
            )?;
        }
    }

    if report.checked != N::PARAMS + SAMPLES * I {
        return Err(format!(
            "checked {} of {} derivatives",
            report.checked,
            N::PARAMS + SAMPLES * I
        ));
    }
    if report.max_grad < 1e-2 {
        return Err(format!(
            "the gradient is too small to say anything ({:e})",
            report.max_grad
        ));
    }
    Ok(report)
}

/// Runs [`check`] for each loss and target kind on the network type `N`
/// (three outputs, so class targets are in 0..3).
fn every_loss<N: Network<I, 3>, const I: usize>(net: &str) {
    let cases = [
        ("mse", check::<N, _, I, 3>(Mse, Targets::Regression)),
        (
            "bce_with_logits",
            check::<N, _, I, 3>(BinaryCrossEntropy, Targets::Binary),
        ),
        (
            "softmax_ce class",
            check::<N, _, I, 3>(SoftmaxCrossEntropy, Targets::Class),
        ),
        (
            "softmax_ce one-hot",
            check::<N, _, I, 3>(SoftmaxCrossEntropy, Targets::OneHot),
        ),
    ];
    for (loss, result) in cases {
        match result {
            Ok(r) => println!(
                "{net} {loss}: {} derivatives, worst error/tolerance {:.3}, worst relative error {:.1e}, smallest h {} (seed {})",
                r.checked, r.worst_ratio, r.worst_rel, r.min_h, r.seed
            ),
            Err(e) => panic!("{net} {loss}: {e}"),
        }
    }
}

type Depth1<A> = Dense<4, 3, A>;
// Input widths 9 and 10 take the 8-lane dot product with a tail.
type Depth2<A> = mlp![Dense<4, 9, A>, Dense<9, 3, Identity>];
type Depth4<A> = mlp![Dense<5, 10, A>, Dense<10, 4, A>, Dense<4, 6, A>, Dense<6, 3, Identity>];
type Depth4TanhReluLeaky =
    mlp![Dense<5, 7, Tanh>, Dense<7, 6, Relu>, Dense<6, 4, LeakyRelu>, Dense<4, 3, Identity>];
type Depth4SigmoidLeakyTanh =
    mlp![Dense<6, 9, Sigmoid>, Dense<9, 5, LeakyRelu>, Dense<5, 4, Tanh>, Dense<4, 3, Identity>];

// Depth 1: the activation is the output's (a sigmoid or tanh "logit" is still
// a differentiable function to check).

#[test]
fn gradcheck_depth1_identity() {
    every_loss::<Depth1<Identity>, 4>("depth1 identity");
}

#[test]
fn gradcheck_depth1_relu() {
    every_loss::<Depth1<Relu>, 4>("depth1 relu");
}

#[test]
fn gradcheck_depth1_leaky_relu() {
    every_loss::<Depth1<LeakyRelu>, 4>("depth1 leaky_relu");
}

#[test]
fn gradcheck_depth1_sigmoid() {
    every_loss::<Depth1<Sigmoid>, 4>("depth1 sigmoid");
}

#[test]
fn gradcheck_depth1_tanh() {
    every_loss::<Depth1<Tanh>, 4>("depth1 tanh");
}

#[test]
fn gradcheck_depth2_identity() {
    every_loss::<Depth2<Identity>, 4>("depth2 identity");
}

#[test]
fn gradcheck_depth2_relu() {
    every_loss::<Depth2<Relu>, 4>("depth2 relu");
}

#[test]
fn gradcheck_depth2_leaky_relu() {
    every_loss::<Depth2<LeakyRelu>, 4>("depth2 leaky_relu");
}

#[test]
fn gradcheck_depth2_sigmoid() {
    every_loss::<Depth2<Sigmoid>, 4>("depth2 sigmoid");
}

#[test]
fn gradcheck_depth2_tanh() {
    every_loss::<Depth2<Tanh>, 4>("depth2 tanh");
}

#[test]
fn gradcheck_depth4_identity() {
    every_loss::<Depth4<Identity>, 5>("depth4 identity");
}

#[test]
fn gradcheck_depth4_relu() {
    every_loss::<Depth4<Relu>, 5>("depth4 relu");
}

#[test]
fn gradcheck_depth4_leaky_relu() {
    every_loss::<Depth4<LeakyRelu>, 5>("depth4 leaky_relu");
}

#[test]
fn gradcheck_depth4_sigmoid() {
    every_loss::<Depth4<Sigmoid>, 5>("depth4 sigmoid");
}

#[test]
fn gradcheck_depth4_tanh() {
    every_loss::<Depth4<Tanh>, 5>("depth4 tanh");
}

#[test]
fn gradcheck_depth4_tanh_relu_leaky_relu() {
    every_loss::<Depth4TanhReluLeaky, 5>("depth4 tanh/relu/leaky_relu");
}

#[test]
fn gradcheck_depth4_sigmoid_leaky_relu_tanh() {
    every_loss::<Depth4SigmoidLeakyTanh, 6>("depth4 sigmoid/leaky_relu/tanh");
}

// The checker itself: deliberately wrong derivatives must be caught.

/// tanh with the derivative 1 − a instead of 1 − a².
struct WrongTanh;

impl Activation for WrongTanh {
    const ID: u32 = 100;
    const NAME: &'static str = "tanh";
    fn f(z: f32) -> f32 {
        Tanh::f(z)
    }
    fn df_from_output(a: f32) -> f32 {
        1.0 - a
    }
}

/// LeakyReLU whose backward pass uses slope 0.02 instead of 0.01.
struct WrongLeakySlope;

impl Activation for WrongLeakySlope {
    const ID: u32 = 101;
    const NAME: &'static str = "leaky_relu";
    fn f(z: f32) -> f32 {
        LeakyRelu::f(z)
    }
    fn df_from_output(a: f32) -> f32 {
        if a > 0.0 {
            1.0
        } else {
            0.02
        }
    }
}

/// MSE whose gradient forgets the factor 2.
#[derive(Clone, Copy)]
struct MseHalfGradient;

impl<const O: usize> Loss<O> for MseHalfGradient {
    const NAME: &'static str = "mse_half_gradient";
    fn loss_grad(
        &self,
        out: &[f32; O],
        target: &Target<O>,
        grad: &mut [f32; O],
    ) -> Result<f32, tinytrain::Error> {
        let l = Mse.loss_grad(out, target, grad)?;
        grad.iter_mut().for_each(|g| *g *= 0.5);
        Ok(l)
    }
    fn correct(&self, out: &[f32; O], target: &Target<O>) -> bool {
        Mse.correct(out, target)
    }
}

fn expect_caught(result: Result<Report, String>, what: &str) {
    match result {
        Ok(r) => panic!("a wrong {what} passed the gradient check: {r:?}"),
        Err(e) => assert!(
            e.contains("finite difference"),
            "failed for another reason: {e}"
        ),
    }
}

#[test]
fn gradcheck_catches_a_wrong_activation_derivative() {
    type N = mlp![Dense<4, 9, WrongTanh>, Dense<9, 3, Identity>];
    expect_caught(
        check::<N, _, 4, 3>(Mse, Targets::Regression),
        "tanh derivative",
    );
}

#[test]
fn gradcheck_catches_a_wrong_leaky_slope() {
    type N = mlp![Dense<5, 10, WrongLeakySlope>, Dense<10, 4, Tanh>, Dense<4, 3, Identity>];
    expect_caught(
        check::<N, _, 5, 3>(SoftmaxCrossEntropy, Targets::Class),
        "leaky slope",
    );
}

#[test]
fn gradcheck_catches_a_wrong_loss_gradient() {
    expect_caught(
        check::<Depth2<Sigmoid>, _, 4, 3>(MseHalfGradient, Targets::Regression),
        "loss gradient",
    );
}
