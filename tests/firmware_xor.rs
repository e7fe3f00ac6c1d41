//! The `xor` firmware's weights are the host's, bit for bit.
//!
//! The firmware (`firmware/qemu/src/bin/xor.rs`) trains W1 on a Cortex-M4F and
//! a Cortex-M0 in QEMU and prints the CRC-32 of its final weight blob;
//! `firmware/run-tests.sh` and the firmware itself compare it with
//! `firmware/expected/xor-checksum.txt`. This test runs the same training on
//! the host and checks that file holds the host's value, so the device and
//! the host really agree.

use tinytrain::{
    blob, mlp, Dense, Gradients, Model, Mse, Samples, Sgd, SgdConfig, Sigmoid, Trainer,
};

type W1 = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];

const EXPECTED: &str = include_str!("../firmware/expected/xor-checksum.txt");

const X: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
const T: [[f32; 1]; 4] = [[0.0], [1.0], [1.0], [0.0]];
/// W1's initial parameters in blob order (WORKLOADS.md): W1 8×2, b1, W2 1×8, b2.
const INIT: [f32; 33] = [
    0.2739, -0.4604, -0.9181, -0.9669, 0.6265, 0.8255, 0.2133, 0.459, 0.0872, 0.8701, 0.6317,
    -0.9945, 0.7148, -0.9328, 0.4593, -0.6487, 0.7264, 0.0829, -0.4006, -0.1546, -0.9434, -0.7514,
    0.3412, 0.2944, 0.2308, -0.2326, 0.9944, 0.9617, 0.3711, 0.3009, 0.3769, -0.2222, -0.7298,
];

/// Trains W1 as the firmware does: 10,000 full-batch epochs in fixed order,
/// lr 0.5. Returns the first epoch with loss < 0.01 and the final blob's CRC-32.
fn train_like_the_firmware() -> (Option<u32>, u32) {
    let mut net = W1::ZERO;
    let mut values = INIT.iter();
    for l in 0..W1::LAYERS {
        let layer = net.layer_mut(l).unwrap();
        for (p, &v) in layer
            .w
            .iter_mut()
            .chain(layer.b.iter_mut())
            .zip(&mut values)
        {
            *p = v;
        }
    }
    assert!(values.next().is_none());
    let (mut scratch, mut grads) = (W1::SCRATCH, Gradients::<W1>::ZERO);
    let mut data = Samples::new(&X, &T).unwrap();
    let sgd = Sgd::new(SgdConfig::new(0.5)).unwrap();
    let mut trainer = Trainer::new(&mut net, &mut scratch, &mut grads, Mse, sgd).unwrap();
    let mut converged = None;
    for epoch in 0..10_000 {
        let loss = trainer.epoch_in_order(&mut data, 4).unwrap().loss();
        if converged.is_none() && loss < 0.01 {
            converged = Some(epoch);
        }
    }
    let blob = tinytrain::host::to_blob(&net).unwrap();
    (converged, blob::crc32(&blob))
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
