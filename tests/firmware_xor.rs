//! The `xor` firmware's weights are the host's, bit for bit.
//!
//! The firmware (`firmware/qemu/src/bin/xor.rs`) trains W1 on a Cortex-M4F and
//! a Cortex-M0 in QEMU and prints the CRC-32 of its final weight blob (up to
//! the blob's own CRC field);
//! `firmware/run-tests.sh` and the firmware itself compare it with
//! `firmware/expected/xor-checksum.txt`. This test runs the same training on
//! the host and checks that file holds the host's value, so the device and
//! the host really agree.

use tinytrain::{
    blob, mlp, Dense, Gradients, Model, Mse, Samples, Sgd, SgdConfig, Sigmoid, Trainer,
};

use crate::common::{load_xor, XOR_T, XOR_X};

type W1 = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];

const EXPECTED: &str = include_str!("../firmware/expected/xor-checksum.txt");

/// Trains W1 as the firmware does: 10,000 full-batch epochs in fixed order,
/// lr 0.5. Returns the first epoch with loss < 0.01 and the final blob's CRC-32.
fn train_like_the_firmware() -> (Option<u32>, u32) {
    let mut net = W1::ZERO;
    load_xor(&mut net);
    let (mut scratch, mut grads) = (W1::SCRATCH, Gradients::<W1>::ZERO);
    let mut data = Samples::new(&XOR_X, &XOR_T).unwrap();
    let sgd = Sgd::new(SgdConfig::new(0.5)).unwrap();
    let mut trainer = Trainer::new(&mut net, &mut scratch, &mut grads, Mse, sgd).unwrap();
    let mut converged = None;
    for epoch in 0..10_000 {
        let loss = trainer.epoch_in_order(&mut data, 4).unwrap().loss();
        if converged.is_none() && loss < 0.01 {
            converged = Some(epoch);
        }
    }
    (converged, weights_checksum(&net))
}

/// The CRC-32 of the weight blob before its own CRC field: header and every
/// parameter's bits. (The CRC of a whole blob, its CRC field included, is
/// one constant for every blob, so it could not tell two models apart.)
fn weights_checksum(net: &W1) -> u32 {
    let blob = tinytrain::host::to_blob(net).unwrap();
    blob::crc32(&blob[..blob.len() - 4])
}

#[test]
fn the_checksum_tells_models_apart() {
    let mut a = W1::ZERO;
    let b = W1::ZERO;
    assert_eq!(weights_checksum(&a), weights_checksum(&b));
    a.rest.b[0] = f32::from_bits(1);
    assert_ne!(weights_checksum(&a), weights_checksum(&b));
}

#[test]
fn firmware_xor_checksum_is_the_hosts() {
    let (converged, crc) = train_like_the_firmware();
    assert_eq!(converged, Some(1513));
    let text = EXPECTED.trim();
    let hex = text
        .strip_prefix("0x")
        .expect("firmware/expected/xor-checksum.txt: 0x...");
    let expected = u32::from_str_radix(hex, 16).expect("firmware/expected/xor-checksum.txt: hex");
    assert_eq!(
        crc, expected,
        "host checksum {crc:#010x}; firmware/expected/xor-checksum.txt says {expected:#010x}"
    );
}
