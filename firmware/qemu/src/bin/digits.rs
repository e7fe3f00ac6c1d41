//! Handwritten digits learnt on the device: W2's 64-32-10 network, trained
//! with per-sample SGD (no gradient memory) on the 1,437 training rows kept in
//! flash as `u8` and converted one at a time, then tested on the 360 held-out
//! rows. Passes when the test accuracy is at least 0.90 and the weights'
//! fingerprint is the host's (`expected/digits-checksum.txt`, recomputed by
//! the host test `tests/firmware_bits.rs`).
//!
//! RAM: the network (9,640 B), its scratch (336 B) and a `u16` shuffle order
//! (2,874 B) in statics, plus the stack: it fits the Cortex-M0's 16 KiB.
#![no_std]
#![no_main]

use cortex_m::singleton;
use cortex_m_rt::entry;
use tinytrain::{
    blob, evaluate, init_seeded, Init, Model, Rng, Sgd, SgdConfig, SoftmaxCrossEntropy, Trainer,
};
use tinytrain_fw::digits::{FlashDigits, EXPECTED_CHECKSUM};
use tinytrain_fw::w2::W2;
use tinytrain_qemu::{finish, stack, OrFail, MACHINE};

const EPOCHS: u32 = 3;
const LR: f32 = 0.02;
const SEED: u64 = 1;
const TRAIN_ROWS: usize = 1437;
const MIN_ACCURACY: f32 = 0.90;

#[entry]
fn main() -> ! {
    defmt::info!(
        "digits: 64-32-10 ReLU, softmax CE, per-sample SGD lr 0.02, on {=str}",
        MACHINE
    );
    let net = singleton!(: W2 = W2::ZERO).or_fail("static");
    let scratch = singleton!(: <W2 as Model>::Scratch = W2::SCRATCH).or_fail("static");
    let order = singleton!(: [u16; TRAIN_ROWS] = [0; TRAIN_ROWS]).or_fail("static");
    init_seeded(net, Init::PyTorchDefault, SEED);

    let mut train = FlashDigits::train();
    let mut test = FlashDigits::test();
    let mut rng = Rng::seed(SEED);
    {
        let sgd = Sgd::new(SgdConfig::new(LR)).or_fail("hyper-parameters");
        let mut trainer =
            Trainer::per_sample(net, scratch, SoftmaxCrossEntropy, sgd).or_fail("trainer");
        for epoch in 0..EPOCHS {
            let s = trainer
                .epoch(&mut train, order, 1, &mut rng)
                .or_fail("training");
            defmt::info!(
                "epoch {=u32}: train loss {=f32}, train accuracy {=f32}",
                epoch,
                s.loss(),
                s.accuracy()
            );
        }
    }
    let s = evaluate(net, scratch, &mut test, &SoftmaxCrossEntropy).or_fail("evaluation");
    defmt::info!(
        "test accuracy {=f32} ({=u32}/{=u32})",
        s.accuracy(),
        s.correct,
        s.samples
    );
    defmt::info!(
        "RAM: network {=usize} B, scratch {=usize} B, order {=usize} B; peak stack {=usize} B",
        W2::PARAM_BYTES,
        W2::SCRATCH_BYTES,
        core::mem::size_of_val(order),
        stack::high_water()
    );
    let crc = blob::fingerprint(net);
    defmt::info!(
        "checksum {=u32:#010x} (fingerprint of the trained weights), expected {=u32:#010x}",
        crc,
        EXPECTED_CHECKSUM
    );
    if crc != EXPECTED_CHECKSUM {
        defmt::error!("checksum differs from the host's");
    }
    finish(
        "digits test accuracy >= 0.90 with the host's weight bits",
        s.accuracy() >= MIN_ACCURACY && crc == EXPECTED_CHECKSUM,
    )
}
