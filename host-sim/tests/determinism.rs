//! Weights after training are bit-identical for every thread count and
//! identical to training with `tinytrain::Trainer` directly.

use std::ops::ControlFlow;

use tinytrain::{
    init_seeded, EpochStats, Gradients, Init, Model, Rng, Sgd, SgdConfig, SoftmaxCrossEntropy,
    Trainer, Velocity,
};
use tinytrain_sim::nets::{Digits, LossKind};
use tinytrain_sim::parallel::chunk_plan;
use tinytrain_sim::{data, Order, Pacing, ParallelTrainer, TrainSet};

fn bits<N: Model>(net: &N) -> Vec<u32> {
    (0..N::LAYERS)
        .flat_map(|l| {
            let v = net.layer(l).unwrap();
            v.w.iter()
                .chain(v.b)
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The bundled digits' training rows, as W2 trains on them.
fn digits() -> TrainSet<64, 10> {
    data::digits()
        .train
        .to_train_set::<64, 10>(LossKind::SoftmaxCe)
        .unwrap()
}

fn start() -> Box<Digits> {
    let mut net = tinytrain::host::boxed::<Digits>();
    init_seeded(&mut *net, Init::PyTorchDefault, 5);
    net
}

/// The reference: the core's own single-threaded loop.
fn with_core(
    set: &TrainSet<64, 10>,
    cfg: SgdConfig,
    batch: usize,
    epochs: u32,
) -> (Vec<u32>, Vec<EpochStats>) {
    let mut net = start();
    let mut data = set.clone();
    let mut scratch = <Digits as Model>::SCRATCH;
    let mut grads = Box::new(Gradients::<Digits>::ZERO);
    let mut velocity = Box::new(Velocity::<Digits>::ZERO);
    let sgd = Sgd::new(cfg).unwrap();
    let mut t = if cfg.momentum != 0.0 {
        Trainer::with_momentum(
            &mut *net,
            &mut scratch,
            &mut *grads,
            &mut *velocity,
            SoftmaxCrossEntropy,
            sgd,
        )
    } else {
        Trainer::new(
            &mut *net,
            &mut scratch,
            &mut *grads,
            SoftmaxCrossEntropy,
            sgd,
        )
        .unwrap()
    };
    let mut order = vec![0u32; set.len()];
    let mut rng = Rng::seed(99);
    let stats = (0..epochs)
        .map(|_| t.epoch(&mut data, &mut order, batch, &mut rng).unwrap())
        .collect();
    (bits(&*net), stats)
}

fn with_threads(
    set: &TrainSet<64, 10>,
    cfg: SgdConfig,
    batch: usize,
    epochs: u32,
    threads: usize,
) -> (Vec<u32>, Vec<EpochStats>) {
    let sgd = Sgd::new(cfg).unwrap();
    let mut t = ParallelTrainer::new(start(), SoftmaxCrossEntropy, sgd, threads).unwrap();
    // Profiling (on for odd thread counts) must not change a bit, nor must
    // steps that switch between the team and the leader alone.
    let profiling = threads % 2 == 1;
    t.set_profiling(profiling);
    let alternate = match threads {
        3 => Some(1),
        8 => Some(3),
        _ => None,
    };
    if let Some(n) = alternate {
        t.set_pacing(Pacing::Alternate(n));
    }
    let mut rng = Rng::seed(99);
    let mut stats = Vec::new();
    t.train(
        set,
        batch,
        epochs,
        Order::Shuffled,
        &mut rng,
        |_| {},
        |e| {
            stats.push(e.stats);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(t.epochs_done(), epochs);
    let steps = u64::from(epochs) * (set.len() / batch) as u64;
    let (alone, shared) = t.steps_alone();
    if t.threads_for(batch) == 1 {
        assert_eq!((alone, shared), (0, 0));
    } else {
        assert_eq!(shared, steps);
        if let Some(n) = alternate {
            // Runs of n steps on the team, then n alone, from the first step.
            let period = 2 * u64::from(n);
            let want =
                steps / period * u64::from(n) + (steps % period).saturating_sub(u64::from(n));
            assert_eq!(alone, want);
        }
    }
    match t.profile() {
        Some(p) => {
            assert!(profiling);
            assert_eq!(p.steps, u64::from(epochs) * (set.len() / batch) as u64);
            assert_eq!(p.threads.len(), t.threads_for(batch));
            assert!(p.step > std::time::Duration::ZERO);
            // Forward passes and gradient rows took time on some thread (a
            // thread the OS did not run may have had its chunks taken over).
            let zero = std::time::Duration::ZERO;
            assert!(p.threads.iter().any(|th| th.samples > zero), "{p:?}");
            assert!(p.threads.iter().any(|th| th.rows > zero), "{p:?}");
        }
        None => assert!(!profiling),
    }
    (bits(t.net()), stats)
}

fn check(cfg: SgdConfig, batch: usize, epochs: u32) {
    let set = digits();
    let (reference, ref_stats) = with_core(&set, cfg, batch, epochs);
    assert_ne!(reference, bits(&*start()), "training must move the weights");
    for threads in [1, 2, 3, 8] {
        let (got, stats) = with_threads(&set, cfg, batch, epochs, threads);
        let differ = got.iter().zip(&reference).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ, 0,
            "{threads} threads: {differ} weights differ from tinytrain::Trainer"
        );
        for (a, b) in stats.iter().zip(&ref_stats) {
            assert_eq!(
                (a.samples, a.correct, a.loss_sum.to_bits()),
                (b.samples, b.correct, b.loss_sum.to_bits())
            );
        }
    }
}

#[test]
fn plain_sgd_is_bit_identical_for_1_2_3_8_threads_and_the_core() {
    check(SgdConfig::new(0.05), 32, 3);
}

#[test]
fn momentum_clipping_and_an_odd_batch_are_bit_identical_too() {
    let cfg = SgdConfig {
        momentum: 0.9,
        clip_norm: Some(0.5),
        weight_decay: 1e-4,
        ..SgdConfig::new(0.02)
    };
    check(cfg, 19, 2);
}

#[test]
fn batches_big_enough_for_3_and_8_threads_with_momentum_and_clipping() {
    // Batch 61 on 2410 parameters is worth 8 threads (`threads_for`), so the
    // counts are not capped; clipping at 0.5 or 0.6 clips some steps only,
    // which exercises both the speculative and the separate update phase.
    let t = ParallelTrainer::new(
        start(),
        SoftmaxCrossEntropy,
        Sgd::new(SgdConfig::new(0.05)).unwrap(),
        8,
    )
    .unwrap();
    assert_eq!(t.threads_for(61), 8);
    assert_eq!(t.threads_for(4), 1, "4 × 2410 is too little to share");
    for clip in [0.5, 0.6] {
        let cfg = SgdConfig {
            momentum: 0.5,
            clip_norm: Some(clip),
            weight_decay: 1e-3,
            ..SgdConfig::new(0.05)
        };
        check(cfg, 61, 2);
    }
}

#[test]
fn large_batches_cut_into_more_chunks_are_bit_identical_too() {
    // Batch 256 on 2410 parameters is 37 units of work (`chunk_plan`): 18
    // per thread on 2 threads and 12 on 3, so 4 chunks of each kind per
    // thread; 4 on 8 threads, and batches 32 (W2) and 61, cut into the
    // fewest chunks: 2 samples chunks and 1 rows chunk per thread, and no
    // more samples chunks than eights of samples (but one per thread): 61
    // samples on 8 threads go in chunks of 7 and 8.
    assert_eq!(chunk_plan::<Digits>(2, 256), (8, 8));
    assert_eq!(chunk_plan::<Digits>(3, 256), (12, 12));
    assert_eq!(chunk_plan::<Digits>(8, 256), (16, 8));
    assert_eq!(chunk_plan::<Digits>(2, 32), (4, 2));
    assert_eq!(chunk_plan::<Digits>(8, 61), (8, 8));
    assert_eq!(chunk_plan::<Digits>(1, 256), (1, 1));
    let cfg = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(0.05)
    };
    check(cfg, 256, 2);
}

#[test]
fn a_non_finite_update_leaves_the_model_as_it_was() {
    let set = digits();
    // An input column that is zero in every sample: a huge weight on it does
    // not disturb the forward pass, but decay makes its update overflow.
    let col = (0..64)
        .find(|&i| set.x.iter().all(|x| x[i] == 0.0))
        .expect("digits have an always-blank pixel");
    let mut net = start();
    net.layer_mut(0).unwrap().w[5 * 64 + col] = 3e38;
    let cfg = SgdConfig {
        weight_decay: 1.0,
        momentum: 0.9,
        ..SgdConfig::new(10.0)
    };
    // Batches of 64 go through the threads' two parts; batches of 4 are too
    // small to share (4 × 2410 parameters) and take the core's own path.
    for batch in [64, 4] {
        refused_alike(&set, &net, cfg, batch);
    }
}

#[test]
fn a_non_finite_input_is_refused_alike_on_every_path() {
    let clean = digits();
    // The order `refused_alike` trains in (seed 1), as the core draws it.
    let mut order: Vec<u32> = (0..clean.len() as u32).collect();
    tinytrain::rng::shuffle(&mut order, &mut Rng::seed(1));
    // A NaN in the first batch's sample at `at`: the core adds the samples
    // before it, then refuses it. The simulator's paths must give the same
    // error and leave the model as it was: four samples at a time (batch 4,
    // the third sample), the rest of a batch one by one (batch 6, the
    // sixth), and the threads' two parts (batch 64).
    for (at, batch) in [(2, 4), (5, 6), (2, 64), (40, 64)] {
        let mut set = clean.clone();
        set.x[order[at] as usize][7] = f32::NAN;
        refused_alike(&set, &start(), SgdConfig::new(0.05), batch);
    }
}

/// The core refuses the first step of `net` and leaves it alone; so does
/// the simulator on 1, 2, 3 and 8 threads, with the same error.
fn refused_alike(set: &TrainSet<64, 10>, net: &Digits, cfg: SgdConfig, batch: usize) {
    let before = bits(net);
    let mut core_net = Box::new(net.clone());
    let mut scratch = <Digits as Model>::SCRATCH;
    let mut grads = Box::new(Gradients::<Digits>::ZERO);
    let mut velocity = Box::new(Velocity::<Digits>::ZERO);
    let mut data = set.clone();
    let mut order = vec![0u32; set.len()];
    let mut core = Trainer::with_momentum(
        &mut *core_net,
        &mut scratch,
        &mut *grads,
        &mut *velocity,
        SoftmaxCrossEntropy,
        Sgd::new(cfg).unwrap(),
    );
    let core_err = core
        .epoch(&mut data, &mut order, batch, &mut Rng::seed(1))
        .unwrap_err();
    assert_eq!(bits(&*core_net), before);
    for threads in [1, 2, 3, 8] {
        let mut t = ParallelTrainer::new(
            Box::new(net.clone()),
            SoftmaxCrossEntropy,
            Sgd::new(cfg).unwrap(),
            threads,
        )
        .unwrap();
        let err = t
            .train(
                set,
                batch,
                1,
                Order::Shuffled,
                &mut Rng::seed(1),
                |_| {},
                |_| ControlFlow::Continue(()),
            )
            .unwrap_err();
        assert_eq!(err, core_err, "{threads} threads, batch {batch}");
        assert_eq!(bits(t.net()), before, "{threads} threads, batch {batch}");
    }
}

#[test]
fn steps_too_small_to_share_take_the_cores_path_with_the_same_bits() {
    // Batch 4 on 2410 parameters is under 16,384 samples × parameters: one
    // thread (see above), on the core's own path (four samples at a time),
    // whatever the count asked.
    let cfg = SgdConfig {
        momentum: 0.9,
        clip_norm: Some(1.0),
        ..SgdConfig::new(0.02)
    };
    check(cfg, 4, 2);
}
