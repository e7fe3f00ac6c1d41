//! Shared test data: the bundled digits set.

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
