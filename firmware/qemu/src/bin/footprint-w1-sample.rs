//! Footprint of a trainable W1 network with per-sample SGD (no gradient
//! memory). Compare with `empty`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use tinytrain::{Model, Mse, Samples, Sgd, SgdConfig, Trainer};
use tinytrain_fw::xor::{self, W1};
use tinytrain_qemu::{finish, stack, OrFail};

#[entry]
fn main() -> ! {
    let mut net = W1::ZERO;
    xor::load_init(&mut net);
    let mut scratch = W1::SCRATCH;
    let mut data = Samples::new(&xor::X, &xor::T).or_fail("data");
    let sgd = Sgd::new(SgdConfig::new(xor::LR)).or_fail("hyper-parameters");
    let mut trainer = Trainer::per_sample(&mut net, &mut scratch, Mse, sgd).or_fail("trainer");
    let mut loss = 1.0;
    for _ in 0..=xor::REFERENCE_EPOCH {
        loss = trainer
            .epoch_in_order(&mut data, 1)
            .or_fail("training")
            .loss();
    }
    defmt::info!(
        "footprint-w1-sample: loss {=f32}, peak stack {=usize} B",
        loss,
        stack::high_water()
    );
    finish("W1 trained (per sample)", loss < xor::TARGET_LOSS)
}
