//! The firmware's trained weights are the host's, bit for bit.
//!
//! The `xor` and `digits` programs (`firmware/qemu/src/bin/`) train W1 and
//! W2's network on a Cortex-M4F and a Cortex-M0 in QEMU and print the
//! fingerprint of their final weights ([`tinytrain::blob::fingerprint`]: the
//! CRC-32 of the weight blob up to its own CRC field);
//! `firmware/run-tests.sh` and the firmware itself compare it with
//! `firmware/expected/{xor,digits}-checksum.txt`. These tests run the same
//! training on the host and check that the files hold the host's values, so
//! the devices and the host really agree, whatever vector width the host's
//! kernels use (four lanes, or eight with AVX: `core/src/kernel.rs`).

use tinytrain::blob::fingerprint;
use tinytrain::{
    init_seeded, mlp, Dense, Gradients, Identity, Init, Model, Mse, Relu, Rng, Samples, Sgd,
    SgdConfig, Sigmoid, SoftmaxCrossEntropy, Trainer,
};

use crate::common::{digits, load_xor, XOR_T, XOR_X};

type W1 = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];
type W2 = mlp![Dense<64, 32, Relu>, Dense<32, 10, Identity>];

/// The value of `firmware/expected/<name>-checksum.txt`.
fn expected(name: &str, text: &str) -> u32 {
    let hex = text.trim().strip_prefix("0x");
    let hex = hex.unwrap_or_else(|| panic!("firmware/expected/{name}-checksum.txt: 0x..."));
    u32::from_str_radix(hex, 16)
        .unwrap_or_else(|e| panic!("firmware/expected/{name}-checksum.txt: {e}"))
}

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
    (converged, fingerprint(&net))
}

#[test]
fn firmware_xor_checksum_is_the_hosts() {
    let (converged, crc) = train_like_the_firmware();
    assert_eq!(converged, Some(1513));
    let expected = expected("xor", include_str!("../firmware/expected/xor-checksum.txt"));
    assert_eq!(
        crc, expected,
        "host checksum {crc:#010x}; firmware/expected/xor-checksum.txt says {expected:#010x}"
    );
}

/// Trains W2's network as the `digits` firmware does: PyTorch-default
/// initialisation from seed 1, per-sample SGD with lr 0.02, three shuffled
/// epochs (`Rng` seed 1) over the 1,437 training rows in file order.
fn digits_like_the_firmware() -> u32 {
    let d = digits();
    let mut net = W2::ZERO;
    init_seeded(&mut net, Init::PyTorchDefault, 1);
    let mut scratch = W2::SCRATCH;
    let mut data = Samples::classes(&d.train_x, &d.train_y).unwrap();
    let mut order = vec![0u16; d.train_x.len()];
    let mut rng = Rng::seed(1);
    let sgd = Sgd::new(SgdConfig::new(0.02)).unwrap();
    let mut trainer =
        Trainer::per_sample(&mut net, &mut scratch, SoftmaxCrossEntropy, sgd).unwrap();
    for _ in 0..3 {
        trainer.epoch(&mut data, &mut order, 1, &mut rng).unwrap();
    }
    fingerprint(&net)
}

#[test]
fn firmware_digits_checksum_is_the_hosts() {
    let crc = digits_like_the_firmware();
    let expected = expected(
        "digits",
        include_str!("../firmware/expected/digits-checksum.txt"),
    );
    assert_eq!(
        crc, expected,
        "host checksum {crc:#010x}; firmware/expected/digits-checksum.txt says {expected:#010x}"
    );
}
