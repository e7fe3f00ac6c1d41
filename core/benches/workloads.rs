//! Training and inference throughput on the standard workloads (W1, W2, W3 of
//! the project's benchmark definitions), one thread.
//!
//! `cargo bench -p tinytrain --bench workloads`; criterion reports samples/s
//! ("elem/s") per benchmark.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tinytrain::{
    init_seeded, mlp, Dense, EpochStats, Gradients, Identity, Init, Loss, Model, Mse, Network,
    Relu, Rng, Samples, Sgd, SgdConfig, Sigmoid, SoftmaxCrossEntropy, Target, Trainer,
};

type W1 = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];
type W2 = mlp![Dense<64, 32, Relu>, Dense<32, 10, Identity>];
type W3 = mlp![Dense<784, 128, Relu>, Dense<128, 64, Relu>, Dense<64, 10, Identity>];

fn random_rows<const I: usize>(n: usize, seed: u64) -> (Vec<[f32; I]>, Vec<u16>) {
    let mut rng = Rng::seed(seed);
    let xs = (0..n)
        .map(|_| std::array::from_fn(|_| tinytrain::rng::unit_f32(&mut rng)))
        .collect();
    let ys = (0..n)
        .map(|_| tinytrain::rng::below(&mut rng, 10) as u16)
        .collect();
    (xs, ys)
}

/// Inference over every row, batch 1.
fn infer_all<N: Network<I, 10>, const I: usize>(
    net: &N,
    xs: &[[f32; I]],
    s: &mut N::Scratch,
) -> usize {
    xs.iter().map(|x| net.predict(black_box(x), s)).sum()
}

/// Inference over every row, `S` samples per pass (`Network::forward_batch`).
fn infer_all_by<N: Network<I, 10>, const I: usize, const S: usize>(
    net: &N,
    xs: &[[f32; I]],
    s: &mut [N::Scratch; S],
) -> usize {
    let mut sum = 0;
    for x in xs.chunks_exact(S) {
        let mut k = 0;
        net.forward_batch(s.each_mut().map(|s| {
            k += 1;
            (&x[k - 1], s)
        }));
        sum += s
            .iter()
            .map(|s| tinytrain::argmax(N::output(s)))
            .sum::<usize>();
    }
    sum
}

fn w1(c: &mut Criterion) {
    const X: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    const T: [[f32; 1]; 4] = [[0.0], [1.0], [1.0], [0.0]];
    let mut g = c.benchmark_group("W1 xor 2-8-1");
    g.throughput(Throughput::Elements(4));
    let mut net = W1::ZERO;
    init_seeded(&mut net, Init::XavierUniform, 0);
    let (mut s, mut gr) = (W1::SCRATCH, Gradients::<W1>::ZERO);
    let mut data = Samples::new(&X, &T).unwrap();
    let sgd = Sgd::new(SgdConfig::new(0.5)).unwrap();
    {
        let mut t = Trainer::new(&mut net, &mut s, &mut gr, Mse, sgd).unwrap();
        g.bench_function("train epoch (batch 4)", |b| {
            b.iter(|| black_box(t.epoch_in_order(&mut data, 4).unwrap()))
        });
    }
    {
        // The same epoch with the four forward passes run together
        // (`Gradients::accumulate_batch`, what the simulator runs), the loss
        // and the hits counted as `Trainer` counts them.
        let mut four = [W1::SCRATCH, W1::SCRATCH, W1::SCRATCH, W1::SCRATCH];
        let targets = T.map(Target::Values);
        g.bench_function("train epoch (batch 4, accumulate_batch)", |b| {
            b.iter(|| {
                let losses = gr
                    .accumulate_batch(&net, &mut four, X.each_ref(), targets.each_ref(), &Mse)
                    .unwrap();
                let mut stats = EpochStats::default();
                for (k, l) in losses.into_iter().enumerate() {
                    stats.add(l, Mse.correct(W1::output(&four[k]), &targets[k]));
                }
                sgd.step(&mut net, &mut gr, None).unwrap();
                black_box(stats)
            })
        });
    }
    g.bench_function("inference batch 1", |b| {
        b.iter(|| {
            X.iter()
                .map(|x| net.forward(black_box(x), &mut s)[0])
                .sum::<f32>()
        })
    });
    g.finish();
}

fn w2(c: &mut Criterion) {
    let (xs, ys) = random_rows::<64>(1437, 1);
    let mut g = c.benchmark_group("W2 digits 64-32-10");
    g.throughput(Throughput::Elements(1408));
    let mut net = Box::new(W2::ZERO);
    init_seeded(&mut *net, Init::PyTorchDefault, 0);
    let (mut s, mut gr) = (W2::SCRATCH, Box::new(Gradients::<W2>::ZERO));
    let mut data = Samples::classes(&xs, &ys).unwrap();
    let mut order = vec![0u32; xs.len()];
    let mut rng = Rng::seed(0);
    let sgd = Sgd::new(SgdConfig::new(0.05)).unwrap();
    {
        let mut t = Trainer::new(&mut *net, &mut s, &mut gr, SoftmaxCrossEntropy, sgd).unwrap();
        g.bench_function("train epoch (B=32, 44 batches)", |b| {
            b.iter(|| black_box(t.epoch(&mut data, &mut order, 32, &mut rng).unwrap()))
        });
    }
    g.throughput(Throughput::Elements(xs.len() as u64));
    g.bench_function("inference batch 1", |b| {
        b.iter(|| infer_all(&*net, &xs, &mut s))
    });
    g.finish();
}

fn w3(c: &mut Criterion) {
    const N: usize = 4096;
    let (xs, ys) = random_rows::<784>(N, 2);
    let mut g = c.benchmark_group("W3 mnist-shape 784-128-64-10");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    let mut net = Box::new(W3::ZERO);
    init_seeded(&mut *net, Init::PyTorchDefault, 0);
    let mut s = Box::new(W3::SCRATCH);
    let mut gr = Box::new(Gradients::<W3>::ZERO);
    let mut data = Samples::classes(&xs, &ys).unwrap();
    let mut order = vec![0u32; N];
    let mut rng = Rng::seed(0);
    let sgd = Sgd::new(SgdConfig::new(0.01)).unwrap();
    {
        let mut t = Trainer::new(&mut *net, &mut *s, &mut *gr, SoftmaxCrossEntropy, sgd).unwrap();
        g.bench_function("train 64 batches of 64", |b| {
            b.iter(|| black_box(t.epoch(&mut data, &mut order, 64, &mut rng).unwrap()))
        });
    }
    g.bench_function("inference batch 1", |b| {
        b.iter(|| infer_all(&*net, &xs, &mut s))
    });
    let mut four: Box<[_; 4]> = Box::new(core::array::from_fn(|_| W3::SCRATCH));
    g.bench_function("inference batch 64, four samples per pass", |b| {
        b.iter(|| infer_all_by(&*net, &xs, &mut four))
    });
    let mut eight: Box<[_; 8]> = Box::new(core::array::from_fn(|_| W3::SCRATCH));
    g.bench_function("inference batch 64, eight samples per pass", |b| {
        b.iter(|| infer_all_by(&*net, &xs, &mut eight))
    });
    g.finish();
}

criterion_group!(benches, w1, w2, w3);
criterion_main!(benches);
