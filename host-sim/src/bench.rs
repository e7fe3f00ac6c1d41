//! The standard workloads W1, W2 and W3 (`shared/WORKLOADS.md`) at several
//! thread counts, with speedups against the 1-thread run of the same
//! invocation.

use std::ops::ControlFlow;
use std::time::Instant;

use serde::Serialize;
use tinytrain::{init_seeded, Error, Init, Model, Mse, Rng, Sgd, SgdConfig, SoftmaxCrossEntropy};

use crate::nets::{Digits, LossKind, Mnist, Xor};
use crate::parallel::{threads_for, Order, ParallelTrainer, TrainSet, MAX_THREADS, THREADS_RANGE};
use crate::sync::{system_threads, together};
use crate::{data, latency, peak, Pacing};

/// The W1 initial weights (WORKLOADS.md): W1 8×2, b1, W2 1×8, b2.
pub const XOR_INIT: [f32; 33] = [
    0.2739, -0.4604, -0.9181, -0.9669, 0.6265, 0.8255, 0.2133, 0.459, 0.0872, 0.8701, 0.6317,
    -0.9945, 0.7148, -0.9328, 0.4593, -0.6487, 0.7264, 0.0829, -0.4006, -0.1546, -0.9434, -0.7514,
    0.3412, 0.2944, 0.2308, -0.2326, 0.9944, 0.9617, 0.3711, 0.3009, 0.3769, -0.2222, -0.7298,
];

/// How much work each measurement does.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BenchConfig {
    /// W1 epochs (full batch of 4) per run.
    pub w1_epochs: u32,
    /// W2 epochs per run (the median epoch time counts).
    pub w2_epochs: u32,
    /// W3 training samples (one epoch of ⌊n/64⌋ batches after up to 20 warm-up steps).
    pub w3_samples: usize,
    /// Rounds; each round runs every thread count once. Figures are medians.
    pub rounds: usize,
}

impl BenchConfig {
    /// The workloads as specified.
    pub const FULL: Self = BenchConfig {
        w1_epochs: 10_000,
        w2_epochs: 30,
        w3_samples: 60_000,
        rounds: 3,
    };
    /// A run of a few seconds, for smoke tests.
    pub const QUICK: Self = BenchConfig {
        w1_epochs: 200,
        w2_epochs: 2,
        w3_samples: 256,
        rounds: 1,
    };
}

/// One workload at one thread count.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// W1, W2 or W3.
    pub workload: String,
    /// Threads asked for.
    pub threads: usize,
    /// Threads the workload's steps actually ran on ([`threads_for`]): fewer
    /// when a step is too small to share.
    pub threads_used: usize,
    /// Of the steps that had a team of threads, the percentage that the
    /// pacing ran on the leader alone ([`Pacing`]), over all rounds.
    pub percent_steps_alone: f64,
    /// Median training samples per second.
    pub samples_per_s: f64,
    /// Smallest and largest over the rounds.
    pub min_samples_per_s: f64,
    /// Largest over the rounds.
    pub max_samples_per_s: f64,
    /// Median over rounds of (this / 1 thread in the same round).
    pub speedup: f64,
    /// speedup / threads.
    pub efficiency: f64,
    /// Median over rounds of (total samples/s of `threads` independent
    /// 1-thread runs of the workload at the same time / one 1-thread run just
    /// before), measured in rounds of their own after the main ones: what the
    /// machine gives this workload with no sharing between threads at all,
    /// the ceiling for `speedup`. 1 at 1 thread.
    pub independent_speedup: f64,
    /// FLOP per training sample (6 × parameters).
    pub flop_per_sample: f64,
    /// samples/s × FLOP per sample / measured peak at this thread count.
    pub percent_of_peak: f64,
}

/// Everything `bench` measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Work per measurement.
    pub config: BenchConfig,
    /// Logical CPUs available to this process.
    pub available_cores: usize,
    /// The FMA kernel used for the peak.
    pub peak_kernel: String,
    /// Peak GFLOP/s per thread count (measured, or given on the command line).
    pub peak_gflops: Vec<(usize, f64)>,
    /// How the trainers chose between their team and the leader alone:
    /// `adaptive`, `team` or `alternate N` ([`Pacing`]).
    pub pacing: String,
    /// Per round, the round trip of a cache line between two threads in
    /// nanoseconds ([`latency::round_trip_ns`]), measured just before the
    /// round's runs on more than one thread (empty without them).
    pub round_trip_ns: Vec<f64>,
    /// One row per workload and thread count.
    pub rows: Vec<Row>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

fn load_flat<N: Model>(net: &mut N, values: &[f32]) {
    let mut k = 0;
    for l in 0..N::LAYERS {
        if let Some(layer) = net.layer_mut(l) {
            for v in layer.w.iter_mut().chain(layer.b.iter_mut()) {
                *v = values[k];
                k += 1;
            }
        }
    }
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Training samples per second.
    pub rate: f64,
    /// [`ParallelTrainer::steps_alone`] at the end: (steps alone, steps
    /// with a team).
    pub alone: (u64, u64),
}

/// W1: 10,000 (or `epochs`) full-batch epochs from the fixed weights.
pub fn w1(threads: usize, epochs: u32, pacing: Pacing) -> Result<Run, Error> {
    let x = data::xor().train;
    let set: TrainSet<2, 1> = x
        .to_train_set(LossKind::Mse)
        .unwrap_or_else(|e| unreachable!("xor fits its network: {e}"));
    let mut net = tinytrain::host::boxed::<Xor>();
    load_flat(&mut *net, &XOR_INIT);
    let sgd = Sgd::new(SgdConfig::new(0.5))?;
    let mut t = ParallelTrainer::new(net, Mse, sgd, threads)?;
    t.set_pacing(pacing);
    let start = Instant::now();
    t.train(
        &set,
        4,
        epochs,
        Order::InOrder,
        &mut Rng::seed(0),
        |_| {},
        |_| ControlFlow::Continue(()),
    )?;
    Ok(Run {
        rate: 4.0 * f64::from(epochs) / start.elapsed().as_secs_f64(),
        alone: t.steps_alone(),
    })
}

/// W2: digits 64-32-10, B = 32, lr 0.05; samples/s from the median epoch time.
pub fn w2(
    set: &TrainSet<64, 10>,
    threads: usize,
    epochs: u32,
    pacing: Pacing,
) -> Result<Run, Error> {
    let mut net = tinytrain::host::boxed::<Digits>();
    init_seeded(&mut *net, Init::PyTorchDefault, 1);
    let sgd = Sgd::new(SgdConfig::new(0.05))?;
    let mut t = ParallelTrainer::new(net, SoftmaxCrossEntropy, sgd, threads)?;
    t.set_pacing(pacing);
    let mut times = Vec::new();
    let mut last = Instant::now();
    t.train(
        set,
        32,
        epochs,
        Order::Shuffled,
        &mut Rng::seed(2),
        |_| {},
        |_| {
            let now = Instant::now();
            times.push((now - last).as_secs_f64());
            last = now;
            ControlFlow::Continue(())
        },
    )?;
    let used = (set.len() / 32 * 32) as f64;
    Ok(Run {
        rate: used / median(&mut times),
        alone: t.steps_alone(),
    })
}

/// W3: 784-128-64-10, B = 64, lr 0.01; one epoch after 20 warm-up steps.
pub fn w3(set: &TrainSet<784, 10>, threads: usize, pacing: Pacing) -> Result<Run, Error> {
    let mut net = tinytrain::host::boxed::<Mnist>();
    init_seeded(&mut *net, Init::PyTorchDefault, 3);
    let sgd = Sgd::new(SgdConfig::new(0.01))?;
    let mut t = ParallelTrainer::new(net, SoftmaxCrossEntropy, sgd, threads)?;
    t.set_pacing(pacing);
    let mut rng = Rng::seed(4);
    let mut epoch = |t: &mut ParallelTrainer<Mnist, SoftmaxCrossEntropy>, data| {
        t.train(
            data,
            64,
            1,
            Order::Shuffled,
            &mut rng,
            |_| {},
            |_| ControlFlow::Continue(()),
        )
    };
    // 20 warm-up steps (fewer if the set is smaller).
    let w = set.len().min(20 * 64);
    let warm = TrainSet {
        x: set.x[..w].iter().copied().collect(),
        t: set.t[..w].to_vec(),
    };
    epoch(&mut t, &warm)?;
    let before = t.steps_alone();
    let start = Instant::now();
    epoch(&mut t, set)?;
    let rate = (set.len() / 64 * 64) as f64 / start.elapsed().as_secs_f64();
    let after = t.steps_alone();
    Ok(Run {
        rate,
        alone: (after.0 - before.0, after.1 - before.1),
    })
}

/// Runs `run` (which returns a rate) on `copies` threads started together;
/// their total rate over the wall time of all of them: each copy's rate
/// times its own run time, summed, over the time from the first start to the
/// last end. Copies that overlap add up; copies the OS ran one after the
/// other (more copies than cores, short runs) count as one.
fn at_once(copies: usize, run: impl Fn() -> Result<f64, Error> + Sync) -> Result<f64, Error> {
    let spans = together(copies, system_threads, || {
        let t0 = Instant::now();
        let rate = run();
        (t0, Instant::now(), rate)
    })?
    .into_iter()
    .map(|(t0, t1, rate)| Ok((t0, t1, rate?)))
    .collect::<Result<Vec<_>, Error>>()?;
    let first = spans.iter().map(|s| s.0).min();
    let last = spans.iter().map(|s| s.1).max();
    let wall = match (first, last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => return Ok(0.0),
    };
    let work: f64 = spans
        .iter()
        .map(|(t0, t1, rate)| rate * (*t1 - *t0).as_secs_f64())
        .sum();
    Ok(work / wall)
}

fn flop_per_sample<N: Model>() -> f64 {
    6.0 * N::PARAMS as f64
}

/// Runs every workload at every thread count in `threads` (which should
/// start with 1: speedups are against it), the trainers paced by `pacing`.
/// `peak` gives GFLOP/s per thread count if known; otherwise it is
/// measured. `progress` is told what runs.
pub fn run(
    threads: &[usize],
    cfg: BenchConfig,
    peak_given: Option<f64>,
    pacing: Pacing,
    mut progress: impl FnMut(&str),
) -> Result<Report, Error> {
    if threads.iter().any(|t| !(1..=MAX_THREADS).contains(t)) {
        return Err(Error::InvalidParam(THREADS_RANGE));
    }
    let digits = data::digits()
        .train
        .to_train_set::<64, 10>(LossKind::SoftmaxCe)
        .unwrap_or_else(|e| unreachable!("digits fit W2: {e}"));
    progress("generating W3 data");
    let mnist = data::mnist_shape(cfg.w3_samples.max(64), 7)
        .train
        .to_train_set::<784, 10>(LossKind::SoftmaxCe)
        .unwrap_or_else(|e| unreachable!("W3 data fits W3: {e}"));
    let names = ["W1", "W2", "W3"];
    // samples[w][t][round]
    let mut samples: Vec<Vec<Vec<Run>>> = vec![vec![Vec::new(); threads.len()]; names.len()];
    let mut round_trip_ns = Vec::new();
    // alone[w][t][round]: total rate of `t` independent 1-thread runs over
    // the rate of one run just before.
    let mut alone: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); threads.len()]; names.len()];
    for round in 0..cfg.rounds.max(1) {
        for (ti, &t) in threads.iter().enumerate() {
            if t > 1 && round_trip_ns.len() == round {
                progress(&format!("round {}: core-to-core round trip", round + 1));
                round_trip_ns.push(latency::round_trip_ns(20_000, 5));
            }
            progress(&format!("round {}: {t} thread(s)", round + 1));
            samples[0][ti].push(w1(t, cfg.w1_epochs, pacing)?);
            samples[1][ti].push(w2(&digits, t, cfg.w2_epochs, pacing)?);
            samples[2][ti].push(w3(&mnist, t, pacing)?);
        }
    }
    // The machine's ceiling, in rounds of their own after the main ones (so
    // that long runs on every core do not slow the main rounds' 1-thread
    // runs that follow them): each workload at 1 thread, then as many
    // separate 1-thread runs at once as threads, against it.
    for round in 0..cfg.rounds.max(1) {
        for (ti, &t) in threads.iter().enumerate().filter(|(_, &t)| t > 1) {
            progress(&format!(
                "ceiling round {}: {t} independent 1-thread runs at once",
                round + 1
            ));
            let one = Pacing::Team;
            let w1 = || w1(1, cfg.w1_epochs, one).map(|r| r.rate);
            let w2 = || w2(&digits, 1, cfg.w2_epochs, one).map(|r| r.rate);
            let w3 = || w3(&mnist, 1, one).map(|r| r.rate);
            alone[0][ti].push(at_once(t, w1)? / w1()?);
            alone[1][ti].push(at_once(t, w2)? / w2()?);
            alone[2][ti].push(at_once(t, w3)? / w3()?);
        }
    }
    progress("measuring the FMA peak");
    let peak_gflops: Vec<(usize, f64)> = threads
        .iter()
        .map(|&t| {
            let gflops = match peak_given {
                Some(p) => p * t as f64,
                None => peak::gflops(t, 0.2, 5)?,
            };
            Ok((t, gflops))
        })
        .collect::<Result<_, Error>>()?;
    let flops = [
        flop_per_sample::<Xor>(),
        flop_per_sample::<Digits>(),
        flop_per_sample::<Mnist>(),
    ];
    let used = |w: usize, t: usize| match w {
        0 => threads_for::<Xor>(t, 4),
        1 => threads_for::<Digits>(t, 32),
        _ => threads_for::<Mnist>(t, 64),
    };
    let mut rows = Vec::new();
    for (w, name) in names.iter().enumerate() {
        let base = &samples[w][0];
        for (ti, &t) in threads.iter().enumerate() {
            let runs: Vec<f64> = samples[w][ti].iter().map(|r| r.rate).collect();
            let mut ratios: Vec<f64> = samples[w][ti]
                .iter()
                .zip(base)
                .map(|(a, b)| a.rate / b.rate)
                .collect();
            let (steps_alone, steps_shared) = samples[w][ti]
                .iter()
                .fold((0, 0), |(a, s), r| (a + r.alone.0, s + r.alone.1));
            let speedup = median(&mut ratios);
            let independent_speedup = if t > 1 {
                median(&mut alone[w][ti])
            } else {
                1.0
            };
            let mut sorted = runs.clone();
            let sps = median(&mut sorted);
            let peak = peak_gflops[ti].1 * 1e9;
            rows.push(Row {
                workload: (*name).to_string(),
                threads: t,
                threads_used: used(w, t),
                percent_steps_alone: 100.0 * steps_alone as f64 / steps_shared.max(1) as f64,
                samples_per_s: sps,
                min_samples_per_s: sorted[0],
                max_samples_per_s: sorted[sorted.len() - 1],
                speedup,
                efficiency: speedup / t as f64,
                independent_speedup,
                flop_per_sample: flops[w],
                percent_of_peak: 100.0 * sps * flops[w] / peak,
            });
        }
    }
    Ok(Report {
        config: cfg,
        available_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        peak_kernel: peak::kernel_name().to_string(),
        peak_gflops,
        pacing: match pacing {
            Pacing::Adaptive => "adaptive".into(),
            Pacing::Team => "team".into(),
            Pacing::Alternate(n) => format!("alternate {n}"),
        },
        round_trip_ns,
        rows,
    })
}

/// A rate with an SI suffix: `1.23 M`, `45.6 k`, `789`.
pub fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The report as a Markdown table.
pub fn table(r: &Report) -> String {
    let mut s = String::from(
        "| workload | threads | samples/s | min..max | speedup vs 1 thread | efficiency | independent runs | % of FP32 peak |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for row in &r.rows {
        let threads = if row.threads_used != row.threads {
            format!("{} (ran on {})", row.threads, row.threads_used)
        } else if row.percent_steps_alone > 0.0 {
            format!("{} (alone {:.0} %)", row.threads, row.percent_steps_alone)
        } else {
            row.threads.to_string()
        };
        s += &format!(
            "| {} | {} | {} | {}..{} | {:.2}x | {:.0} % | {:.2}x | {:.2} % |\n",
            row.workload,
            threads,
            si(row.samples_per_s),
            si(row.min_samples_per_s),
            si(row.max_samples_per_s),
            row.speedup,
            100.0 * row.efficiency,
            row.independent_speedup,
            row.percent_of_peak
        );
    }
    if r.rows.iter().any(|row| row.threads_used < row.threads) {
        s += "\n\"(ran on N)\": a step of that workload is too small to share between \
              threads, so the trainer used N; the figures are what that run did.\n";
    }
    if r.rows.iter().any(|row| row.percent_steps_alone > 0.0) {
        s += "\n\"(alone P %)\": P % of the steps ran on the trainer's leading thread \
              alone: its timed tries of that way, and stretches where that way was the \
              faster one (see --fixed-team); the figures are what that run did.\n";
    }
    if !r.round_trip_ns.is_empty() {
        s += &format!(
            "\nCore-to-core round trip of a cache line, before each round's threaded runs: {} ns\n",
            r.round_trip_ns
                .iter()
                .map(|ns| format!("{ns:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    s += "\n\"independent runs\": as many separate 1-thread runs of the workload as \
          threads, at the same time, against 1 thread (median over rounds): the speedup \
          the machine allows this workload when threads share nothing.\n";
    let one = r.peak_gflops.first().map_or(1.0, |p| p.1);
    s += &format!(
        "\nFMA-loop scaling (the ceiling for this run; below the thread count when other \
         processes use the cores): {}\n",
        r.peak_gflops
            .iter()
            .map(|(t, g)| format!("{:.2}x at {t}", g / one))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s += &format!(
        "FP32 peak ({}): {}\n",
        r.peak_kernel,
        r.peak_gflops
            .iter()
            .map(|(t, g)| format!("{g:.0} GFLOP/s at {t} thread(s)"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}
