//! Backpropagation over samples, stochastic gradient descent, and a training
//! loop over data sets that live in memory or arrive one sample at a time.

use rand_core::RngCore;

use crate::error::Error;
use crate::kernel;
use crate::loss::{Loss, Target};
use crate::math;
use crate::network::{Model, Network};
use crate::rng::shuffle;

/// Largest learning rate accepted: beyond it SGD diverges for any network
/// this crate is meant for, so a larger value is taken for a mistake.
pub const MAX_LR: f32 = 10.0;

/// Sum of per-sample gradients over a mini-batch, in the model's own shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients<N> {
    /// Σ ∂L/∂θ over the samples accumulated since the last step.
    pub sum: N,
    /// Number of samples in `sum`.
    pub count: u32,
}

impl<N: Model> Gradients<N> {
    /// An empty gradient store (usable in `static` initialisers).
    pub const ZERO: Self = Gradients {
        sum: N::ZERO,
        count: 0,
    };

    /// Forgets the accumulated samples.
    pub fn clear(&mut self) {
        self.sum.zero();
        self.count = 0;
    }

    /// Forward, loss and backward for one sample; adds its gradient. Returns
    /// the sample's loss. A non-finite input, target, loss or gradient is
    /// rejected with [`Error::NonFinite`] and nothing is added.
    // Out of line on x86-64, with `forward_backward` and `Sgd::step`: see
    // `forward_backward`.
    #[cfg_attr(target_arch = "x86_64", inline(never))]
    pub fn accumulate<const I: usize, const O: usize, L: Loss<O>>(
        &mut self,
        net: &N,
        scratch: &mut N::Scratch,
        x: &[f32; I],
        target: &Target<O>,
        loss: &L,
    ) -> Result<f32, Error>
    where
        N: Network<I, O>,
    {
        let l = forward_backward(net, scratch, x, target, loss)?;
        N::accumulate(x, scratch, &mut self.sum);
        self.count += 1;
        Ok(l)
    }

    /// [`Gradients::accumulate`] for `S` samples, sample `k` being
    /// `(xs[k], targets[k])` in `scratch[k]`: the forward passes run together
    /// ([`forward_backward_batch`]), so the chains of operations of
    /// different samples overlap, and the gradients are added in sample
    /// order, with exactly the bits of `S` calls of `accumulate`. Returns the
    /// samples' losses. On an error, the samples before the first one in
    /// error have been added ([`Gradients::count`] says how many) and no
    /// other.
    pub fn accumulate_batch<const I: usize, const O: usize, const S: usize, L: Loss<O>>(
        &mut self,
        net: &N,
        scratch: &mut [N::Scratch; S],
        xs: [&[f32; I]; S],
        targets: [&Target<O>; S],
        loss: &L,
    ) -> Result<[f32; S], Error>
    where
        N: Network<I, O>,
    {
        let mut k = 0;
        let io = scratch.each_mut().map(|s| {
            k += 1;
            (xs[k - 1], targets[k - 1], s)
        });
        let results = forward_backward_batch(net, io, loss);
        let mut losses = [0.0; S];
        for (k, r) in results.into_iter().enumerate() {
            losses[k] = r?;
            N::accumulate(xs[k], &scratch[k], &mut self.sum);
            self.count += 1;
        }
        Ok(losses)
    }
}

/// Momentum buffer for [`Sgd::step`], in the model's own shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Velocity<N>(pub N);

impl<N: Model> Velocity<N> {
    /// A zero momentum buffer (usable in `static` initialisers).
    pub const ZERO: Self = Velocity(N::ZERO);
}

/// One sample's forward pass, loss, and backpropagated deltas (left in
/// `scratch`). Checks every number that comes from outside or could blow up.
//
// On x86-64 this, `Gradients::accumulate` and `Sgd::step` stay out of
// line: inlined into the trainer's loop (which then made four calls of the
// forward pass in 1,600 instructions), criterion's W1 epoch took 379 ns,
// against 281 ns out of line (AVX-512 host); any one or two of the three
// out of line gained less or nothing. Elsewhere the compiler inlines as it
// sees fit: on a Cortex-M the calls would cost instructions and flash (W1
// on the M4F: 1,051 → 1,113 instructions per sample), and other hosts
// were not measured.
#[cfg_attr(target_arch = "x86_64", inline(never))]
pub fn forward_backward<N, L, const I: usize, const O: usize>(
    net: &N,
    scratch: &mut N::Scratch,
    x: &[f32; I],
    target: &Target<O>,
    loss: &L,
) -> Result<f32, Error>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    check_sample(x, target)?;
    let l = forward_backward_unchecked(net, scratch, x, target, loss)?;
    check_deltas::<N, I, O>(scratch, x)?;
    Ok(l)
}

/// [`forward_backward`] for `S` samples, each `(input, target, scratch)`:
/// the same results and scratch contents, to the bit, as `S` calls in
/// order, but the forward pass reads each layer's weights once for all of
/// them ([`Network::forward_batch`]) and the loss may take them together
/// ([`Loss::loss_grad_batch`]).
pub fn forward_backward_batch<N, L, const I: usize, const O: usize, const S: usize>(
    net: &N,
    mut io: [(&[f32; I], &Target<O>, &mut N::Scratch); S],
    loss: &L,
) -> [Result<f32, Error>; S]
where
    N: Network<I, O>,
    L: Loss<O>,
{
    if io.iter().any(|(x, t, _)| check_sample(x, t).is_err()) {
        return io.map(|(x, t, s)| forward_backward(net, s, x, t, loss));
    }
    net.forward_batch(io.each_mut().map(|p| (p.0, &mut *p.2)));
    let mut grads = [[0.0f32; O]; S];
    let losses = loss.loss_grad_batch(
        io.each_ref().map(|p| N::output(p.2)),
        io.each_ref().map(|p| p.1),
        grads.each_mut(),
    );
    // A loop rather than `io.map`: the map's closure was not inlined, which
    // cost W1 (four samples of 2-8-1) about a sixth of its step.
    let mut out = losses;
    for (k, (x, _, s)) in io.into_iter().enumerate() {
        out[k] = losses[k]
            .and_then(|l| backward_from(net, s, l, &grads[k]))
            .and_then(|l| check_deltas::<N, I, O>(s, x).map(|()| l));
    }
    out
}

/// An input and target from outside must be finite.
fn check_sample<const I: usize, const O: usize>(
    x: &[f32; I],
    target: &Target<O>,
) -> Result<(), Error> {
    if !kernel::all_finite(x) {
        return Err(Error::NonFinite("input"));
    }
    if let Target::Values(t) = target {
        if !kernel::all_finite(t) {
            return Err(Error::NonFinite("target"));
        }
    }
    Ok(())
}

/// Every layer's back-propagated delta must be finite.
fn check_deltas<N: Network<I, O>, const I: usize, const O: usize>(
    scratch: &N::Scratch,
    x: &[f32; I],
) -> Result<(), Error> {
    for k in 0..N::LAYERS {
        if let Some((_, delta)) = N::layer_io(x, scratch, k) {
            if !kernel::all_finite(delta) {
                return Err(Error::NonFinite("gradient"));
            }
        }
    }
    Ok(())
}

/// [`forward_backward`] after the input and target checks and without the
/// final check of the deltas (for callers that check them another way).
fn forward_backward_unchecked<N, L, const I: usize, const O: usize>(
    net: &N,
    scratch: &mut N::Scratch,
    x: &[f32; I],
    target: &Target<O>,
    loss: &L,
) -> Result<f32, Error>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    net.forward(x, scratch);
    backward_unchecked(net, scratch, target, loss)
}

/// Loss and backpropagation after a forward pass whose outputs are in
/// `scratch`.
#[inline(always)]
fn backward_unchecked<N, L, const I: usize, const O: usize>(
    net: &N,
    scratch: &mut N::Scratch,
    target: &Target<O>,
    loss: &L,
) -> Result<f32, Error>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    let mut grad = [0.0f32; O];
    let l = loss.loss_grad(N::output(scratch), target, &mut grad)?;
    backward_from(net, scratch, l, &grad)
}

/// Backpropagation of the loss `l` with gradient `grad` at the output,
/// both of which must be finite.
#[inline(always)]
fn backward_from<N, const I: usize, const O: usize>(
    net: &N,
    scratch: &mut N::Scratch,
    l: f32,
    grad: &[f32; O],
) -> Result<f32, Error>
where
    N: Network<I, O>,
{
    if !l.is_finite() || !kernel::all_finite(grad) {
        return Err(Error::NonFinite("loss"));
    }
    *N::output_delta(scratch) = *grad;
    net.backprop(scratch, None);
    Ok(l)
}

/// How the learning rate changes with the epoch (0-based), like PyTorch's
/// `StepLR`, `ExponentialLR` and `CosineAnnealingLR`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Schedule {
    /// lr stays as given.
    Constant,
    /// lr · gamma^⌊epoch / every⌋.
    Step {
        /// Epochs between decays (≥ 1).
        every: u32,
        /// Factor per decay, in (0, 1].
        gamma: f32,
    },
    /// lr · gamma^epoch.
    Exponential {
        /// Factor per epoch, in (0, 1].
        gamma: f32,
    },
    /// min_lr + (lr − min_lr)·(1 + cos(π·epoch / epochs))/2, then min_lr.
    Cosine {
        /// Epochs of the half cosine (≥ 1).
        epochs: u32,
        /// Final learning rate, in \[0, lr\].
        min_lr: f32,
    },
}

/// Hyper-parameters of stochastic gradient descent, checked by [`Sgd::new`].
///
/// The update follows PyTorch's `clip_grad_norm_` then `optim.SGD`:
/// g ← g·min(1, clip/(‖g‖ + 1e-6)); g ← g + weight_decay·w;
/// v ← momentum·v + g; w ← w − lr·v (or w − lr·g without momentum).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SgdConfig {
    /// Learning rate, in (0, [`MAX_LR`]].
    pub lr: f32,
    /// Momentum factor, in \[0, 1).
    pub momentum: f32,
    /// L2 weight decay, in \[0, 1\].
    pub weight_decay: f32,
    /// Clip the gradient to this global L2 norm (finite, > 0), or not at all.
    pub clip_norm: Option<f32>,
    /// Learning-rate schedule.
    pub schedule: Schedule,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr` (checked later by [`Sgd::new`]).
    pub const fn new(lr: f32) -> Self {
        SgdConfig {
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
            clip_norm: None,
            schedule: Schedule::Constant,
        }
    }

    /// Checks every field; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = |c: bool, what| {
            if c {
                Ok(())
            } else {
                Err(Error::InvalidParam(what))
            }
        };
        ok(
            self.lr.is_finite() && self.lr > 0.0 && self.lr <= MAX_LR,
            "lr must be finite and in (0, 10]",
        )?;
        ok(
            self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum),
            "momentum must be in [0, 1)",
        )?;
        ok(
            self.weight_decay.is_finite() && (0.0..=1.0).contains(&self.weight_decay),
            "weight_decay must be in [0, 1]",
        )?;
        if let Some(c) = self.clip_norm {
            ok(c.is_finite() && c > 0.0, "clip_norm must be finite and > 0")?;
        }
        match self.schedule {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                ok(every >= 1, "schedule step 'every' must be >= 1")?;
                ok(
                    gamma.is_finite() && gamma > 0.0 && gamma <= 1.0,
                    "schedule gamma must be in (0, 1]",
                )
            }
            Schedule::Exponential { gamma } => ok(
                gamma.is_finite() && gamma > 0.0 && gamma <= 1.0,
                "schedule gamma must be in (0, 1]",
            ),
            Schedule::Cosine { epochs, min_lr } => {
                ok(epochs >= 1, "cosine schedule epochs must be >= 1")?;
                ok(
                    min_lr.is_finite() && min_lr >= 0.0 && min_lr <= self.lr,
                    "cosine schedule min_lr must be in [0, lr]",
                )
            }
        }
    }
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepReport {
    /// Squared global L2 norm of the mean gradient, before clipping.
    pub grad_norm_sq: f32,
    /// Factor the gradient was scaled by (1 when not clipped).
    pub clip_scale: f32,
}

impl StepReport {
    /// Global L2 norm of the mean gradient, before clipping.
    pub fn grad_norm(&self) -> f32 {
        math::sqrt(self.grad_norm_sq)
    }
}

/// PyTorch's `clip_grad_norm_` factor, min(1, max / (‖g‖ + 1e-6)), from ‖g‖²;
/// the square root is taken only when clipping is on (it costs flash on a
/// device that does not clip).
fn clip_scale(clip_norm: Option<f32>, sq: f32) -> f32 {
    match clip_norm {
        Some(max) => (max / (math::sqrt(sq) + 1e-6)).min(1.0),
        None => 1.0,
    }
}

/// Stochastic gradient descent with validated hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sgd {
    cfg: SgdConfig,
    lr: f32,
}

impl Sgd {
    /// Checks `cfg` ([`SgdConfig::validate`]) and starts at epoch 0.
    pub fn new(cfg: SgdConfig) -> Result<Self, Error> {
        cfg.validate()?;
        Ok(Sgd { cfg, lr: cfg.lr })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SgdConfig {
        &self.cfg
    }

    /// The learning rate in force.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Moves the schedule to `epoch` (0-based).
    pub fn set_epoch(&mut self, epoch: u32) {
        let base = self.cfg.lr;
        self.lr = match self.cfg.schedule {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => {
                base * math::pow(gamma, (epoch / every.max(1)) as f32)
            }
            Schedule::Exponential { gamma } => base * math::pow(gamma, epoch as f32),
            Schedule::Cosine { epochs, min_lr } => {
                let t = epoch.min(epochs) as f32 / epochs.max(1) as f32;
                min_lr + (base - min_lr) * 0.5 * (1.0 + math::cos(core::f32::consts::PI * t))
            }
        };
    }

    /// Applies the mean of the accumulated gradients and clears them.
    ///
    /// All-or-nothing: if the gradient or any updated weight or momentum would
    /// be non-finite, returns [`Error::NonFinite`] and leaves the model and the
    /// momentum exactly as they were (the gradients are cleared either way).
    /// `velocity` must be given when the configuration has momentum.
    // Out of line on x86-64: see `forward_backward`.
    #[cfg_attr(target_arch = "x86_64", inline(never))]
    pub fn step<N: Model>(
        &self,
        net: &mut N,
        grads: &mut Gradients<N>,
        mut velocity: Option<&mut Velocity<N>>,
    ) -> Result<StepReport, Error> {
        let res = self.step_inner(net, grads, &mut velocity);
        grads.clear();
        res
    }

    fn step_inner<N: Model>(
        &self,
        net: &mut N,
        grads: &mut Gradients<N>,
        velocity: &mut Option<&mut Velocity<N>>,
    ) -> Result<StepReport, Error> {
        if grads.count == 0 {
            return Err(Error::Empty);
        }
        let momentum = self.cfg.momentum;
        if momentum != 0.0 && velocity.is_none() {
            return Err(Error::InvalidParam("momentum needs a Velocity buffer"));
        }
        // Pass 1: mean gradient and its global norm.
        let inv = 1.0 / grads.count as f32;
        let mut sq = 0.0f32;
        for l in 0..N::LAYERS {
            let Some(g) = grads.sum.layer_mut(l) else {
                continue;
            };
            sq += kernel::mean_sq_rows(g.w, g.inputs, inv) + kernel::scale_sum_sq(g.b, inv);
        }
        let rule = self.update_rule(sq)?;
        // Pass 2: the update u (clip, decay, momentum) into the gradient store,
        // checking that it and the new weights are finite. Nothing else moves.
        let mut finite = true;
        for l in 0..N::LAYERS {
            let (Some(g), Some(p)) = (grads.sum.layer_mut(l), net.layer(l)) else {
                continue;
            };
            let v = velocity
                .as_deref()
                .filter(|_| momentum != 0.0)
                .and_then(|v| v.0.layer(l));
            finite &= rule.direction(g.w, p.w, v.map(|v| v.w));
            finite &= rule.direction(g.b, p.b, v.map(|v| v.b));
        }
        if !finite {
            return Err(Error::NonFinite("update"));
        }
        // Pass 3: commit.
        for l in 0..N::LAYERS {
            let (Some(g), Some(p)) = (grads.sum.layer(l), net.layer_mut(l)) else {
                continue;
            };
            match velocity.as_deref_mut().and_then(|v| v.0.layer_mut(l)) {
                Some(v) => {
                    rule.commit(p.w, g.w, Some(v.w));
                    rule.commit(p.b, g.b, Some(v.b));
                }
                None => {
                    rule.commit(p.w, g.w, None);
                    rule.commit(p.b, g.b, None);
                }
            }
        }
        let scale = rule.scale;
        Ok(StepReport {
            grad_norm_sq: sq,
            clip_scale: scale,
        })
    }

    /// The element-wise rule of a step whose mean gradient has squared norm
    /// `sq` (clipping factor, decay, momentum, learning rate), or
    /// [`Error::NonFinite`] if `sq` is not finite.
    ///
    /// With [`kernel::mean_sq_rows`], [`kernel::Update::direction`] and
    /// [`kernel::Update::commit`] these are the parts of [`Sgd::step`], so a
    /// threaded trainer can run its passes over disjoint rows in parallel
    /// and get the same bits: pass 1 scales each weight row by 1/count and
    /// sums its squares (rows added in order, then the biases'
    /// [`kernel::scale_sum_sq`], layer after layer); pass 2 turns every
    /// gradient into its update direction and checks that it and the new
    /// weight are finite; only if all are, pass 3 commits.
    pub fn update_rule(&self, sq: f32) -> Result<kernel::Update, Error> {
        if !sq.is_finite() {
            return Err(Error::NonFinite("gradient"));
        }
        Ok(kernel::Update {
            scale: clip_scale(self.cfg.clip_norm, sq),
            decay: self.cfg.weight_decay,
            momentum: self.cfg.momentum,
            lr: self.lr,
        })
    }

    /// Per-sample SGD with no gradient memory: forward, backward and update in
    /// one go (`w −= lr·δ⊗x` layer by layer), for the smallest devices.
    /// Honours clipping (the per-sample gradient's exact global norm is
    /// ‖δ‖²(‖x‖² + 1) summed over layers) and weight decay (applied as
    /// `w ← w·(1 − lr·wd)`); momentum needs [`Sgd::step`] and is refused here.
    /// Rejected samples leave the model unchanged.
    pub fn fit_sample<N, L, const I: usize, const O: usize>(
        &self,
        net: &mut N,
        scratch: &mut N::Scratch,
        x: &[f32; I],
        target: &Target<O>,
        loss: &L,
    ) -> Result<f32, Error>
    where
        N: Network<I, O>,
        L: Loss<O>,
    {
        if self.cfg.momentum != 0.0 {
            return Err(Error::InvalidParam(
                "momentum needs Sgd::step with a Velocity buffer",
            ));
        }
        check_sample(x, target)?;
        let l = forward_backward_unchecked(net, scratch, x, target, loss)?;
        // ‖g‖² below is NaN or ∞ whenever a delta is not finite: it doubles as
        // the deltas' check, so they are not scanned twice.
        let mut sq = 0.0f32;
        for k in 0..N::LAYERS {
            if let Some((input, delta)) = N::layer_io(x, scratch, k) {
                sq += kernel::sum_sq(delta) * (kernel::sum_sq(input) + 1.0);
            }
        }
        let scale = clip_scale(self.cfg.clip_norm, sq);
        // Every element of the update is at most lr·scale·‖g‖ in size; refuse
        // one beyond 1e30, compared in squares so that no root is needed.
        if !sq.is_finite() {
            return Err(Error::NonFinite("gradient"));
        }
        let limit = 1e30 / (self.lr * scale);
        if sq > limit * limit {
            return Err(Error::NonFinite("update"));
        }
        if self.cfg.weight_decay != 0.0 {
            let keep = 1.0 - self.lr * self.cfg.weight_decay;
            for k in 0..N::LAYERS {
                if let Some(p) = net.layer_mut(k) {
                    for w in p.w.iter_mut().chain(p.b.iter_mut()) {
                        *w *= keep;
                    }
                }
            }
        }
        net.apply(x, scratch, self.lr * scale);
        Ok(l)
    }
}

/// Loss and accuracy over a pass through some samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EpochStats {
    /// Samples seen.
    pub samples: u32,
    /// Sum of per-sample losses.
    pub loss_sum: f32,
    /// Samples whose predicted class was right (see [`Loss::correct`]).
    pub correct: u32,
}

impl EpochStats {
    /// Mean loss per sample (0 when empty).
    pub fn loss(&self) -> f32 {
        if self.samples == 0 {
            0.0
        } else {
            self.loss_sum / self.samples as f32
        }
    }

    /// Fraction of samples classified right (0 when empty).
    pub fn accuracy(&self) -> f32 {
        if self.samples == 0 {
            0.0
        } else {
            self.correct as f32 / self.samples as f32
        }
    }

    /// Counts one more sample, with its loss and whether it was classified
    /// right (the loss added to the sum in the order the samples come).
    pub fn add(&mut self, loss: f32, correct: bool) {
        self.samples += 1;
        self.loss_sum += loss;
        self.correct += u32::from(correct);
    }
}

/// Samples addressed by index, e.g. in RAM on a host or in flash on a device.
pub trait Dataset<const I: usize, const O: usize> {
    /// Number of samples.
    fn len(&self) -> usize;

    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `index`: its input (either a reference into the data set, or
    /// `buf` after decoding into it) and its target.
    fn sample<'a>(
        &'a mut self,
        index: usize,
        buf: &'a mut [f32; I],
    ) -> Result<(&'a [f32; I], Target<O>), Error>;
}

/// Samples that arrive one at a time (a sensor, a serial link) and are not kept.
pub trait Stream<const I: usize, const O: usize> {
    /// Writes the next input into `x` and returns its target; `None` when the
    /// stream has ended.
    fn next_sample(&mut self, x: &mut [f32; I]) -> Option<Result<Target<O>, Error>>;
}

/// Targets of an in-memory data set.
#[derive(Clone, Copy, Debug)]
enum Labels<'d, const O: usize> {
    Values(&'d [[f32; O]]),
    Classes(&'d [u16]),
}

/// An in-memory data set: borrowed slices of inputs and targets.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'d, const I: usize, const O: usize> {
    inputs: &'d [[f32; I]],
    labels: Labels<'d, O>,
}

impl<'d, const I: usize, const O: usize> Samples<'d, I, O> {
    /// Inputs with target vectors; the lengths must agree.
    pub fn new(inputs: &'d [[f32; I]], targets: &'d [[f32; O]]) -> Result<Self, Error> {
        if inputs.len() != targets.len() {
            return Err(Error::WrongLength {
                expected: inputs.len(),
                found: targets.len(),
            });
        }
        Ok(Samples {
            inputs,
            labels: Labels::Values(targets),
        })
    }

    /// Inputs with class indices; the lengths must agree.
    pub fn classes(inputs: &'d [[f32; I]], classes: &'d [u16]) -> Result<Self, Error> {
        if inputs.len() != classes.len() {
            return Err(Error::WrongLength {
                expected: inputs.len(),
                found: classes.len(),
            });
        }
        Ok(Samples {
            inputs,
            labels: Labels::Classes(classes),
        })
    }
}

impl<const I: usize, const O: usize> Dataset<I, O> for Samples<'_, I, O> {
    fn len(&self) -> usize {
        self.inputs.len()
    }

    fn sample<'a>(
        &'a mut self,
        index: usize,
        _: &'a mut [f32; I],
    ) -> Result<(&'a [f32; I], Target<O>), Error> {
        let out_of_range = Error::WrongLength {
            expected: index + 1,
            found: self.inputs.len(),
        };
        let x = self.inputs.get(index).ok_or(out_of_range)?;
        let t = match self.labels {
            Labels::Values(t) => Target::Values(*t.get(index).ok_or(out_of_range)?),
            Labels::Classes(c) => Target::Class(usize::from(*c.get(index).ok_or(out_of_range)?)),
        };
        Ok((x, t))
    }
}

/// An index type for the caller-owned shuffle buffer (`u16` saves RAM on a
/// device; `u32`/`usize` for large data sets).
pub trait SampleIndex: Copy {
    /// `i` as this type, or `None` if it does not fit.
    fn from_usize(i: usize) -> Option<Self>;
    /// This index as `usize`.
    fn to_usize(self) -> usize;
}

impl SampleIndex for u16 {
    fn from_usize(i: usize) -> Option<Self> {
        u16::try_from(i).ok()
    }
    fn to_usize(self) -> usize {
        usize::from(self)
    }
}

impl SampleIndex for u32 {
    fn from_usize(i: usize) -> Option<Self> {
        u32::try_from(i).ok()
    }
    fn to_usize(self) -> usize {
        self as usize
    }
}

impl SampleIndex for usize {
    fn from_usize(i: usize) -> Option<Self> {
        Some(i)
    }
    fn to_usize(self) -> usize {
        self
    }
}

/// Loss and accuracy of `net` over a whole data set (no training).
pub fn evaluate<N, L, D, const I: usize, const O: usize>(
    net: &N,
    scratch: &mut N::Scratch,
    data: &mut D,
    loss: &L,
) -> Result<EpochStats, Error>
where
    N: Network<I, O>,
    L: Loss<O>,
    D: Dataset<I, O>,
{
    let mut stats = EpochStats::default();
    let mut buf = [0.0f32; I];
    for i in 0..data.len() {
        let (x, t) = data.sample(i, &mut buf)?;
        if !kernel::all_finite(x) {
            return Err(Error::NonFinite("input"));
        }
        let out = net.forward(x, scratch);
        let l = loss.loss(out, &t)?;
        stats.add(l, loss.correct(out, &t));
    }
    Ok(stats)
}

/// Gradient memory of a [`Trainer`]: none (per-sample updates) or a store for
/// mini-batches, with or without momentum.
#[derive(Debug)]
enum Memory<'a, N> {
    PerSample,
    Batch(&'a mut Gradients<N>, Option<&'a mut Velocity<N>>),
}

/// A training loop over caller-owned storage: the model, its scratch and (for
/// mini-batches) the gradients. Nothing is allocated; everything can live in
/// `static`s on a device.
#[derive(Debug)]
pub struct Trainer<'a, N: Model, L> {
    net: &'a mut N,
    scratch: &'a mut N::Scratch,
    memory: Memory<'a, N>,
    loss: L,
    sgd: Sgd,
    epoch: u32,
}

impl<'a, N: Model, L> Trainer<'a, N, L> {
    /// Mini-batch training: gradients are summed in `grads` and applied as
    /// their mean once per batch. Fails if `sgd` has momentum (use
    /// [`Trainer::with_momentum`]).
    pub fn new(
        net: &'a mut N,
        scratch: &'a mut N::Scratch,
        grads: &'a mut Gradients<N>,
        loss: L,
        sgd: Sgd,
    ) -> Result<Self, Error> {
        if sgd.config().momentum != 0.0 {
            return Err(Error::InvalidParam(
                "momentum needs a Velocity buffer: use Trainer::with_momentum",
            ));
        }
        grads.clear();
        Ok(Self::build(
            net,
            scratch,
            Memory::Batch(grads, None),
            loss,
            sgd,
        ))
    }

    /// Mini-batch training with momentum kept in `velocity`.
    pub fn with_momentum(
        net: &'a mut N,
        scratch: &'a mut N::Scratch,
        grads: &'a mut Gradients<N>,
        velocity: &'a mut Velocity<N>,
        loss: L,
        sgd: Sgd,
    ) -> Self {
        grads.clear();
        Self::build(
            net,
            scratch,
            Memory::Batch(grads, Some(velocity)),
            loss,
            sgd,
        )
    }

    /// Per-sample updates with no gradient memory ([`Sgd::fit_sample`]).
    /// Fails if `sgd` has momentum.
    pub fn per_sample(
        net: &'a mut N,
        scratch: &'a mut N::Scratch,
        loss: L,
        sgd: Sgd,
    ) -> Result<Self, Error> {
        if sgd.config().momentum != 0.0 {
            return Err(Error::InvalidParam(
                "momentum needs mini-batch training with a Velocity buffer",
            ));
        }
        Ok(Self::build(net, scratch, Memory::PerSample, loss, sgd))
    }

    fn build(
        net: &'a mut N,
        scratch: &'a mut N::Scratch,
        memory: Memory<'a, N>,
        loss: L,
        sgd: Sgd,
    ) -> Self {
        Trainer {
            net,
            scratch,
            memory,
            loss,
            sgd,
            epoch: 0,
        }
    }

    /// The model being trained.
    pub fn net(&self) -> &N {
        self.net
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> u32 {
        self.epoch
    }

    /// The optimizer (its learning rate follows the schedule).
    pub fn sgd(&self) -> &Sgd {
        &self.sgd
    }

    /// Trains on one sample, or adds it to the current mini-batch; applies the
    /// batch when it holds `batch` samples. Returns the sample's loss.
    pub fn sample<const I: usize, const O: usize>(
        &mut self,
        x: &[f32; I],
        t: &Target<O>,
        batch: usize,
    ) -> Result<f32, Error>
    where
        N: Network<I, O>,
        L: Loss<O>,
    {
        match &mut self.memory {
            Memory::PerSample => self
                .sgd
                .fit_sample(self.net, self.scratch, x, t, &self.loss),
            Memory::Batch(grads, velocity) => {
                let res = grads.accumulate(self.net, self.scratch, x, t, &self.loss);
                if res.is_err() {
                    grads.clear();
                    return res;
                }
                if grads.count as usize >= batch {
                    self.sgd.step(self.net, grads, velocity.as_deref_mut())?;
                }
                res
            }
        }
    }

    /// One epoch: a fresh random permutation of the samples (written into the
    /// caller's `order` buffer, at least `data.len()` long), cut into
    /// ⌊n / batch⌋ full batches; the remainder is left out, as a fixed-batch
    /// kernel does. Returns loss and accuracy over the samples trained on,
    /// each measured before its batch's update.
    ///
    /// On an error the batch in progress is dropped; earlier batches stay applied.
    pub fn epoch<D, T, R, const I: usize, const O: usize>(
        &mut self,
        data: &mut D,
        order: &mut [T],
        batch: usize,
        rng: &mut R,
    ) -> Result<EpochStats, Error>
    where
        N: Network<I, O>,
        L: Loss<O>,
        D: Dataset<I, O>,
        T: SampleIndex,
        R: RngCore + ?Sized,
    {
        let n = data.len();
        self.check_batch(n, batch)?;
        let found = order.len();
        let order = order
            .get_mut(..n)
            .ok_or(Error::WrongLength { expected: n, found })?;
        for (i, slot) in order.iter_mut().enumerate() {
            *slot = T::from_usize(i)
                .ok_or(Error::InvalidParam("index type too small for the data set"))?;
        }
        shuffle(order, rng);
        let used = n / batch * batch;
        let mut stats = EpochStats::default();
        let mut buf = [0.0f32; I];
        self.sgd.set_epoch(self.epoch);
        for &i in &order[..used] {
            self.train_index(data, i.to_usize(), batch, &mut buf, &mut stats)?;
        }
        self.epoch += 1;
        Ok(stats)
    }

    /// One epoch over the samples in their stored order (no shuffle), in
    /// ⌊n / batch⌋ full batches.
    pub fn epoch_in_order<D, const I: usize, const O: usize>(
        &mut self,
        data: &mut D,
        batch: usize,
    ) -> Result<EpochStats, Error>
    where
        N: Network<I, O>,
        L: Loss<O>,
        D: Dataset<I, O>,
    {
        let n = data.len();
        self.check_batch(n, batch)?;
        let mut stats = EpochStats::default();
        let mut buf = [0.0f32; I];
        self.sgd.set_epoch(self.epoch);
        for i in 0..n / batch * batch {
            self.train_index(data, i, batch, &mut buf, &mut stats)?;
        }
        self.epoch += 1;
        Ok(stats)
    }

    /// Trains on up to `limit` samples from a stream, applying a step every
    /// `batch` samples (a last partial batch is applied too). Counts as one epoch.
    pub fn stream<S, const I: usize, const O: usize>(
        &mut self,
        stream: &mut S,
        batch: usize,
        limit: usize,
    ) -> Result<EpochStats, Error>
    where
        N: Network<I, O>,
        L: Loss<O>,
        S: Stream<I, O>,
    {
        self.check_batch(usize::MAX, batch)?;
        let mut stats = EpochStats::default();
        let mut x = [0.0f32; I];
        self.sgd.set_epoch(self.epoch);
        while (stats.samples as usize) < limit {
            let Some(t) = stream.next_sample(&mut x) else {
                break;
            };
            let t = t?;
            let l = self.sample(&x, &t, batch)?;
            stats.add(l, self.loss.correct(N::output(self.scratch), &t));
        }
        if let Memory::Batch(grads, velocity) = &mut self.memory {
            if grads.count > 0 {
                self.sgd.step(self.net, grads, velocity.as_deref_mut())?;
            }
        }
        self.epoch += 1;
        Ok(stats)
    }

    fn check_batch(&self, n: usize, batch: usize) -> Result<(), Error> {
        if n == 0 {
            return Err(Error::Empty);
        }
        match self.memory {
            Memory::PerSample if batch != 1 => {
                Err(Error::InvalidParam("per-sample training needs batch = 1"))
            }
            _ if batch == 0 => Err(Error::InvalidParam("batch must be >= 1")),
            _ if batch > n => Err(Error::InvalidParam("batch larger than the data set")),
            _ => Ok(()),
        }
    }

    fn train_index<D, const I: usize, const O: usize>(
        &mut self,
        data: &mut D,
        index: usize,
        batch: usize,
        buf: &mut [f32; I],
        stats: &mut EpochStats,
    ) -> Result<(), Error>
    where
        N: Network<I, O>,
        L: Loss<O>,
        D: Dataset<I, O>,
    {
        let (x, t) = match data.sample(index, buf) {
            Ok(s) => s,
            Err(e) => {
                if let Memory::Batch(g, _) = &mut self.memory {
                    g.clear();
                }
                return Err(e);
            }
        };
        let l = self.sample(x, &t, batch)?;
        // The output of this sample's forward pass is still in the scratch,
        // unless a per-sample update changed the weights since: then it is the
        // pre-update prediction, which is what the loss measured too.
        stats.add(l, self.loss.correct(N::output(self.scratch), &t));
        Ok(())
    }
}
