//! Data-parallel mini-batch training whose result does not depend on the
//! number of threads.
//!
//! The core's single-threaded path sums every gradient element over the
//! batch's samples in sample order, starting from zero
//! (`g = ((0 + δ₀x₀) + δ₁x₁) + …`). Splitting the *samples* among threads and
//! adding partial sums would round differently for every thread count, so a
//! step runs in two phases instead:
//!
//! 1. **Samples** (parallel over samples): the batch is cut into fixed
//!    chunks of samples; whichever thread claims a chunk runs
//!    [`tinytrain::forward_backward`] on its samples, each sample in its own
//!    scratch buffer, which is kept for phase 2.
//! 2. **Rows** (parallel over weight rows): the output rows of all layers are
//!    cut into fixed ranges of about equal work; whichever thread claims a
//!    range sums `δₛ[o]·inputₛ` for its rows over all samples `s = 0, 1, …`
//!    in order, from zero, exactly as the core does.
//!
//! Every gradient element is thus the same sum in the same order for any
//! thread count and identical to [`tinytrain::Gradients::accumulate`]; the
//! update itself is the core's [`Sgd::step`]. Losses and accuracies are
//! summed per sample in sample order, as [`tinytrain::Trainer`] does.
//!
//! Workers are spawned once per [`ParallelTrainer::train`] call and wait
//! between phases on a spinning signal; chunks are claimed dynamically, so a
//! descheduled worker does not stall a phase it has not joined (see `sync`).

use std::ops::ControlFlow;
use std::sync::{Mutex, PoisonError, RwLock};
use std::thread;

use tinytrain::rng::shuffle;
use tinytrain::{
    forward_backward, Dataset, EpochStats, Error, Gradients, Loss, Model, Network, Rng, Sgd,
    Target, Velocity,
};

use crate::sync::{FailOnUnwind, Job, Signal};

/// An in-memory training set with targets ready for one network's loss.
#[derive(Clone, Debug, Default)]
pub struct TrainSet<const I: usize, const O: usize> {
    /// Inputs.
    pub x: Vec<[f32; I]>,
    /// Targets, one per input.
    pub t: Vec<Target<O>>,
}

impl<const I: usize, const O: usize> TrainSet<I, O> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

impl<const I: usize, const O: usize> Dataset<I, O> for TrainSet<I, O> {
    fn len(&self) -> usize {
        self.x.len()
    }

    fn sample<'a>(
        &'a mut self,
        index: usize,
        _: &'a mut [f32; I],
    ) -> Result<(&'a [f32; I], Target<O>), Error> {
        match (self.x.get(index), self.t.get(index)) {
            (Some(x), Some(t)) => Ok((x, *t)),
            _ => Err(Error::WrongLength {
                expected: index + 1,
                found: self.x.len().min(self.t.len()),
            }),
        }
    }
}

/// How an epoch walks the training set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// A fresh permutation per epoch, drawn exactly like
    /// [`tinytrain::Trainer::epoch`] draws it.
    Shuffled,
    /// Stored order, like [`tinytrain::Trainer::epoch_in_order`].
    InOrder,
}

/// A contiguous run of output rows of one layer, owned by one worker in phase 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RowRange {
    layer: usize,
    rows: (usize, usize),
    inputs: usize,
}

/// Splits all rows of all layers into `workers` contiguous chunks of nearly
/// equal work (a row costs `inputs + 1` multiply-adds per sample). Any
/// partition gives the same bits; this one balances the load.
fn partition_rows<N: Model>(net: &N, workers: usize) -> Vec<Vec<RowRange>> {
    let shape: Vec<(usize, usize)> = (0..N::LAYERS)
        .filter_map(|l| net.layer(l).map(|v| (v.inputs, v.outputs)))
        .collect();
    let total: usize = shape.iter().map(|&(i, o)| (i + 1) * o).sum();
    let mut plan = vec![Vec::new(); workers];
    let mut done = 0usize;
    let mut worker = 0usize;
    for (layer, &(inputs, outputs)) in shape.iter().enumerate() {
        let mut start = 0;
        for o in 0..outputs {
            done += inputs + 1;
            // Close this worker's share once it reaches its cumulative quota.
            let quota = total * (worker + 1) / workers;
            if done >= quota && worker + 1 < workers {
                plan[worker].push(RowRange {
                    layer,
                    rows: (start, o + 1),
                    inputs,
                });
                start = o + 1;
                worker += 1;
            }
        }
        if start < outputs {
            plan[worker].push(RowRange {
                layer,
                rows: (start, outputs),
                inputs,
            });
        }
    }
    plan
}

/// Share `w` of `n` items split among `workers`: the half-open range.
fn share(n: usize, workers: usize, w: usize) -> (usize, usize) {
    (n * w / workers, n * (w + 1) / workers)
}

/// Rows per block in phase 2, so that a block of gradient rows stays in L1.
fn block_rows(inputs: usize) -> usize {
    (4096 / (inputs + 1)).max(1)
}

/// `gw[r][i] = Σₛ δₛ[r0 + r]·inputₛ[i]`, `gb[r] = Σₛ δₛ[r0 + r]`, summed over
/// `s = 0..batch` in order from zero with the core's `kernel::outer_acc`,
/// sample after sample: per element the same operations as
/// `Gradients::accumulate`, only blocked by rows to stay in L1.
fn rows_gradient<'a, F>(gw: &mut [f32], gb: &mut [f32], range: RowRange, batch: usize, io: F)
where
    F: Fn(usize) -> (&'a [f32], &'a [f32]),
{
    let n = range.inputs;
    let (r0, _) = range.rows;
    let per_block = block_rows(n);
    gw.fill(0.0);
    gb.fill(0.0);
    for (bi, (wblock, bblock)) in gw
        .chunks_mut(per_block * n)
        .zip(gb.chunks_mut(per_block))
        .enumerate()
    {
        let first = r0 + bi * per_block;
        for s in 0..batch {
            let (input, delta) = io(s);
            // The core's own kernel, on this block of rows.
            let deltas = &delta[first..first + bblock.len()];
            tinytrain::kernel::outer_acc(wblock, bblock, deltas, input);
        }
    }
}

/// Phase-1 storage of one chunk of the batch: a scratch per sample and the
/// samples' results.
struct Slot<S> {
    /// First sample of the chunk (index within the batch).
    first: usize,
    scratch: Vec<S>,
    results: Vec<Result<(f32, bool), Error>>,
}

/// What the leader and the workers share during [`ParallelTrainer::train`].
struct Shared<'a, N: Model, L, const I: usize, const O: usize> {
    net: RwLock<&'a mut N>,
    loss: &'a L,
    data: &'a TrainSet<I, O>,
    /// This epoch's sample order and the current batch's start in it.
    order: RwLock<Vec<u32>>,
    start: Mutex<usize>,
    batch: usize,
    /// Phase 1 chunks (contiguous samples of the batch).
    slots: Vec<RwLock<Slot<N::Scratch>>>,
    /// Where sample s of the batch lives: chunk and index within it.
    locate: Vec<(usize, usize)>,
    /// Phase 2 chunks: row ranges, and their output (per range, weights then biases).
    plan: Vec<Vec<RowRange>>,
    rows: Vec<Mutex<Vec<f32>>>,
    signal: Signal,
}

impl<N, L, const I: usize, const O: usize> Shared<'_, N, L, I, O>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    fn current_batch(&self) -> (usize, std::sync::RwLockReadGuard<'_, Vec<u32>>) {
        let start = *self.start.lock().unwrap_or_else(PoisonError::into_inner);
        (
            start,
            self.order.read().unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn chunks(&self, job: Job) -> usize {
        match job {
            Job::Samples => self.slots.len(),
            Job::Rows => self.plan.len(),
            Job::Exit => 0,
        }
    }

    /// Phase 1, chunk `c`: forward and backward for its samples.
    fn samples(&self, c: usize) {
        let (start, order) = self.current_batch();
        let net = self.net.read().unwrap_or_else(PoisonError::into_inner);
        let mut slot = self.slots[c]
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = &mut *slot;
        slot.results.clear();
        for (k, scratch) in slot.scratch.iter_mut().enumerate() {
            let idx = order[start + slot.first + k] as usize;
            let (x, t) = (&self.data.x[idx], &self.data.t[idx]);
            let r = forward_backward(&**net, scratch, x, t, self.loss)
                .map(|l| (l, self.loss.correct(N::output(scratch), t)));
            slot.results.push(r);
        }
    }

    /// Phase 2, chunk `c`: its gradient rows into its buffer.
    fn rows(&self, c: usize) {
        let (start, order) = self.current_batch();
        let slots: Vec<_> = self
            .slots
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner))
            .collect();
        let mut buf = self.rows[c].lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = &mut buf[..];
        for &range in &self.plan[c] {
            let (a, b) = range.rows;
            let (gw, tail) = std::mem::take(&mut rest).split_at_mut((b - a) * range.inputs);
            let (gb, tail) = tail.split_at_mut(b - a);
            rest = tail;
            rows_gradient(gw, gb, range, self.batch, |s| {
                let (v, k) = self.locate[s];
                let x = &self.data.x[order[start + s] as usize];
                N::layer_io(x, &slots[v].scratch[k], range.layer).unwrap_or((&[], &[]))
            });
        }
    }

    /// Claims and runs chunks of generation `g` until none are left.
    fn work(&self, g: u64, job: Job) {
        let total = self.chunks(job);
        while let Some(c) = self.signal.claim(g, total) {
            match job {
                Job::Samples => self.samples(c),
                Job::Rows => self.rows(c),
                Job::Exit => {}
            }
            self.signal.finish();
        }
    }

    /// A worker thread's loop.
    fn worker(&self) {
        let _guard = FailOnUnwind(&self.signal);
        let mut seen = 0;
        loop {
            let (g, job) = self.signal.wait_job(seen);
            seen = g;
            if job == Job::Exit {
                return;
            }
            self.work(g, job);
        }
    }

    /// Leader: runs one phase with the workers and waits for it.
    fn phase(&self, job: Job) -> Result<(), Error> {
        let g = self.signal.publish(job);
        self.work(g, job);
        if self.signal.wait_done(self.chunks(job)) {
            Ok(())
        } else {
            Err(Error::InvalidParam("a training thread failed"))
        }
    }
}

/// Mini-batch SGD over a thread team; same bits as [`tinytrain::Trainer`].
#[derive(Debug)]
pub struct ParallelTrainer<N: Model, L> {
    net: Box<N>,
    grads: Box<Gradients<N>>,
    velocity: Option<Box<Velocity<N>>>,
    loss: L,
    sgd: Sgd,
    epoch: u32,
    threads: usize,
}

/// What an epoch callback sees.
#[derive(Clone, Copy, Debug)]
pub struct EpochEnd<'a, N> {
    /// Epochs completed by this trainer so far (1 after the first).
    pub epoch: u32,
    /// Loss and accuracy over the epoch's samples, each measured before its
    /// batch's update.
    pub stats: EpochStats,
    /// The model after the epoch.
    pub net: &'a N,
}

impl<N, L> ParallelTrainer<N, L>
where
    N: Model,
{
    /// A trainer for `net` with `threads` threads (≥ 1). A momentum buffer
    /// is kept when the optimizer has momentum.
    pub fn new(net: Box<N>, loss: L, sgd: Sgd, threads: usize) -> Result<Self, Error> {
        if threads == 0 {
            return Err(Error::InvalidParam("threads must be >= 1"));
        }
        Ok(ParallelTrainer {
            net,
            grads: Box::new(Gradients::ZERO),
            velocity: (sgd.config().momentum != 0.0).then(|| Box::new(Velocity::ZERO)),
            loss,
            sgd,
            epoch: 0,
            threads,
        })
    }

    /// The model.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// The model, by value.
    pub fn into_net(self) -> Box<N> {
        self.net
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> u32 {
        self.epoch
    }

    /// Number of threads used.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Trains `epochs` epochs in ⌊n / batch⌋ full batches each (the
    /// remainder is dropped, as the core does). With [`Order::Shuffled`] each
    /// epoch draws its permutation from `rng` exactly like
    /// [`tinytrain::Trainer::epoch`]. `on_batch(samples)` is called after
    /// every step; `on_epoch` after every epoch and may stop the run.
    ///
    /// On an error the batch in progress is dropped and the error returned;
    /// earlier batches stay applied (as in the core).
    #[allow(clippy::too_many_arguments)]
    pub fn train<const I: usize, const O: usize>(
        &mut self,
        data: &TrainSet<I, O>,
        batch: usize,
        epochs: u32,
        order: Order,
        rng: &mut Rng,
        mut on_batch: impl FnMut(usize),
        mut on_epoch: impl FnMut(EpochEnd<'_, N>) -> ControlFlow<()>,
    ) -> Result<(), Error>
    where
        N: Network<I, O> + Send + Sync,
        N::Scratch: Send + Sync,
        L: Loss<O> + Sync,
    {
        let n = data.len();
        if n == 0 || data.t.len() != n {
            return Err(if n == 0 {
                Error::Empty
            } else {
                Error::WrongLength {
                    expected: n,
                    found: data.t.len(),
                }
            });
        }
        if batch == 0 {
            return Err(Error::InvalidParam("batch must be >= 1"));
        }
        if batch > n {
            return Err(Error::InvalidParam("batch larger than the data set"));
        }
        if u32::try_from(n).is_err() {
            return Err(Error::InvalidParam("data set too large"));
        }
        let workers = self.threads.min(batch).max(1);
        // Several chunks per thread, so a thread that is late (descheduled)
        // leaves little for the others to wait on.
        let per_thread = if workers == 1 { 1 } else { 4 };
        let sample_chunks = (workers * per_thread).min(batch);
        let plan = partition_rows(&*self.net, workers * per_thread);
        let slots: Vec<_> = (0..sample_chunks)
            .map(|c| {
                let (a, b) = share(batch, sample_chunks, c);
                RwLock::new(Slot {
                    first: a,
                    scratch: (0..b - a).map(|_| N::SCRATCH).collect(),
                    results: Vec::with_capacity(b - a),
                })
            })
            .collect();
        let locate = (0..sample_chunks)
            .flat_map(|c| {
                let (a, b) = share(batch, sample_chunks, c);
                (0..b - a).map(move |k| (c, k))
            })
            .collect();
        let shared = Shared {
            slots,
            locate,
            rows: plan
                .iter()
                .map(|p| {
                    let len = p
                        .iter()
                        .map(|r| (r.rows.1 - r.rows.0) * (r.inputs + 1))
                        .sum();
                    Mutex::new(vec![0.0; len])
                })
                .collect(),
            plan,
            net: RwLock::new(&mut *self.net),
            loss: &self.loss,
            data,
            order: RwLock::new((0..n as u32).collect()),
            start: Mutex::new(0),
            batch,
            signal: Signal::default(),
        };
        let grads = &mut *self.grads;
        let mut velocity = self.velocity.as_deref_mut();
        let sgd = &mut self.sgd;
        let epoch = &mut self.epoch;
        thread::scope(|scope| {
            for _ in 1..workers {
                let shared = &shared;
                scope.spawn(move || shared.worker());
            }
            let result = (|| {
                for _ in 0..epochs {
                    {
                        let mut ord = shared.order.write().unwrap_or_else(PoisonError::into_inner);
                        for (i, slot) in ord.iter_mut().enumerate() {
                            *slot = i as u32;
                        }
                        if order == Order::Shuffled {
                            shuffle(&mut ord[..], rng);
                        }
                    }
                    sgd.set_epoch(*epoch);
                    let mut stats = EpochStats::default();
                    for b in 0..n / batch {
                        *shared.start.lock().unwrap_or_else(PoisonError::into_inner) = b * batch;
                        step(&shared, grads, velocity.as_deref_mut(), sgd, &mut stats)?;
                        on_batch(batch);
                    }
                    *epoch += 1;
                    let net = shared.net.read().unwrap_or_else(PoisonError::into_inner);
                    let end = EpochEnd {
                        epoch: *epoch,
                        stats,
                        net: &**net,
                    };
                    if on_epoch(end).is_break() {
                        break;
                    }
                }
                Ok(())
            })();
            shared.signal.publish(Job::Exit);
            result
        })
    }
}

/// One mini-batch step: both phases, then the core's optimizer step.
fn step<N, L, const I: usize, const O: usize>(
    shared: &Shared<'_, N, L, I, O>,
    grads: &mut Gradients<N>,
    velocity: Option<&mut Velocity<N>>,
    sgd: &Sgd,
    stats: &mut EpochStats,
) -> Result<(), Error>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    shared.phase(Job::Samples)?;
    // Per-sample results in sample order: the first error wins, as in the core.
    let mut batch_stats = *stats;
    for slot in &shared.slots {
        let slot = slot.read().unwrap_or_else(PoisonError::into_inner);
        for r in &slot.results {
            let (l, correct) = (*r)?;
            batch_stats.samples += 1;
            batch_stats.loss_sum += l;
            batch_stats.correct += u32::from(correct);
        }
    }
    shared.phase(Job::Rows)?;
    for (plan, buf) in shared.plan.iter().zip(&shared.rows) {
        let buf = buf.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = &buf[..];
        for r in plan {
            let (a, b) = r.rows;
            let (gw, tail) = rest.split_at((b - a) * r.inputs);
            let (gb, tail) = tail.split_at(b - a);
            rest = tail;
            if let Some(layer) = grads.sum.layer_mut(r.layer) {
                layer.w[a * r.inputs..b * r.inputs].copy_from_slice(gw);
                layer.b[a..b].copy_from_slice(gb);
            }
        }
    }
    grads.count = shared.batch as u32;
    {
        let mut net = shared.net.write().unwrap_or_else(PoisonError::into_inner);
        sgd.step(&mut **net, grads, velocity)?;
    }
    *stats = batch_stats;
    Ok(())
}
