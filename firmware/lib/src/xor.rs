//! Workload W1 (`shared/WORKLOADS.md`): XOR on a 2-8-1 sigmoid network with
//! fixed initial weights, MSE, full-batch SGD with lr 0.5.

use tinytrain::{mlp, Dense, Model, Sigmoid};

/// The W1 network.
pub type W1 = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];

/// Inputs, in the fixed order every epoch visits them.
pub const X: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// Targets.
pub const T: [[f32; 1]; 4] = [[0.0], [1.0], [1.0], [0.0]];
/// Learning rate.
pub const LR: f32 = 0.5;
/// Epochs of the workload.
pub const EPOCHS: u32 = 10_000;
/// Loss threshold of the convergence metric.
pub const TARGET_LOSS: f32 = 0.01;
/// First epoch whose pre-update loss is below [`TARGET_LOSS`] on every reference.
pub const REFERENCE_EPOCH: u32 = 1513;

/// The W1 initial parameters, in blob order: W1 (8×2 row-major), b1, W2 (1×8), b2.
pub const INIT: [f32; 33] = [
    0.2739, -0.4604, -0.9181, -0.9669, 0.6265, 0.8255, 0.2133, 0.459, 0.0872, 0.8701, 0.6317,
    -0.9945, 0.7148, -0.9328, 0.4593, -0.6487, 0.7264, 0.0829, -0.4006, -0.1546, -0.9434, -0.7514,
    0.3412, 0.2944, 0.2308, -0.2326, 0.9944, 0.9617, 0.3711, 0.3009, 0.3769, -0.2222, -0.7298,
];

/// Sets `net` to the W1 initial parameters.
pub fn load_init(net: &mut W1) {
    let mut values = INIT.iter();
    for l in 0..W1::LAYERS {
        if let Some(layer) = net.layer_mut(l) {
            for (p, &v) in layer
                .w
                .iter_mut()
                .chain(layer.b.iter_mut())
                .zip(&mut values)
            {
                *p = v;
            }
        }
    }
}

/// The checksum the `xor` program prints and the host test recomputes, from
/// `expected/xor-checksum.txt`: the CRC-32 of the trained network's weight
/// blob up to (not including) the blob's own CRC field, i.e. of its header and
/// every parameter's bits.
pub const EXPECTED_CHECKSUM: u32 =
    crate::parse_hex(include_str!("../../expected/xor-checksum.txt"));
