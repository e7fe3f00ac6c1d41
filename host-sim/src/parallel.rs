//! Data-parallel mini-batch training whose result does not depend on the
//! number of threads.
//!
//! The core's single-threaded path sums every gradient element over the
//! batch's samples in sample order, starting from zero
//! (`g = ((0 + δ₀x₀) + δ₁x₁) + …`). Splitting the *samples* among threads and
//! adding partial sums would round differently for every thread count, so a
//! step runs in two parts instead:
//!
//! 1. **Samples** (parallel over samples): the batch is cut into fixed
//!    chunks of samples; whichever thread claims a chunk runs
//!    [`tinytrain::forward_backward_batch`] on its samples, eight or four at
//!    a time (each weight loaded once for the group), each sample in its own
//!    scratch buffer, which is kept for part 2, and stamps the chunk written.
//! 2. **Rows** (parallel over weight rows): the output rows of all layers are
//!    cut into fixed chunks of about equal work; whichever thread claims a
//!    chunk sums `δₛ[o]·inputₛ` for its rows over all samples `s = 0, 1, …`
//!    in order, from zero, exactly as the core does, then runs pass 1 of the
//!    core's step on each row (scale by 1/count, Σ g² of the row:
//!    [`tinytrain::kernel::scale_sum_sq`]) and, when the update rule is
//!    already known, passes 2 and 3 ([`tinytrain::kernel::Update`]): the
//!    direction, and the new weights written into a second buffer.
//!
//! Both parts are one phase: a thread that finds no samples chunk left to
//! claim goes straight on to rows chunks once every samples chunk is stamped
//! written, without waiting for the leader in between. The leader then adds
//! the rows' Σ g² in row order and the biases' (which it handles itself)
//! layer after layer, exactly as [`Sgd::step`] does, and asks the core for
//! the rule ([`Sgd::update_rule`]). Without clipping the rule does not
//! depend on the norm, so the rows part already used it; with clipping a
//! second phase (**update**) computes the directions once the rule is known
//! (skipped while the previous step was not clipped: the rows part then
//! tries the unclipped rule, and the leader checks that it was the right
//! one). Only if the norm, every direction and every new weight are
//! finite does the step commit, by switching each chunk to its new buffer:
//! on an error the weights and the momentum stay exactly as they were.
//!
//! Every gradient element is thus the same sum in the same order, and every
//! update the same element-wise operation, for any thread count and as in
//! [`Sgd::step`]. Losses and accuracies are summed per sample in sample
//! order, as [`tinytrain::Trainer`] does.
//!
//! Each thread runs the forward passes on its own copy of the network,
//! brought up to date from the chunks it did not write itself: as far as it
//! can while it would otherwise wait at the end of a phase (a worker once
//! its chunks are done, the leader while it waits for the others'), the rest
//! at its first samples chunk of the next step. [`ParallelTrainer::net`] is
//! written back after every epoch.
//! Workers are spawned once per [`ParallelTrainer::train`] call and wait
//! between phases on a spinning signal; chunks are claimed dynamically, so a
//! descheduled worker does not stall a phase it has not joined (see `sync`).
//! A step with little work runs on fewer threads ([`ParallelTrainer::threads_for`])
//! and is cut into fewer chunks ([`chunk_plan`]); one too small to share at
//! all (W1: 4 samples × 33 parameters) runs the core's own path
//! ([`tinytrain::Gradients::accumulate_batch`] four samples at a time, then
//! [`Sgd::step`]), whose bits these are. Steps that the threads would make
//! slower (cores that hand each other data slowly) run on the leader alone,
//! in the same chunks: see [`Pacing`].

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::thread;
use std::time::{Duration, Instant};

use tinytrain::kernel::{outer_sum, scale_sum_sq, Update, SKIP_ZERO_ROWS_FROM};
use tinytrain::rng::shuffle;
use tinytrain::{
    forward_backward, forward_backward_batch, Dataset, EpochStats, Error, Loss, Model, Network,
    Rng, Sgd, Target, Velocity,
};
use wide::f32x8;

use crate::pace::{Pacer, Pacing};
use crate::sync::{
    system_threads, ExitOnDrop, FailOnUnwind, Job, Line, Signal, Spawner, MAX_CHUNKS, NO_THREAD,
    PARTS,
};

/// A step gets at most one thread per this many (samples × parameters):
/// below it a hand-off between threads costs more than the work it shares.
pub const MIN_WORK_PER_THREAD: usize = 16_384;

/// Most threads a [`ParallelTrainer`] accepts: beyond what a step can
/// share (at most one thread per sample: [`threads_for`]) and beyond the
/// cores of any workstation, yet few enough for any system to start.
pub const MAX_THREADS: usize = 1024;

/// The error for a thread count the trainer does not accept.
pub const THREADS_RANGE: &str = "threads must be between 1 and 1024";

/// Input rows of `I` floats in one buffer that starts on a 32-byte
/// boundary (it is made of 256-bit vectors), so when `I` is a multiple of 8
/// (W2's 64, W3's 784) every row does: the kernels' 256-bit loads of a row
/// then never straddle two cache lines. Dereferences to `[[f32; I]]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows<const I: usize> {
    blocks: Vec<f32x8>,
    len: usize,
}

impl<const I: usize> std::ops::Deref for Rows<I> {
    type Target = [[f32; I]];
    fn deref(&self) -> &[[f32; I]] {
        let floats: &[f32] = bytemuck::cast_slice(&self.blocks);
        floats[..self.len * I].as_chunks::<I>().0
    }
}

impl<const I: usize> std::ops::DerefMut for Rows<I> {
    fn deref_mut(&mut self) -> &mut [[f32; I]] {
        let floats: &mut [f32] = bytemuck::cast_slice_mut(&mut self.blocks);
        floats[..self.len * I].as_chunks_mut::<I>().0
    }
}

impl<const I: usize> Rows<I> {
    /// Appends a row.
    pub fn push(&mut self, row: [f32; I]) {
        let (start, end) = (self.len * I, (self.len + 1) * I);
        self.blocks.resize(end.div_ceil(8), f32x8::ZERO);
        let floats: &mut [f32] = bytemuck::cast_slice_mut(&mut self.blocks);
        floats[start..end].copy_from_slice(&row);
        self.len += 1;
    }
}

impl<const I: usize> FromIterator<[f32; I]> for Rows<I> {
    fn from_iter<T: IntoIterator<Item = [f32; I]>>(iter: T) -> Self {
        let iter = iter.into_iter();
        let mut rows = Rows {
            blocks: Vec::with_capacity((iter.size_hint().0 * I).div_ceil(8)),
            len: 0,
        };
        for row in iter {
            rows.push(row);
        }
        rows
    }
}

impl<const I: usize> From<Vec<[f32; I]>> for Rows<I> {
    fn from(rows: Vec<[f32; I]>) -> Self {
        rows.into_iter().collect()
    }
}

/// An in-memory training set with targets ready for one network's loss.
#[derive(Clone, Debug, Default)]
pub struct TrainSet<const I: usize, const O: usize> {
    /// Inputs.
    pub x: Rows<I>,
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

/// A contiguous run of output rows of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RowRange {
    layer: usize,
    rows: (usize, usize),
    inputs: usize,
}

impl RowRange {
    fn len(&self) -> usize {
        self.rows.1 - self.rows.0
    }
}

/// Splits all rows of all layers into `chunks` contiguous chunks of nearly
/// equal work, in row order. A row costs `inputs + 1` multiply-adds per
/// sample whose delta is not zero; behind a ReLU about half the deltas are
/// zero, and `outer_sum` skips them in rows of at least
/// [`SKIP_ZERO_ROWS_FROM`] inputs, so such a row counts `inputs / 2 + 1`.
/// (Counting them in full left W2's second chunk, which holds the dense
/// output layer, about a third slower than the first on two threads.) Any
/// partition gives the same bits; this one balances the load.
fn partition_rows<N: Model>(net: &N, chunks: usize) -> Vec<Vec<RowRange>> {
    let shape: Vec<(usize, usize, usize)> = (0..N::LAYERS)
        .filter_map(|l| {
            net.layer(l).map(|v| {
                let relu = v.activation == <tinytrain::Relu as tinytrain::Activation>::NAME;
                let cost = if relu && v.inputs >= SKIP_ZERO_ROWS_FROM {
                    v.inputs / 2 + 1
                } else {
                    v.inputs + 1
                };
                (v.inputs, v.outputs, cost)
            })
        })
        .collect();
    let total: usize = shape.iter().map(|&(_, o, c)| c * o).sum();
    let mut plan = vec![Vec::new(); chunks];
    let mut done = 0usize;
    let mut chunk = 0usize;
    for (layer, &(inputs, outputs, cost)) in shape.iter().enumerate() {
        let mut start = 0;
        for o in 0..outputs {
            done += cost;
            // Close this chunk once it reaches its cumulative quota.
            let quota = total * (chunk + 1) / chunks;
            if done >= quota && chunk + 1 < chunks {
                plan[chunk].push(RowRange {
                    layer,
                    rows: (start, o + 1),
                    inputs,
                });
                start = o + 1;
                chunk += 1;
            }
        }
        if start < outputs {
            plan[chunk].push(RowRange {
                layer,
                rows: (start, outputs),
                inputs,
            });
        }
    }
    plan.retain(|p| !p.is_empty());
    plan
}

/// Samples whose forward passes run together in the samples part
/// ([`forward_backward_batch`]), so each weight is loaded once for all of
/// them: eight where a chunk has eight left, else four.
const WIDE_GROUP: usize = 8;
/// See [`WIDE_GROUP`].
const GROUP: usize = 4;

/// An epoch's sample order into `slots`: 0, 1, … and, for
/// [`Order::Shuffled`], permuted by `rng` exactly as
/// [`tinytrain::Trainer::epoch`] permutes it.
fn draw_order(slots: &mut [u32], order: Order, rng: &mut Rng) {
    for (i, slot) in slots.iter_mut().enumerate() {
        *slot = i as u32;
    }
    if order == Order::Shuffled {
        shuffle(slots, rng);
    }
}

/// Share `w` of `n` items split among `workers`: the half-open range.
fn share(n: usize, workers: usize, w: usize) -> (usize, usize) {
    (n * w / workers, n * (w + 1) / workers)
}

/// Rows per block in the rows part, so that a block of gradient rows stays in L1.
fn block_rows(inputs: usize) -> usize {
    (4096 / (inputs + 1)).max(1)
}

/// Copies the weight rows of `ranges` from `net` into `buf` (range after range).
fn load_rows<N: Model>(ranges: &[RowRange], buf: &mut [f32], net: &N) {
    let mut at = 0;
    for r in ranges {
        let n = r.len() * r.inputs;
        if let Some(l) = net.layer(r.layer) {
            buf[at..at + n].copy_from_slice(&l.w[r.rows.0 * r.inputs..r.rows.1 * r.inputs]);
        }
        at += n;
    }
}

/// Copies the weight rows of `ranges` from `buf` into `net`.
fn store_rows<N: Model>(ranges: &[RowRange], buf: &[f32], net: &mut N) {
    let mut at = 0;
    for r in ranges {
        let n = r.len() * r.inputs;
        if let Some(l) = net.layer_mut(r.layer) {
            l.w[r.rows.0 * r.inputs..r.rows.1 * r.inputs].copy_from_slice(&buf[at..at + n]);
        }
        at += n;
    }
}

/// All biases of `net`, layer after layer.
fn load_biases<N: Model>(net: &N) -> Vec<f32> {
    (0..N::LAYERS)
        .filter_map(|l| net.layer(l))
        .flat_map(|l| l.b.iter().copied())
        .collect()
}

/// The inverse of [`load_biases`].
fn store_biases<N: Model>(all: &[f32], net: &mut N) {
    let mut at = 0;
    for l in 0..N::LAYERS {
        if let Some(l) = net.layer_mut(l) {
            let n = l.b.len();
            l.b.copy_from_slice(&all[at..at + n]);
            at += n;
        }
    }
}

/// One phase-2 chunk: the state of its rows, range after range.
struct RowChunk {
    ranges: Vec<RowRange>,
    /// Σₛ δₛ·inputₛ per weight, then (scaled in place) the mean gradient.
    gw: Vec<f32>,
    /// Σₛ δₛ per row: the biases' gradient, which the leader finishes.
    gb: Vec<f32>,
    /// Per row: Σ g² of its mean gradient ([`scale_sum_sq`]).
    partial: Vec<f32>,
    /// The weights: `w[commits % 2]` is current, the other receives the step.
    w: [Vec<f32>; 2],
    /// Momentum, likewise (empty without momentum): a step's direction is
    /// written straight into the next buffer, as the core copies it there.
    v: [Vec<f32>; 2],
    /// Whether every direction and new weight of the last update was finite.
    finite: bool,
}

impl RowChunk {
    fn new(ranges: Vec<RowRange>, momentum: bool) -> Self {
        let weights = ranges.iter().map(|r| r.len() * r.inputs).sum();
        let rows = ranges.iter().map(RowRange::len).sum();
        let v = if momentum { weights } else { 0 };
        RowChunk {
            ranges,
            gw: vec![0.0; weights],
            gb: vec![0.0; rows],
            partial: vec![0.0; rows],
            w: [vec![0.0; weights], vec![0.0; weights]],
            v: [vec![0.0; v], vec![0.0; v]],
            finite: true,
        }
    }
}

/// `(&pair[cur], &mut pair[1 - cur])`.
fn current_next(pair: &mut [Vec<f32>; 2], cur: usize) -> (&[f32], &mut [f32]) {
    let [a, b] = pair;
    if cur == 0 {
        (a, b)
    } else {
        (b, a)
    }
}

/// A thread's own copy of the network, for its forward passes.
struct Replica<N> {
    net: Box<N>,
    /// Per row chunk: the attempt whose weights this copy holds.
    fresh: Vec<u64>,
    /// The number of commits this copy reflects.
    synced: u64,
    /// This epoch's sample order (each thread reads its own copy).
    order: Vec<u32>,
}

/// Samples-part storage of one chunk of the batch: a scratch per sample and the
/// samples' results.
struct Slot<S> {
    /// First sample of the chunk (index within the batch).
    first: usize,
    scratch: Vec<S>,
    results: Vec<Result<(f32, bool), Error>>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the leader and the workers share during [`ParallelTrainer::train`].
struct Shared<'a, N: Model, L, const I: usize, const O: usize> {
    loss: &'a L,
    data: &'a TrainSet<I, O>,
    /// The current batch's start in this epoch's sample order.
    start: AtomicUsize,
    batch: usize,
    /// 1 / batch, as the core computes it.
    inv: f32,
    /// Samples chunks (contiguous samples of the batch).
    slots: Vec<RwLock<Slot<N::Scratch>>>,
    /// Per samples chunk: the generation of the step that last wrote it.
    written: Vec<Line<AtomicU64>>,
    /// Where sample s of the batch lives: chunk and index within it.
    locate: Vec<(usize, usize)>,
    /// Rows chunks, in row order.
    chunks: Vec<RwLock<RowChunk>>,
    /// Per rows chunk: the attempt whose new weights its next buffer holds
    /// (stored while the chunk is still locked for writing).
    computed: Vec<Line<AtomicU64>>,
    /// Per thread (the leader is 0): its copy of the network.
    replicas: Vec<Mutex<Replica<N>>>,
    /// Biases of all layers, layer after layer; only the leader updates them.
    bias: RwLock<Vec<f32>>,
    momentum: bool,
    /// Steps committed: buffer `commits % 2` of every chunk is current.
    commits: AtomicU64,
    /// The attempt whose weights the last commit took.
    committed: AtomicU64,
    /// The attempt (a rows or update phase that computes new weights) in progress.
    attempt: AtomicU64,
    /// The update rule of the attempt in progress, if known (bits of scale,
    /// decay, momentum, lr).
    rule: [AtomicU32; 4],
    has_rule: AtomicBool,
    signal: Signal,
    /// Per thread, its time by activity, when profiling.
    times: Option<Vec<Mutex<ThreadTimes>>>,
}

impl<N, L, const I: usize, const O: usize> Shared<'_, N, L, I, O>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    /// The chunks of each part of a phase of `job`.
    fn parts(&self, job: Job) -> [usize; PARTS] {
        match job {
            Job::Step => [self.slots.len(), self.chunks.len()],
            Job::Update => [0, self.chunks.len()],
            Job::Exit => [0, 0],
        }
    }

    /// Waits until samples chunk `k` of generation `g` is written; false if
    /// a thread failed instead (the phase then fails as a whole).
    fn wait_samples(&self, k: usize, g: u64) -> bool {
        self.signal
            .wait_until(|| self.written[k].load(Ordering::Acquire) == g)
    }

    /// Leader, between phases: the rule the next rows or update phase applies.
    fn set_rule(&self, rule: Option<Update>) {
        self.has_rule.store(rule.is_some(), Ordering::Relaxed);
        if let Some(r) = rule {
            for (a, v) in self.rule.iter().zip([r.scale, r.decay, r.momentum, r.lr]) {
                a.store(v.to_bits(), Ordering::Relaxed);
            }
        }
    }

    fn rule(&self) -> Option<Update> {
        self.has_rule.load(Ordering::Relaxed).then(|| {
            let f = |k: usize| f32::from_bits(self.rule[k].load(Ordering::Relaxed));
            Update {
                scale: f(0),
                decay: f(1),
                momentum: f(2),
                lr: f(3),
            }
        })
    }

    /// The attempt in progress and which buffer of each chunk is current
    /// (`commits % 2`); both change only between phases.
    fn attempt_and_current(&self) -> (u64, usize) {
        (
            self.attempt.load(Ordering::Relaxed),
            (self.commits.load(Ordering::Relaxed) % 2) as usize,
        )
    }

    /// Brings a thread's copy of the network up to the last commit, copying
    /// only the chunks it did not itself compute in the committed attempt.
    fn refresh(&self, rep: &mut Replica<N>) {
        let commits = self.commits.load(Ordering::Relaxed);
        if rep.synced == commits {
            return;
        }
        let committed = self.committed.load(Ordering::Relaxed);
        let cur = (commits % 2) as usize;
        for (c, chunk) in self.chunks.iter().enumerate() {
            if rep.fresh[c] != committed {
                let chunk = read(chunk);
                store_rows(&chunk.ranges, &chunk.w[cur], &mut *rep.net);
                rep.fresh[c] = committed;
            }
        }
        store_biases(&read(&self.bias), &mut *rep.net);
        rep.synced = commits;
    }

    /// Part 0 of step `g`, samples chunk `c`: forward and backward for its
    /// samples; then its stamp says it is written.
    fn samples(&self, c: usize, g: u64, start: usize, order: &[u32], net: &N) {
        {
            let mut slot = self.slots[c]
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let slot = &mut *slot;
            slot.results.clear();
            let first = start + slot.first;
            let sample = |k: usize| {
                let idx = order[first + k] as usize;
                (&self.data.x[idx], &self.data.t[idx])
            };
            // Groups of samples share each load of a weight: eights, then a
            // four, then the rest one by one.
            let (scratch, results) = (&mut slot.scratch[..], &mut slot.results);
            let mut done = self.groups::<WIDE_GROUP>(net, scratch, 0, &sample, results);
            done += self.groups::<GROUP>(net, &mut scratch[done..], done, &sample, results);
            for (j, scratch) in scratch[done..].iter_mut().enumerate() {
                let (x, t) = sample(done + j);
                let r = forward_backward(net, scratch, x, t, self.loss)
                    .map(|l| (l, self.loss.correct(N::output(scratch), t)));
                results.push(r);
            }
        }
        self.written[c].store(g, Ordering::Release);
    }

    /// Forward and backward passes of the samples `k0, k0 + 1, …` of a
    /// chunk (`sample(k)`: its k-th), `S` at a time into `scratch` while
    /// `S` are left, each result appended to `results`; returns how many ran.
    fn groups<'d, const S: usize>(
        &self,
        net: &N,
        scratch: &mut [N::Scratch],
        k0: usize,
        sample: &impl Fn(usize) -> (&'d [f32; I], &'d Target<O>),
        results: &mut Vec<Result<(f32, bool), Error>>,
    ) -> usize {
        let (groups, _) = scratch.as_chunks_mut::<S>();
        for (g, group) in groups.iter_mut().enumerate() {
            let base = k0 + g * S;
            // The samples first, then a map that only pairs them with their
            // scratch (a map that also fetched them was not inlined).
            let mut pairs = [sample(base); S];
            for (j, p) in pairs.iter_mut().enumerate().skip(1) {
                *p = sample(base + j);
            }
            let mut j = 0;
            let io = group.each_mut().map(|scratch| {
                j += 1;
                (pairs[j - 1].0, pairs[j - 1].1, scratch)
            });
            let out = forward_backward_batch(net, io, self.loss);
            for (j, (r, scratch)) in out.into_iter().zip(group.iter()).enumerate() {
                let t = sample(base + j).1;
                results.push(r.map(|l| (l, self.loss.correct(N::output(scratch), t))));
            }
        }
        groups.len() * S
    }

    /// Part 1 of a step (`sum`: gradient rows, scaled, and their Σ g²; then
    /// the update when `rule` is known) or an update phase (the update
    /// alone), rows chunk `c`.
    ///
    /// The gradient of a weight is `Σₛ δₛ[o]·inputₛ[i]` over `s = 0..batch`
    /// in order from zero with the core's `kernel::outer_sum`: per element
    /// the same operations as `Gradients::accumulate`, sample after sample,
    /// with each tile of a row held in registers over the whole batch. Rows
    /// go in blocks that stay in L1 for the update. The update
    /// (`Update::step_into`, one pass) writes the new weights and, with
    /// momentum, the direction into the chunk's next buffers, and the new
    /// weights also into this thread's copy of the network (used only if
    /// committed).
    #[allow(clippy::too_many_arguments)]
    fn rows(
        &self,
        c: usize,
        sum: bool,
        rule: Option<Update>,
        (attempt, cur): (u64, usize),
        start: usize,
        slots: &[Option<RwLockReadGuard<'_, Slot<N::Scratch>>>],
        rep: &mut Replica<N>,
    ) {
        let mut chunk = self.chunks[c]
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let RowChunk {
            ranges,
            gw,
            gb,
            partial,
            w,
            v,
            finite,
        } = &mut *chunk;
        let (w_cur, w_next) = current_next(w, cur);
        let (v_cur, v_next) = current_next(v, cur);
        *finite = true;
        let (mut wo, mut ro) = (0, 0);
        let mut terms = Vec::with_capacity(if sum { self.batch } else { 0 });
        for &range in ranges.iter() {
            let n = range.inputs;
            let per_block = block_rows(n);
            terms.clear();
            if sum {
                for s in 0..self.batch {
                    let (v, k) = self.locate[s];
                    // (None only if a thread failed: the phase fails.)
                    let Some(slot) = &slots[v] else { continue };
                    let x = &self.data.x[rep.order[start + s] as usize];
                    if let Some((input, delta)) = N::layer_io(x, &slot.scratch[k], range.layer) {
                        terms.push((delta, input));
                    }
                }
            }
            let mut r = 0;
            while r < range.len() {
                let rows = per_block.min(range.len() - r);
                let first = range.rows.0 + r;
                let (w0, w1) = (wo + r * n, wo + (r + rows) * n);
                let (r0, r1) = (ro + r, ro + r + rows);
                let g = &mut gw[w0..w1];
                if sum {
                    outer_sum(g, &mut gb[r0..r1], first, &terms);
                    // Pass 1 of the core's step, row by row.
                    for (row, p) in g.chunks_exact_mut(n).zip(&mut partial[r0..r1]) {
                        *p = scale_sum_sq(row, self.inv);
                    }
                }
                if let Some(rule) = rule {
                    // Passes 2 and 3 of the core's step, in one, into the next buffers.
                    let vel = if self.momentum {
                        Some((&v_cur[w0..w1], &mut v_next[w0..w1]))
                    } else {
                        None
                    };
                    let new = &mut w_next[w0..w1];
                    *finite &= rule.step_into(g, &w_cur[w0..w1], vel, new);
                    if let Some(l) = rep.net.layer_mut(range.layer) {
                        l.w[first * n..(first + rows) * n].copy_from_slice(new);
                    }
                }
                r += rows;
            }
            wo += range.len() * n;
            ro += range.len();
        }
        if rule.is_some() {
            rep.fresh[c] = attempt;
            self.computed[c].store(attempt, Ordering::Release);
        }
    }

    /// Copies into a thread's copy of the network the new weights of the
    /// rows chunks that attempt `attempt` (`cur`: the current buffers) has
    /// finished and the copy lacks: these are what [`Shared::refresh`] would
    /// copy at the next step if the attempt commits, and done early they
    /// fill time a thread would otherwise spend waiting. With `wait`, waits
    /// for each chunk still in progress; without, skips it. Returns whether
    /// the copy now has every chunk of the attempt (false also when a
    /// thread failed or the chunk moved on to a later attempt). The time of
    /// the copies (not of the waits) is added to `spent` when profiling.
    fn pull(
        &self,
        rep: &mut Replica<N>,
        (attempt, cur): (u64, usize),
        wait: bool,
        spent: &mut Duration,
    ) -> bool {
        let timing = self.times.is_some();
        let mut all = true;
        for (c, chunk) in self.chunks.iter().enumerate() {
            if rep.fresh[c] == attempt {
                continue;
            }
            let stamp = || self.computed[c].load(Ordering::Acquire);
            if stamp() < attempt && !(wait && self.signal.wait_until(|| stamp() >= attempt)) {
                all = false;
                continue;
            }
            let chunk = read(chunk);
            // Stable while the read lock is held: a writer stamps under its
            // write lock. A later attempt may have rewritten the buffer.
            if stamp() != attempt {
                all = false;
                continue;
            }
            timed(timing, spent, || {
                store_rows(&chunk.ranges, &chunk.w[1 - cur], &mut *rep.net);
            });
            rep.fresh[c] = attempt;
        }
        all
    }

    /// Claims and runs chunks of generation `g` until none are left; `me`
    /// is the thread (0 = the leader). In a step, a thread runs samples
    /// chunks until none are left to claim, then goes straight on to rows
    /// chunks, once every samples chunk is written (by whichever thread
    /// claimed it): no thread waits for the leader between the two. Its
    /// chunks are reported done once, after every lock is released, so the
    /// leader never waits for one.
    fn work(&self, me: usize, g: u64, job: Job) {
        let Some(mut c) = self.signal.claim(g, me) else {
            return;
        };
        let mut finished = 1;
        let start = self.start.load(Ordering::Relaxed);
        let mut guard = lock(&self.replicas[me]);
        let rep = &mut *guard;
        let [samples, _] = self.parts(job);
        let sum = job == Job::Step;
        let rule = self.rule();
        let at = self.attempt_and_current();
        let mut refreshed = false;
        let timing = self.times.is_some();
        let mut spent = ThreadTimes::default();
        // Read locks on every samples chunk, taken before the first rows
        // chunk, once each is written, without allocating. (Not while a
        // rows chunk is locked: a thread still in its samples may need to
        // read that chunk's current weights.)
        let mut slots: [Option<RwLockReadGuard<'_, Slot<N::Scratch>>>; MAX_CHUNKS] =
            std::array::from_fn(|_| None);
        let mut locked = !sum;
        loop {
            if c < samples {
                if !refreshed {
                    timed(timing, &mut spent.refresh, || self.refresh(rep));
                    refreshed = true;
                }
                timed(timing, &mut spent.samples, || {
                    self.samples(c, g, start, &rep.order, &rep.net)
                });
            } else {
                if !locked {
                    timed(timing, &mut spent.wait, || {
                        for (k, (slot, guard)) in self.slots.iter().zip(&mut slots).enumerate() {
                            if !self.wait_samples(k, g) {
                                // A thread failed: the phase fails as a whole.
                                break;
                            }
                            *guard = Some(read(slot));
                        }
                    });
                    locked = true;
                }
                timed(timing, &mut spent.rows, || {
                    self.rows(c - samples, sum, rule, at, start, &slots, rep)
                });
            }
            let Some(next) = self.signal.claim(g, me) else {
                break;
            };
            finished += 1;
            c = next;
        }
        drop(slots);
        drop(guard);
        self.signal.finish(me, finished);
        // A worker with nothing left copies the other threads' new rows
        // while the leader finishes the step, rather than at the next one.
        if me != 0 && rule.is_some() {
            let mut guard = lock(&self.replicas[me]);
            self.pull(&mut guard, at, true, &mut spent.early);
        }
        if let Some(times) = &self.times {
            lock(&times[me]).add(&spent);
        }
    }

    /// Leader, once its own chunks are done: waits for the others' chunks,
    /// copying the new rows of those already finished into its copy of the
    /// network meanwhile (when the phase computes new weights). False if a
    /// worker died instead.
    fn wait_done(&self) -> bool {
        if !self.has_rule.load(Ordering::Relaxed) {
            return self.signal.wait_done();
        }
        let at = self.attempt_and_current();
        let mut rep = lock(&self.replicas[0]);
        let mut pulled = false;
        let mut spent = Duration::ZERO;
        let done = self.signal.wait_until(|| {
            if self.signal.all_done() {
                return true;
            }
            if !pulled {
                pulled = self.pull(&mut rep, at, false, &mut spent);
            }
            false
        });
        if let Some(times) = &self.times {
            lock(&times[0]).early += spent;
        }
        done
    }

    /// A worker thread's loop.
    fn worker(&self, me: usize) {
        let _guard = FailOnUnwind(&self.signal);
        let mut seen = 0;
        loop {
            let (g, job) = self.signal.wait_job(seen, me);
            seen = g;
            if job == Job::Exit {
                return;
            }
            self.work(me, g, job);
        }
    }

    /// Leader: runs one phase with the first `team` threads and waits for it.
    fn phase(&self, job: Job, team: usize) -> Result<(), Error> {
        self.phase_with(job, team, |_| ())
    }

    /// Leader: runs one phase with the first `team` threads (itself
    /// included), then `meanwhile(generation)` (while they may still finish
    /// their chunks), then waits for the phase.
    fn phase_with<T>(
        &self,
        job: Job,
        team: usize,
        meanwhile: impl FnOnce(u64) -> T,
    ) -> Result<T, Error> {
        let g = self.signal.publish(job, self.parts(job), team);
        self.work(0, g, job);
        let t = meanwhile(g);
        if self.wait_done() {
            Ok(t)
        } else {
            Err(Error::InvalidParam("a training thread failed"))
        }
    }

    /// Leader: the committed weights (and momentum) into `net` (and `velocity`).
    fn write_back(&self, net: &mut N, velocity: Option<(&mut Velocity<N>, &[f32])>) {
        let cur = (self.commits.load(Ordering::Relaxed) % 2) as usize;
        let mut velocity = velocity;
        for chunk in &self.chunks {
            let chunk = read(chunk);
            store_rows(&chunk.ranges, &chunk.w[cur], net);
            if let Some((v, _)) = velocity.as_mut() {
                store_rows(&chunk.ranges, &chunk.v[cur], &mut v.0);
            }
        }
        store_biases(&read(&self.bias), net);
        if let Some((v, vb)) = velocity {
            store_biases(vb, &mut v.0);
        }
    }
}

/// The leader's own state across steps.
struct Lead {
    /// Biases' gradient sums, then mean and direction (all layers).
    gbias: Vec<f32>,
    /// Biases' momentum (empty without momentum).
    vbias: Vec<f32>,
    /// (first bias, biases) of each layer in `gbias`.
    layers: Vec<(usize, usize)>,
    /// Per layer: its rows' Σ g², added in row order.
    rows_sq: Vec<f32>,
    /// Whether the rows part may apply the unclipped rule straight away.
    speculate: bool,
}

/// Threads that a step of `batch` samples of network `N` runs on when
/// `threads` are asked for: at most `threads`, at most one per sample, and
/// at most one per [`MIN_WORK_PER_THREAD`] samples × parameters (at least
/// one). Tiny steps, like XOR's 4 samples on 33 parameters, thus run on one
/// thread: handing them between threads would cost more than the work. The
/// weights are bit-identical either way.
pub fn threads_for<N: Model>(threads: usize, batch: usize) -> usize {
    let work = batch.saturating_mul(N::PARAMS);
    threads.min(batch).min(work / MIN_WORK_PER_THREAD).max(1)
}

/// How many chunks a step of `batch` samples of network `N` is cut into on
/// `workers` threads (as [`threads_for`] gives them): (samples chunks, rows
/// chunks).
///
/// Every chunk costs a claim, a lock and, for a rows chunk, a walk over all
/// the samples per block of rows; several chunks per thread let a thread
/// that is late (descheduled, or on a slower core of a shared machine) leave
/// little for the others to wait on. Which wins depends on the work per
/// thread, in units of [`MIN_WORK_PER_THREAD`] samples × parameters: below
/// 8, 2 samples chunks and 1 rows chunk per thread (W2 on 2 threads: 4 and
/// 2); below 32, 4 and 4; from 32 on, 8 and 8 (W3 on 2 threads: 16 rows
/// chunks, where the faster of two cores then takes over part of the slower
/// one's share). Never more than 30 per part, more samples chunks than
/// eights of samples (so that a chunk's forward passes go eight at a time;
/// W3: 8 samples chunks), or more rows chunks than units of work (but at
/// least one per thread).
/// Any plan gives the same bits.
pub fn chunk_plan<N: Model>(workers: usize, batch: usize) -> (usize, usize) {
    let workers = workers.max(1);
    let work = batch.saturating_mul(N::PARAMS) / MIN_WORK_PER_THREAD;
    let (samples, rows) = match (workers, work / workers) {
        (1, _) => (1, 1),
        (_, 0..8) => (2, 1),
        (_, 8..32) => (4, 4),
        _ => (8, 8),
    };
    let samples = (workers * samples)
        .min(MAX_CHUNKS)
        .min((batch / WIDE_GROUP).max(workers))
        .min(batch)
        .max(1);
    let rows = (workers * rows).min(work).max(workers).min(MAX_CHUNKS);
    (samples, rows)
}

/// Where the time of a step goes, averaged over the steps measured
/// ([`ParallelTrainer::set_profiling`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// Steps measured.
    pub steps: u64,
    /// Wall time of a step as the leader sees it: from publishing the step
    /// to committing it.
    pub step: Duration,
    /// Per thread (0 = the leader), time per step in each activity.
    pub threads: Vec<ThreadTimes>,
}

/// One thread's time in a step, by activity (see [`Profile`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ThreadTimes {
    /// At the start of a step, copying the weight rows other threads updated
    /// into its own copy of the network (those it did not copy early).
    pub refresh: Duration,
    /// Copying such rows early: at the end of a phase, while it would
    /// otherwise wait (a worker once its chunks are done, the leader while
    /// it waits for the others' chunks).
    pub early: Duration,
    /// Forward and backward passes of the samples chunks it claimed.
    pub samples: Duration,
    /// Waiting for every samples chunk to be written before its first rows
    /// chunk.
    pub wait: Duration,
    /// Gradient sums and updates of the rows chunks it claimed.
    pub rows: Duration,
}

impl ThreadTimes {
    fn add(&mut self, o: &ThreadTimes) {
        self.refresh += o.refresh;
        self.early += o.early;
        self.samples += o.samples;
        self.wait += o.wait;
        self.rows += o.rows;
    }

    fn per(&self, steps: u32) -> ThreadTimes {
        ThreadTimes {
            refresh: self.refresh / steps,
            early: self.early / steps,
            samples: self.samples / steps,
            wait: self.wait / steps,
            rows: self.rows / steps,
        }
    }
}

/// Runs `f`, adding its wall time to `acc` when `on`.
fn timed<T>(on: bool, acc: &mut Duration, f: impl FnOnce() -> T) -> T {
    if !on {
        return f();
    }
    let t = Instant::now();
    let r = f();
    *acc += t.elapsed();
    r
}

/// Mini-batch SGD over a thread team; same bits as [`tinytrain::Trainer`].
#[derive(Debug)]
pub struct ParallelTrainer<N: Model, L> {
    net: Box<N>,
    velocity: Option<Box<Velocity<N>>>,
    loss: L,
    sgd: Sgd,
    epoch: u32,
    threads: usize,
    /// Totals since profiling was switched on: steps, step time, per thread.
    profiling: Option<(u64, Duration, Vec<ThreadTimes>)>,
    /// Team or leader alone, step by step.
    pacer: Pacer,
    /// How the workers are started.
    spawner: Spawner,
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
    /// A trainer for `net` with up to `threads` threads (≥ 1). A momentum
    /// buffer is kept when the optimizer has momentum.
    pub fn new(net: Box<N>, loss: L, sgd: Sgd, threads: usize) -> Result<Self, Error> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(Error::InvalidParam(THREADS_RANGE));
        }
        Ok(ParallelTrainer {
            net,
            velocity: (sgd.config().momentum != 0.0).then(|| Box::new(Velocity::ZERO)),
            loss,
            sgd,
            epoch: 0,
            threads,
            profiling: None,
            pacer: Pacer::new(Pacing::Adaptive),
            spawner: system_threads,
        })
    }

    /// How steps choose between the thread team and the leader alone
    /// (default [`Pacing::Adaptive`]); resets the counts of
    /// [`ParallelTrainer::steps_alone`].
    pub fn set_pacing(&mut self, pacing: Pacing) {
        self.pacer = Pacer::new(pacing);
    }

    /// (Steps that ran on the leader alone although the step had a team,
    /// steps with a team) since the trainer was made or its pacing set. A
    /// step too small to share ([`threads_for`] is 1) counts in neither.
    pub fn steps_alone(&self) -> (u64, u64) {
        self.pacer.counts()
    }

    /// Switches timing of the steps' parts on (from zero) or off; costs a
    /// few clock reads per thread and step. See [`ParallelTrainer::profile`].
    pub fn set_profiling(&mut self, on: bool) {
        self.profiling = on.then(|| (0, Duration::ZERO, Vec::new()));
    }

    /// Where the time of a step went, averaged over the steps trained since
    /// [`set_profiling(true)`](ParallelTrainer::set_profiling); `None` when
    /// profiling is off or no step ran.
    pub fn profile(&self) -> Option<Profile> {
        let (steps, total, threads) = self.profiling.as_ref()?;
        let n = u32::try_from(*steps).ok().filter(|&n| n > 0)?;
        Some(Profile {
            steps: *steps,
            step: *total / n,
            threads: threads.iter().map(|t| t.per(n)).collect(),
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

    /// Number of threads asked for.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Threads that a step of `batch` samples runs on: [`threads_for`].
    pub fn threads_for(&self, batch: usize) -> usize {
        threads_for::<N>(self.threads, batch)
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
        let workers = self.threads_for(batch);
        if workers == 1 && batch.saturating_mul(N::PARAMS) < MIN_WORK_PER_THREAD {
            let mut own = Serial::<N>::new(n);
            for _ in 0..epochs {
                let stats = self.serial_epoch(&mut own, data, batch, order, rng, &mut on_batch)?;
                self.epoch += 1;
                let end = EpochEnd {
                    epoch: self.epoch,
                    stats,
                    net: &*self.net,
                };
                if on_epoch(end).is_break() {
                    break;
                }
            }
            return Ok(());
        }
        let (sample_chunks, chunks) = chunk_plan::<N>(workers, batch);
        let momentum = self.velocity.is_some();
        let chunks: Vec<_> = partition_rows(&*self.net, chunks)
            .into_iter()
            .map(|ranges| {
                let mut c = RowChunk::new(ranges, momentum);
                load_rows(&c.ranges, &mut c.w[0], &*self.net);
                if let Some(v) = &self.velocity {
                    load_rows(&c.ranges, &mut c.v[0], &v.0);
                }
                RwLock::new(c)
            })
            .collect();
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
        let replicas = (0..workers)
            .map(|_| {
                let mut net = tinytrain::host::boxed::<N>();
                net.copy_from(&self.net);
                Mutex::new(Replica {
                    net,
                    fresh: vec![0; chunks.len()],
                    synced: 0,
                    order: vec![0; n],
                })
            })
            .collect();
        let mut layers = Vec::new();
        let mut at = 0;
        for l in 0..N::LAYERS {
            if let Some(l) = self.net.layer(l) {
                layers.push((at, l.outputs));
                at += l.outputs;
            }
        }
        let mut lead = Lead {
            gbias: vec![0.0; at],
            vbias: self
                .velocity
                .as_ref()
                .map_or_else(Vec::new, |v| load_biases(&v.0)),
            rows_sq: vec![0.0; layers.len()],
            layers,
            speculate: true,
        };
        let shared = Shared {
            loss: &self.loss,
            data,
            start: AtomicUsize::new(0),
            batch,
            inv: 1.0 / (batch as u32) as f32,
            written: (0..sample_chunks).map(|_| Line::default()).collect(),
            slots,
            locate,
            computed: (0..chunks.len()).map(|_| Line::default()).collect(),
            chunks,
            replicas,
            bias: RwLock::new(load_biases(&*self.net)),
            momentum,
            commits: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            attempt: AtomicU64::new(0),
            rule: Default::default(),
            has_rule: AtomicBool::new(false),
            signal: Signal::new(workers),
            times: self
                .profiling
                .is_some()
                .then(|| (0..workers).map(|_| Mutex::default()).collect()),
        };
        let (mut steps, mut step_time) = (0u64, Duration::ZERO);
        let profiling = self.profiling.is_some();
        let net = &mut *self.net;
        let velocity = self.velocity.as_deref_mut();
        let sgd = &mut self.sgd;
        let epoch = &mut self.epoch;
        let pacer = &mut self.pacer;
        let spawner = self.spawner;
        let result = thread::scope(|scope| {
            // Made first: if a worker cannot be started, the ones already
            // running are told to leave, and the scope can join them.
            let exit = ExitOnDrop(&shared.signal);
            for me in 1..workers {
                let shared = &shared;
                spawner(me)
                    .spawn_scoped(scope, move || shared.worker(me))
                    .map_err(|_| Error::InvalidParam(NO_THREAD))?;
            }
            let result = (|| {
                for _ in 0..epochs {
                    {
                        let mut lead_rep = lock(&shared.replicas[0]);
                        draw_order(&mut lead_rep.order, order, rng);
                        for r in &shared.replicas[1..] {
                            lock(r).order.copy_from_slice(&lead_rep.order);
                        }
                    }
                    sgd.set_epoch(*epoch);
                    let mut stats = EpochStats::default();
                    for b in 0..n / batch {
                        shared.start.store(b * batch, Ordering::Relaxed);
                        let team = if pacer.solo() { 1 } else { workers };
                        let t = (profiling || workers > 1).then(Instant::now);
                        step(&shared, &mut lead, sgd, &mut stats, team)?;
                        if let Some(t) = t {
                            let time = t.elapsed();
                            step_time += time;
                            if workers > 1 {
                                pacer.record(time);
                            }
                        }
                        steps += 1;
                        on_batch(batch);
                    }
                    *epoch += 1;
                    shared.write_back(net, None);
                    let end = EpochEnd {
                        epoch: *epoch,
                        stats,
                        net: &*net,
                    };
                    if on_epoch(end).is_break() {
                        break;
                    }
                }
                Ok(())
            })();
            drop(exit);
            shared.write_back(net, velocity.map(|v| (v, &lead.vbias[..])));
            result
        });
        if let (Some((n, total, threads)), Some(times)) = (&mut self.profiling, &shared.times) {
            *n += steps;
            *total += step_time;
            threads.resize(threads.len().max(times.len()), ThreadTimes::default());
            for (t, m) in threads.iter_mut().zip(times) {
                t.add(&lock(m));
            }
        }
        result
    }
}

/// What the core's own path needs across the epochs of one `train` call.
struct Serial<N: Model> {
    scratch: Box<N::Scratch>,
    four: Box<[N::Scratch; 4]>,
    grads: Box<tinytrain::Gradients<N>>,
    /// This epoch's sample order.
    order: Vec<u32>,
}

impl<N: Model> Serial<N> {
    fn new(samples: usize) -> Self {
        Serial {
            scratch: Box::new(N::SCRATCH),
            four: Box::new([N::SCRATCH; 4]),
            grads: Box::new(tinytrain::Gradients::ZERO),
            order: vec![0; samples],
        }
    }
}

impl<N: Model, L> ParallelTrainer<N, L> {
    /// One epoch of [`ParallelTrainer::train`] for steps too small for the
    /// two parts to pay (one thread, under [`MIN_WORK_PER_THREAD`] samples ×
    /// parameters, like W1's 4 × 33): the core's own path on this thread,
    /// `Gradients::accumulate_batch` four samples at a time (the rest of a
    /// batch one by one with `Gradients::accumulate`) and `Sgd::step` per
    /// batch. That has the bits, the statistics and the errors of
    /// [`tinytrain::Trainer`]'s sample-by-sample loop, while the four
    /// forward passes overlap. When profiling, the samples count as
    /// `samples` time and the steps as `rows` time.
    fn serial_epoch<const I: usize, const O: usize>(
        &mut self,
        own: &mut Serial<N>,
        data: &TrainSet<I, O>,
        batch: usize,
        order: Order,
        rng: &mut Rng,
        on_batch: &mut impl FnMut(usize),
    ) -> Result<EpochStats, Error>
    where
        N: Network<I, O>,
        L: Loss<O>,
    {
        draw_order(&mut own.order, order, rng);
        self.sgd.set_epoch(self.epoch);
        let mut stats = EpochStats::default();
        for b in own.order.chunks_exact(batch) {
            let start = self.profiling.is_some().then(Instant::now);
            let (quads, rest) = b.as_chunks::<4>();
            for q in quads {
                let xs = q.map(|i| &data.x[i as usize]);
                let ts = q.map(|i| &data.t[i as usize]);
                let losses = own
                    .grads
                    .accumulate_batch(&*self.net, &mut own.four, xs, ts, &self.loss)
                    .inspect_err(|_| own.grads.clear())?;
                for (k, l) in losses.into_iter().enumerate() {
                    stats.add(l, self.loss.correct(N::output(&own.four[k]), ts[k]));
                }
            }
            for &i in rest {
                let (x, t) = (&data.x[i as usize], &data.t[i as usize]);
                let l = own
                    .grads
                    .accumulate(&*self.net, &mut own.scratch, x, t, &self.loss)
                    .inspect_err(|_| own.grads.clear())?;
                stats.add(l, self.loss.correct(N::output(&own.scratch), t));
            }
            let mid = start.map(|_| Instant::now());
            let stepped =
                self.sgd
                    .step(&mut *self.net, &mut own.grads, self.velocity.as_deref_mut());
            if let (Some(start), Some(mid), Some((steps, total, threads))) =
                (start, mid, &mut self.profiling)
            {
                threads.resize(threads.len().max(1), ThreadTimes::default());
                threads[0].samples += mid - start;
                threads[0].rows += mid.elapsed();
                *total += start.elapsed();
                *steps += 1;
            }
            stepped?;
            on_batch(batch);
        }
        Ok(stats)
    }
}

/// One mini-batch step: the phases, then the leader's part of the
/// optimizer step (the norm, the biases, the decision to commit).
fn step<N, L, const I: usize, const O: usize>(
    shared: &Shared<'_, N, L, I, O>,
    lead: &mut Lead,
    sgd: &Sgd,
    stats: &mut EpochStats,
    team: usize,
) -> Result<(), Error>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    // The unclipped rule, tried by the rows part while it is likely right.
    let guess = sgd.update_rule(0.0).map(|r| Update { scale: 1.0, ..r });
    shared.set_rule(guess.ok().filter(|_| lead.speculate));
    shared.attempt.fetch_add(1, Ordering::Relaxed);
    // Per-sample results in sample order, read while the other threads finish
    // their rows (nothing is committed before they are checked): the first
    // error wins, as in the core.
    let batch_stats = shared.phase_with(Job::Step, team, |g| {
        let mut batch_stats = *stats;
        for (k, slot) in shared.slots.iter().enumerate() {
            if !shared.wait_samples(k, g) {
                return Err(Error::InvalidParam("a training thread failed"));
            }
            for r in &read(slot).results {
                let (l, correct) = (*r)?;
                batch_stats.add(l, correct);
            }
        }
        Ok(batch_stats)
    })??;
    let guess = guess?;
    // Pass 1 of the core's step: per layer, the rows' Σ g² added in row
    // order, plus the biases' own; layer after layer.
    let rows_sq = &mut lead.rows_sq;
    rows_sq.fill(0.0);
    // Whether the rows part's updates were all finite (if it made them).
    let mut rows_finite = true;
    for chunk in &shared.chunks {
        let chunk = read(chunk);
        rows_finite &= chunk.finite;
        let mut ro = 0;
        for r in &chunk.ranges {
            for &p in &chunk.partial[ro..ro + r.len()] {
                rows_sq[r.layer] += p;
            }
            let at = lead.layers[r.layer].0 + r.rows.0;
            lead.gbias[at..at + r.len()].copy_from_slice(&chunk.gb[ro..ro + r.len()]);
            ro += r.len();
        }
    }
    let mut sq = 0.0f32;
    for (&(at, len), rows) in lead.layers.iter().zip(&lead.rows_sq) {
        sq += rows + scale_sum_sq(&mut lead.gbias[at..at + len], shared.inv);
    }
    let rule = sgd.update_rule(sq)?;
    let same = |a: Update, b: Update| {
        [a.scale, a.decay, a.momentum, a.lr].map(f32::to_bits)
            == [b.scale, b.decay, b.momentum, b.lr].map(f32::to_bits)
    };
    // Whether the rows part already applied the right rule.
    let speculated = lead.speculate && same(rule, guess);
    if !speculated {
        // Passes 2 and 3 with the rule that the norm gave.
        shared.set_rule(Some(rule));
        shared.attempt.fetch_add(1, Ordering::Relaxed);
        shared.phase(Job::Update, team)?;
    }
    lead.speculate = sgd.config().clip_norm.is_none() || rule.scale == 1.0;
    let mut finite = if speculated {
        rows_finite
    } else {
        shared.chunks.iter().all(|c| read(c).finite)
    };
    {
        let bias = read(&shared.bias);
        for &(at, len) in &lead.layers {
            let v = shared.momentum.then(|| &lead.vbias[at..at + len]);
            finite &= rule.direction(&mut lead.gbias[at..at + len], &bias[at..at + len], v);
        }
    }
    if !finite {
        return Err(Error::NonFinite("update"));
    }
    // Commit: the biases here, the weights by switching every chunk's buffers.
    {
        let mut bias = shared.bias.write().unwrap_or_else(PoisonError::into_inner);
        for &(at, len) in &lead.layers {
            let u = &lead.gbias[at..at + len];
            let v = shared.momentum.then(|| &mut lead.vbias[at..at + len]);
            rule.commit(&mut bias[at..at + len], u, v);
        }
    }
    shared
        .committed
        .store(shared.attempt.load(Ordering::Relaxed), Ordering::Relaxed);
    shared.commits.fetch_add(1, Ordering::Relaxed);
    *stats = batch_stats;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tinytrain::Model;

    use std::ops::ControlFlow;

    use tinytrain::{init_seeded, Error, Init, Rng, Sgd, SgdConfig, SoftmaxCrossEntropy};

    use super::{partition_rows, Order, ParallelTrainer, Rows, MAX_THREADS, THREADS_RANGE};
    use crate::data;
    use crate::nets::{Binary, Csv8Reg, Digits, LossKind, Mnist, Sine};
    use crate::sync::{third_fails, NO_THREAD};

    fn trainer(threads: usize) -> Result<ParallelTrainer<Digits, SoftmaxCrossEntropy>, Error> {
        let mut net = tinytrain::host::boxed::<Digits>();
        init_seeded(&mut *net, Init::PyTorchDefault, 5);
        let sgd = Sgd::new(SgdConfig::new(0.05))?;
        ParallelTrainer::new(net, SoftmaxCrossEntropy, sgd, threads)
    }

    #[test]
    fn thread_counts_outside_1_to_1024_are_refused() {
        assert_eq!(
            THREADS_RANGE,
            format!("threads must be between 1 and {MAX_THREADS}")
        );
        for (threads, ok) in [
            (0, false),
            (1, true),
            (MAX_THREADS, true),
            (MAX_THREADS + 1, false),
        ] {
            match trainer(threads) {
                Ok(t) => assert!(ok && t.threads() == threads),
                Err(e) => assert!(!ok && e == Error::InvalidParam(THREADS_RANGE)),
            }
        }
    }

    #[test]
    fn a_worker_the_system_cannot_start_is_an_error_and_the_model_stays() {
        let set = data::digits()
            .train
            .to_train_set::<64, 10>(LossKind::SoftmaxCe)
            .unwrap();
        // Batch 64 shares among 3 threads: the leader and workers 1 and 2.
        let mut t = trainer(3).unwrap();
        assert_eq!(t.threads_for(64), 3);
        let before = t.net().clone();
        let train = |t: &mut ParallelTrainer<Digits, SoftmaxCrossEntropy>| {
            t.train(
                &set,
                64,
                1,
                Order::Shuffled,
                &mut Rng::seed(1),
                |_| {},
                |_| ControlFlow::Continue(()),
            )
        };
        // Worker 1 starts, worker 2 cannot: worker 1 is let go, no step runs.
        t.spawner = third_fails;
        assert_eq!(train(&mut t), Err(Error::InvalidParam(NO_THREAD)));
        assert_eq!(*t.net(), before);
        assert_eq!(t.epochs_done(), 0);
        // With threads the system can start, the same trainer trains.
        t.spawner = crate::sync::system_threads;
        train(&mut t).unwrap();
        assert_ne!(*t.net(), before);
        assert_eq!(t.epochs_done(), 1);
    }

    /// Every row of every layer exactly once, in order, in `chunks` chunks
    /// (fewer only when there are fewer rows); returns rows per chunk.
    fn check_partition<N: Model>(chunks: usize) -> Vec<usize> {
        let net = Box::new(N::ZERO);
        let plan = partition_rows(&*net, chunks);
        assert!(!plan.is_empty() && plan.len() <= chunks);
        let mut next = (0, 0);
        for ranges in &plan {
            assert!(!ranges.is_empty());
            for r in ranges {
                if r.layer != next.0 {
                    // The previous layer ended with its last row.
                    assert_eq!(next.1, net.layer(next.0).unwrap().outputs);
                    next = (next.0 + 1, 0);
                }
                assert_eq!((r.layer, r.rows.0), next, "{ranges:?}");
                assert!(r.len() > 0);
                let layer = net.layer(r.layer).unwrap();
                assert!(r.rows.1 <= layer.outputs);
                assert_eq!(r.inputs, layer.inputs);
                next = (r.layer, r.rows.1);
            }
        }
        let last = net.layer(N::LAYERS - 1).unwrap();
        assert_eq!(next, (N::LAYERS - 1, last.outputs));
        plan.iter()
            .map(|c| c.iter().map(|r| r.len()).sum())
            .collect()
    }

    #[test]
    fn rows_are_partitioned_whole_in_order_and_by_cost() {
        for chunks in [1, 2, 3, 8, 16, 30] {
            check_partition::<Digits>(chunks);
            check_partition::<Mnist>(chunks);
            check_partition::<Sine>(chunks);
            check_partition::<Binary>(chunks);
            check_partition::<Csv8Reg>(chunks);
        }
        // W2: the 32 ReLU rows count half their 64 inputs, like the 10
        // dense output rows of 32, so two chunks get 21 rows each.
        assert_eq!(check_partition::<Digits>(2), [21, 21]);
        // Without a ReLU every row counts its inputs in full: Binary's first
        // layer (32 rows of 2 inputs) is cheap next to its rows of 32.
        assert_eq!(check_partition::<Binary>(2), [32 + 16, 16 + 1]);
        // So do ReLU rows too short to skip zero deltas: Csv8Reg's first
        // layer (8 inputs) counts 9 a row, its second (32 inputs) 17.
        assert_eq!(check_partition::<Csv8Reg>(2), [32 + 9, 23 + 1]);
    }

    #[test]
    fn rows_start_on_32_bytes_and_hold_what_they_were_given() {
        let v: Vec<[f32; 3]> = (0..5).map(|r| [r as f32, -1.0, 0.5 * r as f32]).collect();
        let mut rows = Rows::from(v.clone());
        assert_eq!(&rows[..], &v[..]);
        assert_eq!(rows.as_ptr() as usize % 32, 0);
        rows[4][1] = 9.0;
        assert_eq!(rows.iter().map(|r| r[1]).sum::<f32>(), 5.0);
        let wide: Rows<64> = (0..3).map(|r| [r as f32; 64]).collect();
        assert_eq!(wide.len(), 3);
        for r in wide.iter() {
            assert_eq!(r.as_ptr() as usize % 32, 0);
        }
        let mut grown = Rows::<4>::default();
        assert!(grown.is_empty());
        for r in 0..3 {
            grown.push([r as f32; 4]);
        }
        assert_eq!(&grown[..], &[[0.0; 4], [1.0; 4], [2.0; 4]]);
    }
}
