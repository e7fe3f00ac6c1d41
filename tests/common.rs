//! Shared test data: the W1 workload and the bundled digits set.

use tinytrain::Model;

pub const XOR_X: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
pub const XOR_T: [[f32; 1]; 4] = [[0.0], [1.0], [1.0], [0.0]];
/// The W1 initial weights (WORKLOADS.md), in blob order: W1 8×2, b1, W2 1×8, b2.
const XOR_INIT: [f32; 33] = [
    0.2739, -0.4604, -0.9181, -0.9669, 0.6265, 0.8255, 0.2133, 0.459, 0.0872, 0.8701, 0.6317,
    -0.9945, 0.7148, -0.9328, 0.4593, -0.6487, 0.7264, 0.0829, -0.4006, -0.1546, -0.9434, -0.7514,
    0.3412, 0.2944, 0.2308, -0.2326, 0.9944, 0.9617, 0.3711, 0.3009, 0.3769, -0.2222, -0.7298,
];

/// Sets a 2-8-1 network to the W1 initial weights.
pub fn load_xor<N: Model>(net: &mut N) {
    let mut k = 0;
    for l in 0..N::LAYERS {
        let layer = net.layer_mut(l).unwrap();
        for v in layer.w.iter_mut().chain(layer.b.iter_mut()) {
            *v = XOR_INIT[k];
            k += 1;
        }
    }
    assert_eq!(k, 33);
}

/// Digits rows: 64 pixels scaled to [0, 1], class, split (0 train, 1 test).
pub struct Digits {
    pub train_x: Vec<[f32; 64]>,
    pub train_y: Vec<u16>,
    pub test_x: Vec<[f32; 64]>,
    pub test_y: Vec<u16>,
}

pub fn digits() -> Digits {
    let text = include_str!("../data/digits.csv");
    let mut d = Digits {
        train_x: vec![],
        train_y: vec![],
        test_x: vec![],
        test_y: vec![],
    };
    for line in text.lines().skip(1) {
        let v: Vec<u16> = line.split(',').map(|f| f.parse().unwrap()).collect();
        assert_eq!(v.len(), 66);
        let x: [f32; 64] = std::array::from_fn(|i| v[i] as f32 / 16.0);
        if v[65] == 0 {
            d.train_x.push(x);
            d.train_y.push(v[64]);
        } else {
            d.test_x.push(x);
            d.test_y.push(v[64]);
        }
    }
    assert_eq!((d.train_x.len(), d.test_x.len()), (1437, 360));
    d
}
