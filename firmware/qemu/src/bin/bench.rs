//! Instruction counts per inference and per training sample for the W1 and
//! W2 shapes, and per multiply-accumulate, printed as a table. Run under
//! `-icount shift=0` (`QEMU_ICOUNT=1 ./qemu-run.sh ...`): SysTick then counts
//! instructions (see `tinytrain_qemu::count`). W2 inputs are decoded from
//! flash before the timed regions, so only the network's work is counted.
//!
//! MACs follow `shared/PEERS.md`: 3 × parameters per training sample, the
//! parameters per inference. The W2 mini-batch row needs a 9,640-byte gradient
//! store next to the network: it does not fit the Cortex-M0's 16 KiB and is
//! measured on the M4F only.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m::singleton;
use cortex_m_rt::entry;
use tinytrain::{
    init_seeded, Dataset, Gradients, Init, Model, Mse, Network, Samples, Sgd, SgdConfig,
    SoftmaxCrossEntropy, Target, Trainer,
};
use tinytrain_fw::digits::FlashDigits;
use tinytrain_fw::w2::{self, W2};
use tinytrain_fw::xor::{self, W1};
use tinytrain_qemu::count::Counter;
use tinytrain_qemu::{finish, stack, OrFail, MACHINE};

/// W2 rows decoded into RAM for the timed regions, each used `PASSES` times.
const ROWS: usize = 8;
const PASSES: usize = 4;
const W2_SAMPLES: u32 = (ROWS * PASSES) as u32;
const W1_EPOCHS: u32 = 250;
const W1_PARAMS: u32 = 33;

fn row(what: &str, shape: &str, instr: u32, macs: u32) {
    // Hundredths of an instruction per MAC, printed as a decimal.
    let per_mac = (u64::from(instr) * 100 + u64::from(macs) / 2) / u64::from(macs);
    defmt::println!(
        "| {=str} | {=str} | {=u32} | {=u32} | {=u64}.{=u64:02} |",
        shape,
        what,
        instr,
        macs,
        per_mac / 100,
        per_mac % 100
    );
}

#[entry]
fn main() -> ! {
    let p = cortex_m::Peripherals::take().or_fail("peripherals");
    let mut counter = Counter::new(p.SYST);
    defmt::println!(
        "bench on {=str}, instructions counted with -icount shift=0 and SysTick",
        MACHINE
    );
    defmt::println!(
        "| shape | operation | instructions per sample | MACs per sample | instructions per MAC |"
    );
    defmt::println!("|---|---|---|---|---|");

    // W1: 2-8-1 sigmoid, MSE, the four XOR samples.
    let mut net = W1::ZERO;
    xor::load_init(&mut net);
    let mut scratch = W1::SCRATCH;
    let (_, n) = counter.instructions(W1_EPOCHS * 4, || {
        for _ in 0..W1_EPOCHS {
            for x in &xor::X {
                black_box(net.forward(black_box(x), &mut scratch));
            }
        }
    });
    row("inference", "W1 2-8-1", n, W1_PARAMS);
    let mut data = Samples::new(&xor::X, &xor::T).or_fail("data");
    let sgd = Sgd::new(SgdConfig::new(xor::LR)).or_fail("hyper-parameters");
    let mut grads = Gradients::<W1>::ZERO;
    {
        let mut t = Trainer::new(&mut net, &mut scratch, &mut grads, Mse, sgd).or_fail("trainer");
        let (_, n) = counter.instructions(W1_EPOCHS * 4, || {
            for _ in 0..W1_EPOCHS {
                black_box(t.epoch_in_order(&mut data, 4).or_fail("training"));
            }
        });
        row(
            "train, batch 4 (the W1 workload)",
            "W1 2-8-1",
            n,
            3 * W1_PARAMS,
        );
    }
    xor::load_init(&mut net);
    {
        let mut t = Trainer::per_sample(&mut net, &mut scratch, Mse, sgd).or_fail("trainer");
        let (_, n) = counter.instructions(W1_EPOCHS * 4, || {
            for _ in 0..W1_EPOCHS {
                black_box(t.epoch_in_order(&mut data, 1).or_fail("training"));
            }
        });
        row("train, per sample", "W1 2-8-1", n, 3 * W1_PARAMS);
    }

    // W2: 64-32-10 ReLU, softmax cross-entropy, digits rows from flash.
    let net = singleton!(: W2 = W2::ZERO).or_fail("static");
    let scratch = singleton!(: <W2 as Model>::Scratch = W2::SCRATCH).or_fail("static");
    let xs = singleton!(: [[f32; 64]; ROWS] = [[0.0; 64]; ROWS]).or_fail("static");
    let mut ts = [Target::Class(0); ROWS];
    let mut flash = FlashDigits::train();
    for (k, (x, t)) in xs.iter_mut().zip(&mut ts).enumerate() {
        let mut buf = [0.0; 64];
        let (v, target) = flash.sample(k, &mut buf).or_fail("sample");
        *x = *v;
        *t = target;
    }
    init_seeded(net, Init::PyTorchDefault, 1);
    let (_, n) = counter.instructions(W2_SAMPLES, || {
        for _ in 0..PASSES {
            for x in xs.iter() {
                black_box(net.forward(black_box(x), scratch));
            }
        }
    });
    row("inference", "W2 64-32-10", n, w2::INFER_MACS);
    let sgd = Sgd::new(SgdConfig::new(0.02)).or_fail("hyper-parameters");
    {
        let mut t = Trainer::per_sample(net, scratch, SoftmaxCrossEntropy, sgd).or_fail("trainer");
        let (_, n) = counter.instructions(W2_SAMPLES, || {
            for _ in 0..PASSES {
                for (x, target) in xs.iter().zip(&ts) {
                    black_box(t.sample(x, target, 1).or_fail("sample"));
                }
            }
        });
        row("train, per sample", "W2 64-32-10", n, w2::TRAIN_MACS);
    }
    #[cfg(machine = "mps2_an386")]
    {
        let grads = singleton!(: Gradients<W2> = Gradients::ZERO).or_fail("static");
        let sgd = Sgd::new(SgdConfig::new(0.05)).or_fail("hyper-parameters");
        let mut t = Trainer::new(net, scratch, grads, SoftmaxCrossEntropy, sgd).or_fail("trainer");
        let (_, n) = counter.instructions(W2_SAMPLES, || {
            for _ in 0..PASSES {
                for (x, target) in xs.iter().zip(&ts) {
                    black_box(t.sample(x, target, W2_SAMPLES as usize).or_fail("sample"));
                }
            }
        });
        row(
            "train, batch 32 (incl. step)",
            "W2 64-32-10",
            n,
            w2::TRAIN_MACS,
        );
    }
    defmt::println!("peak stack {=usize} B", stack::high_water());
    finish("bench ran", net.is_finite())
}
