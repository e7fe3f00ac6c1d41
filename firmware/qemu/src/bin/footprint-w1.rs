//! Footprint of a trainable W1 network, trained the W1 way: mini-batch SGD
//! over the four XOR samples (gradient store included). Compare with `empty`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use tinytrain::{Gradients, Model, Mse, Samples, Sgd, SgdConfig, Trainer};
use tinytrain_fw::xor::{self, W1};
use tinytrain_qemu::{finish, stack, OrFail};

#[entry]
fn main() -> ! {
    let mut net = W1::ZERO;
    xor::load_init(&mut net);
    let (mut scratch, mut grads) = (W1::SCRATCH, Gradients::<W1>::ZERO);
    let mut data = Samples::new(&xor::X, &xor::T).or_fail("data");
    let sgd = Sgd::new(SgdConfig::new(xor::LR)).or_fail("hyper-parameters");
    let mut trainer = Trainer::new(&mut net, &mut scratch, &mut grads, Mse, sgd).or_fail("trainer");
    let mut loss = 1.0;
    for _ in 0..=xor::REFERENCE_EPOCH {
        loss = trainer
            .epoch_in_order(&mut data, 4)
            .or_fail("training")
            .loss();
    }
    defmt::info!(
        "footprint-w1: loss {=f32}, peak stack {=usize} B",
        loss,
        stack::high_water()
    );
    finish("W1 trained (mini-batch)", loss < xor::TARGET_LOSS)
}
