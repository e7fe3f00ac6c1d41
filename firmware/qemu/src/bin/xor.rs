//! W1 on the device: XOR from the fixed initial weights, 10,000 full-batch
//! epochs. Passes when the loss first falls below 0.01 at epoch 1513 (as on
//! every host reference) and the fingerprint of the final weights
//! (`blob::fingerprint`: the CRC-32 of their blob up to its CRC field) equals
//! `expected/xor-checksum.txt`, which the host test `tests/firmware_bits.rs`
//! recomputes.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use tinytrain::{blob, Gradients, Model, Mse, Samples, Sgd, SgdConfig, Trainer};
use tinytrain_fw::xor::{self, W1};
use tinytrain_qemu::{finish, OrFail, MACHINE};

#[entry]
fn main() -> ! {
    defmt::info!(
        "xor: W1 2-8-1 sigmoid, MSE, lr 0.5, full batch, on {=str}",
        MACHINE
    );
    let mut net = W1::ZERO;
    xor::load_init(&mut net);
    let (mut scratch, mut grads) = (W1::SCRATCH, Gradients::<W1>::ZERO);
    let mut data = Samples::new(&xor::X, &xor::T).or_fail("data");
    let sgd = Sgd::new(SgdConfig::new(xor::LR)).or_fail("hyper-parameters");
    let mut trainer = Trainer::new(&mut net, &mut scratch, &mut grads, Mse, sgd).or_fail("trainer");
    let mut converged = None;
    let mut loss = 0.0;
    for epoch in 0..xor::EPOCHS {
        loss = trainer
            .epoch_in_order(&mut data, 4)
            .or_fail("training")
            .loss();
        if converged.is_none() && loss < xor::TARGET_LOSS {
            converged = Some(epoch);
            defmt::info!("loss {=f32} < 0.01 first at epoch {=u32}", loss, epoch);
        }
    }
    defmt::info!("loss after {=u32} epochs: {=f32}", xor::EPOCHS, loss);

    let crc = blob::fingerprint(&net);
    defmt::info!(
        "checksum {=u32:#010x} (CRC-32 of the {=usize}-byte weight blob before its CRC field)",
        crc,
        blob::blob_len::<W1>() - 4
    );
    defmt::info!("expected {=u32:#010x}", xor::EXPECTED_CHECKSUM);

    let epoch_ok = converged == Some(xor::REFERENCE_EPOCH);
    let crc_ok = crc == xor::EXPECTED_CHECKSUM;
    if !epoch_ok {
        defmt::error!("converged at {=?}, host reference is epoch 1513", converged);
    }
    if !crc_ok {
        defmt::error!("checksum differs from the host's");
    }
    finish(
        "xor converges at epoch 1513 with the host's weight bits",
        epoch_ok && crc_ok,
    )
}
