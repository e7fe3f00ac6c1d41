//! RAM of W2 training with mini-batch gradient accumulation (batch 32): the
//! network, its scratch and a gradient store in statics. Does not fit the
//! Cortex-M0's 16 KiB (the gradient store alone is 9,644 B). One in-order
//! pass over the first 128 training rows, four steps, with
//! `Gradients::accumulate` and `Sgd::step` called straight from the loop.
#![no_std]
#![no_main]

use cortex_m::singleton;
use cortex_m_rt::entry;
use tinytrain::{
    init_seeded, Dataset, Gradients, Init, Model, Sgd, SgdConfig, SoftmaxCrossEntropy,
};
use tinytrain_fw::digits::FlashDigits;
use tinytrain_fw::w2::W2;
use tinytrain_qemu::{finish, stack, OrFail};

const BATCH: u32 = 32;

#[entry]
fn main() -> ! {
    let net = singleton!(: W2 = W2::ZERO).or_fail("static");
    let scratch = singleton!(: <W2 as Model>::Scratch = W2::SCRATCH).or_fail("static");
    let grads = singleton!(: Gradients<W2> = Gradients::ZERO).or_fail("static");
    init_seeded(net, Init::PyTorchDefault, 1);
    let mut data = FlashDigits::train().take(128);
    let sgd = Sgd::new(SgdConfig::new(0.05)).or_fail("hyper-parameters");
    // Gradients::accumulate and Sgd::step straight from the loop, no Trainer.
    let mut buf = [0.0f32; 64];
    let mut loss = 0.0f32;
    for i in 0..data.len() {
        let (x, t) = data.sample(i, &mut buf).or_fail("sample");
        loss += grads
            .accumulate(net, scratch, x, &t, &SoftmaxCrossEntropy)
            .or_fail("training");
        if grads.count == BATCH {
            sgd.step(net, grads, None).or_fail("step");
        }
    }
    let loss = loss / data.len() as f32;
    defmt::info!(
        "footprint-w2-batch: {=usize} samples, loss {=f32}, peak stack {=usize} B",
        data.len(),
        loss,
        stack::high_water()
    );
    finish(
        "W2 trained in mini-batches",
        data.len() == 128 && loss.is_finite(),
    )
}
