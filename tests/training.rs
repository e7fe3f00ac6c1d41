//! Training modes: momentum, per-sample updates, streams, schedules, shuffles.

use tinytrain::{
    mlp, BinaryCrossEntropy, Dense, Error, Gradients, Identity, Init, Model, Mse, Network, Relu,
    Rng, Samples, Schedule, Sgd, SgdConfig, Sigmoid, SoftmaxCrossEntropy, Stream, Tanh, Target,
    Trainer, Velocity,
};

type Xor = mlp![Dense<2, 8, Tanh>, Dense<8, 1, Sigmoid>];
const X: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
const T: [[f32; 1]; 4] = [[0.0], [1.0], [1.0], [0.0]];

fn xor_net(seed: u64) -> Xor {
    let mut n = Xor::ZERO;
    tinytrain::init_seeded(&mut n, Init::XavierUniform, seed);
    n
}

fn xor_solved(n: &Xor) -> bool {
    let mut s = Xor::SCRATCH;
    X.iter()
        .zip(&T)
        .all(|(x, t)| (n.forward(x, &mut s)[0] - t[0]).abs() < 0.2)
}

#[test]
fn momentum_trains_xor_faster_than_plain_sgd() {
    let run = |momentum: f32| {
        let mut n = xor_net(1);
        let (mut s, mut g, mut v) = (Xor::SCRATCH, Gradients::<Xor>::ZERO, Velocity::<Xor>::ZERO);
        let sgd = Sgd::new(SgdConfig {
            momentum,
            ..SgdConfig::new(0.2)
        })
        .unwrap();
        let mut data = Samples::new(&X, &T).unwrap();
        let mut t = Trainer::with_momentum(&mut n, &mut s, &mut g, &mut v, Mse, sgd);
        let mut epochs = None;
        for e in 0..20_000 {
            if t.epoch_in_order(&mut data, 4).unwrap().loss() < 0.01 {
                epochs = Some(e);
                break;
            }
        }
        (epochs, n)
    };
    let (plain, _) = run(0.0);
    let (fast, n) = run(0.9);
    assert!(xor_solved(&n));
    assert!(
        fast.unwrap() < plain.unwrap(),
        "momentum {fast:?} vs plain {plain:?}"
    );
}

#[test]
fn per_sample_training_needs_no_gradients_and_solves_xor() {
    let mut n = xor_net(2);
    let mut s = Xor::SCRATCH;
    let sgd = Sgd::new(SgdConfig::new(0.5)).unwrap();
    let mut data = Samples::new(&X, &T).unwrap();
    let mut rng = Rng::seed(5);
    let mut order = [0u16; 4];
    let mut t = Trainer::per_sample(&mut n, &mut s, Mse, sgd).unwrap();
    for _ in 0..5000 {
        t.epoch(&mut data, &mut order, 1, &mut rng).unwrap();
    }
    assert!(xor_solved(&n));
}

#[test]
fn per_sample_update_equals_a_batch_of_one() {
    // Fused update w −= (lr·δ)·x versus the gradient store: equal within rounding.
    let mut a = xor_net(3);
    let mut b = a.clone();
    let mut s = Xor::SCRATCH;
    let sgd = Sgd::new(SgdConfig::new(0.3)).unwrap();
    let t = Target::Values([1.0]);
    sgd.fit_sample(&mut a, &mut s, &[1.0, 0.0], &t, &Mse)
        .unwrap();
    let mut g = Gradients::<Xor>::ZERO;
    g.accumulate(&b, &mut s, &[1.0, 0.0], &t, &Mse).unwrap();
    sgd.step(&mut b, &mut g, None).unwrap();
    for l in 0..Xor::LAYERS {
        let (p, q) = (a.layer(l).unwrap(), b.layer(l).unwrap());
        for (x, y) in p.w.iter().chain(p.b).zip(q.w.iter().chain(q.b)) {
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{x} vs {y}");
        }
    }
    assert_ne!(a, xor_net(3));
}

/// A generator of a noisy linear rule, one sample at a time, never stored.
struct Line {
    rng: Rng,
    left: usize,
}

impl Stream<2, 1> for Line {
    fn next_sample(&mut self, x: &mut [f32; 2]) -> Option<Result<Target<1>, Error>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        *x = [
            tinytrain::rng::uniform(&mut self.rng, 2.0),
            tinytrain::rng::uniform(&mut self.rng, 2.0),
        ];
        Some(Ok(Target::Values([if x[0] + 0.5 * x[1] > 0.2 {
            1.0
        } else {
            0.0
        }])))
    }
}

#[test]
fn streamed_samples_train_a_classifier() {
    type Net = mlp![Dense<2, 4, Tanh>, Dense<4, 1, Identity>];
    let mut n = Net::ZERO;
    tinytrain::init_seeded(&mut n, Init::XavierUniform, 1);
    let (mut s, mut g) = (Net::SCRATCH, Gradients::<Net>::ZERO);
    let sgd = Sgd::new(SgdConfig::new(0.5)).unwrap();
    let mut t = Trainer::new(&mut n, &mut s, &mut g, BinaryCrossEntropy, sgd).unwrap();
    let mut stream = Line {
        rng: Rng::seed(8),
        left: 6000,
    };
    let first = t.stream(&mut stream, 8, 1000).unwrap();
    assert_eq!(first.samples, 1000);
    let mut last = first;
    while let Ok(s) = t.stream(&mut stream, 8, 1000) {
        if s.samples == 0 {
            break;
        }
        last = s;
    }
    assert!(last.accuracy() > 0.95, "accuracy {}", last.accuracy());
    assert!(last.loss() < first.loss());
}

#[test]
fn schedules_follow_their_formulas() {
    let at = |schedule, epoch| {
        let mut s = Sgd::new(SgdConfig {
            schedule,
            ..SgdConfig::new(0.1)
        })
        .unwrap();
        s.set_epoch(epoch);
        s.lr()
    };
    let close = |a: f32, b: f32| assert!((a - b).abs() < 1e-7, "{a} vs {b}");
    close(at(Schedule::Constant, 7), 0.1);
    close(
        at(
            Schedule::Step {
                every: 3,
                gamma: 0.5,
            },
            2,
        ),
        0.1,
    );
    close(
        at(
            Schedule::Step {
                every: 3,
                gamma: 0.5,
            },
            3,
        ),
        0.05,
    );
    close(
        at(
            Schedule::Step {
                every: 3,
                gamma: 0.5,
            },
            7,
        ),
        0.025,
    );
    close(at(Schedule::Exponential { gamma: 0.9 }, 2), 0.081);
    let cos = Schedule::Cosine {
        epochs: 10,
        min_lr: 0.01,
    };
    close(at(cos, 0), 0.1);
    close(at(cos, 5), 0.055);
    close(at(cos, 10), 0.01);
    close(at(cos, 20), 0.01);
}

#[test]
fn trainer_applies_the_schedule_per_epoch() {
    let mut n = xor_net(4);
    let (mut s, mut g) = (Xor::SCRATCH, Gradients::<Xor>::ZERO);
    let sgd = Sgd::new(SgdConfig {
        schedule: Schedule::Step {
            every: 1,
            gamma: 0.5,
        },
        ..SgdConfig::new(0.4)
    })
    .unwrap();
    let mut data = Samples::new(&X, &T).unwrap();
    let mut t = Trainer::new(&mut n, &mut s, &mut g, Mse, sgd).unwrap();
    t.epoch_in_order(&mut data, 4).unwrap();
    assert_eq!(t.sgd().lr(), 0.4);
    t.epoch_in_order(&mut data, 4).unwrap();
    assert_eq!(t.sgd().lr(), 0.2);
    assert_eq!(t.epochs_done(), 2);
}

#[test]
fn epochs_shuffle_differently_and_reproducibly() {
    let xs: Vec<[f32; 2]> = (0..64).map(|i| [i as f32 / 64.0, 0.0]).collect();
    let ts: Vec<[f32; 1]> = (0..64).map(|i| [(i % 2) as f32]).collect();
    let run = |seed| {
        let mut n = xor_net(1);
        let (mut s, mut g) = (Xor::SCRATCH, Gradients::<Xor>::ZERO);
        let mut data = Samples::new(&xs, &ts).unwrap();
        let mut order = vec![0u32; 64];
        let mut rng = Rng::seed(seed);
        let mut t = Trainer::new(
            &mut n,
            &mut s,
            &mut g,
            Mse,
            Sgd::new(SgdConfig::new(0.1)).unwrap(),
        )
        .unwrap();
        t.epoch(&mut data, &mut order, 8, &mut rng).unwrap();
        let first = order.clone();
        t.epoch(&mut data, &mut order, 8, &mut rng).unwrap();
        (first, order, n)
    };
    let (a1, a2, na) = run(1);
    let (b1, _, nb) = run(1);
    let (c1, _, _) = run(2);
    assert_eq!(a1, b1);
    assert_eq!(na, nb);
    assert_ne!(a1, a2);
    assert_ne!(a1, c1);
    let mut sorted = a1.clone();
    sorted.sort();
    assert_eq!(sorted, (0..64).collect::<Vec<u32>>());
}

#[test]
fn memory_sizes_are_known_at_compile_time() {
    type W2 = mlp![Dense<64, 32, tinytrain::Relu>, Dense<32, 10, Identity>];
    // A RAM budget asserted at compile time: the build fails if it is exceeded.
    const _: () = assert!(W2::TRAIN_BYTES <= 32 * 1024);
    const _: () = assert!(W2::TRAIN_PER_SAMPLE_BYTES <= 10 * 1024);
    assert_eq!(W2::PARAMS, 2410);
    assert_eq!(W2::PARAM_BYTES, 9640);
    assert_eq!(W2::SCRATCH_BYTES, (32 + 10) * 2 * 4);
    assert_eq!(W2::GRAD_BYTES, 9640 + 4);
    assert_eq!(W2::OPTIMIZER_BYTES, 9640);
    assert_eq!(W2::TRAIN_BYTES, 9640 + 336 + 9644 + 9640);
    assert_eq!(W2::INFERENCE_BYTES, 9640 + 336);
}

#[test]
fn deep_networks_of_eight_layers_train() {
    type Deep = mlp![
        Dense<2, 12, Tanh>,
        Dense<12, 10, tinytrain::LeakyRelu>,
        Dense<10, 9, Tanh>,
        Dense<9, 8, tinytrain::Relu>,
        Dense<8, 7, Tanh>,
        Dense<7, 6, Sigmoid>,
        Dense<6, 5, Tanh>,
        Dense<5, 1, Identity>,
    ];
    assert_eq!(Deep::LAYERS, 8);
    let mut n = Deep::ZERO;
    tinytrain::init_seeded(&mut n, Init::XavierUniform, 2);
    let (mut s, mut g, mut v) = (
        Deep::SCRATCH,
        Gradients::<Deep>::ZERO,
        Velocity::<Deep>::ZERO,
    );
    let sgd = Sgd::new(SgdConfig {
        momentum: 0.9,
        clip_norm: Some(1.0),
        ..SgdConfig::new(0.05)
    })
    .unwrap();
    let mut data = Samples::new(&X, &T).unwrap();
    let mut t = Trainer::with_momentum(&mut n, &mut s, &mut g, &mut v, BinaryCrossEntropy, sgd);
    let first = t.epoch_in_order(&mut data, 4).unwrap().loss();
    let mut last = first;
    for _ in 0..3000 {
        last = t.epoch_in_order(&mut data, 4).unwrap().loss();
    }
    assert!(last < 0.05 && last < first, "{first} -> {last}");
}

/// Widths that leave remainders after every block of rows and of lanes.
type Odd = mlp![Dense<37, 19, Relu>, Dense<19, 6, Tanh>, Dense<6, 3, Identity>];

/// Every output and delta of a sample's scratch, as bits.
fn scratch_bits(x: &[f32; 37], s: &<Odd as Model>::Scratch) -> Vec<u32> {
    let mut bits: Vec<u32> = Odd::output(s).iter().map(|v| v.to_bits()).collect();
    for l in 0..Odd::LAYERS {
        let (input, delta) = Odd::layer_io(x, s, l).unwrap();
        bits.extend(input.iter().chain(delta).map(|v| v.to_bits()));
    }
    bits
}

#[test]
fn batched_forward_backward_has_the_bits_of_one_sample_at_a_time() {
    let mut net = Odd::ZERO;
    tinytrain::init_seeded(&mut net, Init::PyTorchDefault, 11);
    let mut rng = Rng::seed(2);
    let xs: Vec<[f32; 37]> = (0..4)
        .map(|_| core::array::from_fn(|_| tinytrain::rng::uniform(&mut rng, 3.0)))
        .collect();
    let ts: Vec<Target<3>> = (0..4).map(|k| Target::Class(k % 3)).collect();
    let loss = SoftmaxCrossEntropy;
    let run = |xs: &[[f32; 37]]| {
        let mut one: Vec<_> = (0..4).map(|_| Odd::SCRATCH).collect();
        let single: Vec<Result<u32, Error>> = one
            .iter_mut()
            .zip(xs.iter().zip(&ts))
            .map(|(s, (x, t))| tinytrain::forward_backward(&net, s, x, t, &loss).map(f32::to_bits))
            .collect();
        let mut many: Vec<_> = (0..4).map(|_| Odd::SCRATCH).collect();
        let [s0, s1, s2, s3] = &mut many[..] else {
            unreachable!()
        };
        let io = [
            (&xs[0], &ts[0], s0),
            (&xs[1], &ts[1], s1),
            (&xs[2], &ts[2], s2),
            (&xs[3], &ts[3], s3),
        ];
        let batched =
            tinytrain::forward_backward_batch(&net, io, &loss).map(|r| r.map(f32::to_bits));
        assert_eq!(&batched[..], &single[..]);
        for k in 0..4 {
            assert_eq!(
                scratch_bits(&xs[k], &many[k]),
                scratch_bits(&xs[k], &one[k]),
                "sample {k}"
            );
        }
        batched
    };
    assert!(run(&xs).iter().all(Result::is_ok));
    // A bad sample in the group is reported as alone, and the others still run.
    let mut bad = xs.clone();
    bad[2][5] = f32::NAN;
    let r = run(&bad);
    assert_eq!(r[2], Err(Error::NonFinite("input")));
    assert!(r[0].is_ok() && r[1].is_ok() && r[3].is_ok());

    // Inference alone: forward_batch against forward.
    let mut a: Vec<_> = (0..2).map(|_| Odd::SCRATCH).collect();
    let [a0, a1] = &mut a[..] else { unreachable!() };
    net.forward_batch([(&xs[0], a0), (&xs[3], a1)]);
    let mut b = Odd::SCRATCH;
    for (k, s) in [(0, &a[0]), (3, &a[1])] {
        let out = net.forward(&xs[k], &mut b);
        let bits = |v: &[f32; 3]| v.map(f32::to_bits);
        assert_eq!(bits(Odd::output(s)), bits(out));
    }
}

/// Every weight and bias of a network, layer after layer, as bits.
fn param_bits<N: Model>(n: &N) -> Vec<u32> {
    (0..N::LAYERS)
        .filter_map(|l| n.layer(l))
        .flat_map(|l| {
            l.w.iter()
                .chain(l.b)
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `Gradients::accumulate_batch` of four samples against four
/// `accumulate` calls: the same losses, sums and count, to the bit; with a
/// bad third sample, the first two added and nothing else.
fn accumulate_batch_matches<N, L, const I: usize, const O: usize>(
    net: &N,
    xs: &[[f32; I]; 4],
    ts: &[Target<O>; 4],
    loss: &L,
) where
    N: Network<I, O>,
    L: tinytrain::Loss<O>,
{
    let mut scratch = N::SCRATCH;
    let mut one = Gradients::<N>::ZERO;
    let mut losses = Vec::new();
    for (x, t) in xs.iter().zip(ts) {
        match one.accumulate(net, &mut scratch, x, t, loss) {
            Ok(l) => losses.push(l.to_bits()),
            Err(e) => {
                losses.push(u32::MAX);
                assert_eq!(e, Error::NonFinite("input"));
                break;
            }
        }
    }
    let mut four = Gradients::<N>::ZERO;
    let mut scratches = [N::SCRATCH, N::SCRATCH, N::SCRATCH, N::SCRATCH];
    let batched = four.accumulate_batch(net, &mut scratches, xs.each_ref(), ts.each_ref(), loss);
    match batched {
        Ok(l) => assert_eq!(l.map(f32::to_bits)[..], losses[..]),
        Err(e) => {
            assert_eq!(e, Error::NonFinite("input"));
            assert_eq!(losses.last(), Some(&u32::MAX));
        }
    }
    assert_eq!(four.count, one.count);
    assert_eq!(param_bits(&four.sum), param_bits(&one.sum));
}

#[test]
fn batched_accumulation_has_the_bits_of_one_sample_at_a_time() {
    // W1's shape (two inputs: the narrow rows of one row per vector lane;
    // a single output: four samples' exponentials), and the odd widths.
    type W1 = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];
    let mut w1 = W1::ZERO;
    tinytrain::init_seeded(&mut w1, Init::PyTorchDefault, 3);
    let ts = T.map(Target::Values);
    accumulate_batch_matches(&w1, &X, &ts, &Mse);
    let mut odd = Odd::ZERO;
    tinytrain::init_seeded(&mut odd, Init::PyTorchDefault, 11);
    let mut rng = Rng::seed(5);
    let mut xs: [[f32; 37]; 4] =
        core::array::from_fn(|_| core::array::from_fn(|_| tinytrain::rng::uniform(&mut rng, 3.0)));
    let ts: [Target<3>; 4] = core::array::from_fn(|k| Target::Class(k % 3));
    accumulate_batch_matches(&odd, &xs, &ts, &SoftmaxCrossEntropy);
    let mut bad = X;
    bad[2][1] = f32::INFINITY;
    accumulate_batch_matches(&w1, &bad, &T.map(Target::Values), &Mse);
    xs[2][7] = f32::NAN;
    accumulate_batch_matches(&odd, &xs, &ts, &SoftmaxCrossEntropy);
}

/// Four classes of points around (±1, ±1), each coordinate ±1.5 (uniform),
/// so that the classes overlap: the best any classifier can do is
/// (2.5 / 3)² = 0.694. Delivered in runs of `RUN` samples of one class (each
/// round of four runs in a fresh random order), as a sensor delivers a
/// gesture held for a while.
struct Runs {
    rng: Rng,
    class: usize,
    left_in_run: usize,
    round: [usize; 4],
    run: usize,
}

const RUN: usize = 25;

impl Runs {
    fn new(seed: u64) -> Self {
        Runs {
            rng: Rng::seed(seed),
            class: 0,
            left_in_run: 0,
            round: [0, 1, 2, 3],
            run: 4,
        }
    }

    fn point(rng: &mut Rng, class: usize) -> [f32; 2] {
        let centre = [[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]][class];
        let mut noise = || (tinytrain::rng::unit_f32(rng) - 0.5) * 3.0;
        [centre[0] + noise(), centre[1] + noise()]
    }
}

impl Stream<2, 4> for Runs {
    fn next_sample(&mut self, x: &mut [f32; 2]) -> Option<Result<Target<4>, Error>> {
        if self.left_in_run == 0 {
            if self.run == 4 {
                for i in (1..4).rev() {
                    let j = tinytrain::rng::below(&mut self.rng, i as u32 + 1) as usize;
                    self.round.swap(i, j);
                }
                self.run = 0;
            }
            self.class = self.round[self.run];
            self.run += 1;
            self.left_in_run = RUN;
        }
        self.left_in_run -= 1;
        *x = Runs::point(&mut self.rng, self.class);
        Some(Ok(Target::Class(self.class)))
    }
}

type Quadrants = mlp![Dense<2, 16, Tanh>, Dense<16, 4, Identity>];

/// Accuracy on 400 fresh points, 100 per class.
fn quadrant_accuracy(n: &Quadrants) -> f32 {
    let mut rng = Rng::seed(99);
    let mut s = Quadrants::SCRATCH;
    let hits = (0..400)
        .filter(|k| n.predict(&Runs::point(&mut rng, k % 4), &mut s) == k % 4)
        .count();
    hits as f32 / 400.0
}

/// Trains from a replay buffer fed by a stream in runs: one shuffled epoch
/// of batches of 8 over the buffer after every 16 new samples.
fn train_from_replay<const N: usize, L: tinytrain::Label<4>>(
    replay: &mut tinytrain::Replay<2, 4, N, L>,
    samples: usize,
    sgd: Sgd,
) -> Quadrants {
    let mut n = Quadrants::ZERO;
    tinytrain::init_seeded(&mut n, Init::XavierUniform, 5);
    let (mut s, mut g) = (Quadrants::SCRATCH, Gradients::<Quadrants>::ZERO);
    let mut t = Trainer::new(&mut n, &mut s, &mut g, SoftmaxCrossEntropy, sgd).unwrap();
    let (mut stream, mut order, mut rng) = (Runs::new(3), [0u16; N], Rng::seed(4));
    let mut read = 0;
    while read < samples {
        read += replay.fill(&mut stream, 16).unwrap();
        t.epoch(replay, &mut order, 8, &mut rng).unwrap();
    }
    assert!(replay.is_full() && replay.seen() == samples as u64);
    n
}

#[test]
fn a_replay_of_a_stream_in_runs_learns_every_class_where_per_sample_updates_forget() {
    const SAMPLES: usize = 2000;
    let sgd = Sgd::new(SgdConfig::new(0.2)).unwrap();

    let mut per_sample = Quadrants::ZERO;
    tinytrain::init_seeded(&mut per_sample, Init::XavierUniform, 5);
    {
        let mut s = Quadrants::SCRATCH;
        let mut t = Trainer::per_sample(&mut per_sample, &mut s, SoftmaxCrossEntropy, sgd).unwrap();
        let done = t.stream(&mut Runs::new(3), 1, SAMPLES).unwrap();
        assert_eq!(done.samples as usize, SAMPLES);
    }
    // The same samples, the same learning rate, through replay buffers that
    // keep the latest 160 (six or seven runs) or a uniform sample of 160.
    let latest = train_from_replay(&mut tinytrain::Replay::<2, 4, 160>::latest(), SAMPLES, sgd);
    let reservoir = train_from_replay(
        &mut tinytrain::Replay::<2, 4, 160>::reservoir(6),
        SAMPLES,
        sgd,
    );

    let forgot = quadrant_accuracy(&per_sample);
    let (kept, sampled) = (quadrant_accuracy(&latest), quadrant_accuracy(&reservoir));
    eprintln!("accuracy: per-sample {forgot}, latest {kept}, reservoir {sampled}");
    // The best possible is 0.694 (400 test points); per-sample updates are
    // pulled towards the classes of the last runs.
    for acc in [kept, sampled] {
        assert!(acc >= 0.66, "replay accuracy {acc}");
        assert!(forgot < acc - 0.1, "replay {acc}, per-sample {forgot}");
    }
    // One-byte class labels keep the same samples in less RAM and train the
    // very same weights.
    let mut bytes = tinytrain::Replay::<2, 4, 160, u8>::reservoir(6);
    let (small, whole) = (
        tinytrain::Replay::<2, 4, 160, u8>::BYTES,
        tinytrain::Replay::<2, 4, 160>::BYTES,
    );
    assert!(small < whole / 2, "{small} B against {whole} B");
    let same = train_from_replay(&mut bytes, SAMPLES, sgd);
    assert!(same == reservoir);
}
