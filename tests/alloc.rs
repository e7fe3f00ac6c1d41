//! Training (from a replay buffer too), inference and blobs never touch the heap: a counting global
//! allocator proves it (per thread, so the test harness does not interfere).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tinytrain::{
    blob, mlp, Dense, Gradients, Identity, Init, Model, Network, Relu, Rng, Samples, Sgd,
    SgdConfig, SoftmaxCrossEntropy, Target, Trainer, Velocity,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

type Net = mlp![Dense<16, 12, Relu>, Dense<12, 8, Relu>, Dense<8, 4, Identity>];

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);
}

#[test]
fn no_heap_in_init_forward_backward_step_serialize_load() {
    // Storage is set up outside the measured region, as a device's statics would be.
    let mut net = Box::new(Net::ZERO);
    let mut scratch = Box::new(Net::SCRATCH);
    let mut grads = Box::new(Gradients::<Net>::ZERO);
    let mut vel = Box::new(Velocity::<Net>::ZERO);
    let mut bytes = vec![0u8; blob::blob_len::<Net>()];
    let xs: Vec<[f32; 16]> = (0..32)
        .map(|i| std::array::from_fn(|k| ((i * 16 + k) % 7) as f32 / 7.0))
        .collect();
    let ys: Vec<u16> = (0..32).map(|i| (i % 4) as u16).collect();
    let mut order = vec![0u16; 32];
    let mut replay = Box::new(tinytrain::Replay::<16, 4, 24>::reservoir(1));

    let n = allocations_during(|| {
        tinytrain::init(&mut *net, Init::HeUniform, &mut Rng::seed(1));
        let out = *net.forward(&xs[0], &mut scratch);
        assert!(out.iter().all(|v| v.is_finite()));
        let sgd = Sgd::new(SgdConfig {
            momentum: 0.9,
            clip_norm: Some(5.0),
            ..SgdConfig::new(0.05)
        })
        .unwrap();
        for x in &xs[..8] {
            grads
                .accumulate(
                    &*net,
                    &mut scratch,
                    x,
                    &Target::Class(1),
                    &SoftmaxCrossEntropy,
                )
                .unwrap();
        }
        sgd.step(&mut *net, &mut grads, Some(&mut vel)).unwrap();
        sgd.fit_sample(
            &mut *net,
            &mut scratch,
            &xs[1],
            &Target::Class(2),
            &SoftmaxCrossEntropy,
        )
        .ok();
        let mut data = Samples::classes(&xs, &ys).unwrap();
        let mut t = Trainer::with_momentum(
            &mut *net,
            &mut scratch,
            &mut grads,
            &mut vel,
            SoftmaxCrossEntropy,
            sgd,
        );
        t.epoch(&mut data, &mut order, 8, &mut Rng::seed(2))
            .unwrap();
        for (x, &y) in xs.iter().zip(&ys) {
            replay.push(x, Target::Class(usize::from(y))).unwrap();
        }
        t.epoch(&mut *replay, &mut order, 8, &mut Rng::seed(3))
            .unwrap();
        blob::save(&*net, &mut bytes).unwrap();
        let mut copy = Net::ZERO;
        blob::load(&mut copy, &bytes).unwrap();
        assert!(copy == *net);
    });
    assert_eq!(n, 0, "heap allocations during training");
}
