//! RAM of W2 training with per-sample updates: the 64-32-10 network and its
//! scratch in statics, samples converted from flash one at a time, no
//! gradient memory. Static RAM comes from `arm-none-eabi-size`, the stack
//! from painting. One in-order pass over the first 128 training rows, with
//! `Sgd::fit_sample` called straight from the loop.
#![no_std]
#![no_main]

use cortex_m::singleton;
use cortex_m_rt::entry;
use tinytrain::{init_seeded, Dataset, Init, Model, Sgd, SgdConfig, SoftmaxCrossEntropy};
use tinytrain_fw::digits::FlashDigits;
use tinytrain_fw::w2::W2;
use tinytrain_qemu::{finish, stack, OrFail};

#[entry]
fn main() -> ! {
    let net = singleton!(: W2 = W2::ZERO).or_fail("static");
    let scratch = singleton!(: <W2 as Model>::Scratch = W2::SCRATCH).or_fail("static");
    init_seeded(net, Init::PyTorchDefault, 1);
    let mut data = FlashDigits::train().take(128);
    let sgd = Sgd::new(SgdConfig::new(0.02)).or_fail("hyper-parameters");
    // Sgd::fit_sample straight from the loop: no Trainer, no gradient memory.
    let mut buf = [0.0f32; 64];
    let mut loss = 0.0f32;
    for i in 0..data.len() {
        let (x, t) = data.sample(i, &mut buf).or_fail("sample");
        loss += sgd
            .fit_sample(net, scratch, x, &t, &SoftmaxCrossEntropy)
            .or_fail("training");
    }
    let loss = loss / data.len() as f32;
    defmt::info!(
        "footprint-w2-sample: {=usize} samples, loss {=f32}, peak stack {=usize} B",
        data.len(),
        loss,
        stack::high_water()
    );
    finish(
        "W2 trained per sample",
        data.len() == 128 && loss.is_finite(),
    )
}
