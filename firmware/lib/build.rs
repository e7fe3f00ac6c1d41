//! Turns `../../data/digits.csv` into two flash images of `u8` rows (64 pixels
//! 0..=16, then the label) in OUT_DIR: `digits-train.bin` and `digits-test.bin`.

use std::{env, fs, path::PathBuf};

fn main() {
    let csv = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../data/digits.csv");
    println!("cargo:rerun-if-changed={}", csv.display());
    let text =
        fs::read_to_string(&csv).unwrap_or_else(|e| panic!("reading {}: {e}", csv.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("empty digits.csv").split(',').collect();
    assert_eq!(header.len(), 66, "digits.csv: expected p0..p63,label,split");
    assert_eq!((header[64], header[65]), ("label", "split"));
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Vec<u8> = line
            .split(',')
            .map(|f| {
                f.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("digits.csv row {}: {e}", n + 2))
            })
            .collect();
        assert_eq!(v.len(), 66, "digits.csv row {}", n + 2);
        assert!(
            v[..64].iter().all(|&p| p <= 16) && v[64] < 10,
            "digits.csv row {}",
            n + 2
        );
        let rows = match v[65] {
            0 => &mut train,
            1 => &mut test,
            s => panic!("digits.csv row {}: split {s}", n + 2),
        };
        rows.extend_from_slice(&v[..65]);
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("digits-train.bin"), train).unwrap();
    fs::write(out.join("digits-test.bin"), test).unwrap();
}
