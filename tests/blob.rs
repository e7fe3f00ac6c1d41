//! Weight blobs: exact round trips, and no byte sequence loads a wrong model.

use tinytrain::blob::{blob_len, load, save, verify};
use tinytrain::{
    mlp, Dense, Error, Identity, Init, LeakyRelu, Model, Relu, Rng, RngCore, Sigmoid, Tanh,
};

type Net =
    mlp![Dense<5, 7, Tanh>, Dense<7, 6, Relu>, Dense<6, 4, LeakyRelu>, Dense<4, 3, Identity>];
const LEN: usize = blob_len::<Net>();

fn net(seed: u64) -> Net {
    let mut n = Net::ZERO;
    tinytrain::init_seeded(&mut n, Init::PyTorchDefault, seed);
    n
}

fn blob(n: &Net) -> Vec<u8> {
    tinytrain::host::to_blob(n).unwrap()
}

#[test]
fn round_trip_is_bit_exact_including_signed_zero_and_subnormals() {
    let mut a = net(1);
    a.first.w[0][0] = -0.0;
    a.first.w[0][1] = f32::from_bits(1); // smallest subnormal
    a.rest.first.b[2] = f32::MAX;
    let bytes = blob(&a);
    assert_eq!(bytes.len(), LEN);
    let mut b = net(2);
    load(&mut b, &bytes).unwrap();
    for l in 0..Net::LAYERS {
        let (x, y) = (a.layer(l).unwrap(), b.layer(l).unwrap());
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(x.w), bits(y.w));
        assert_eq!(bits(x.b), bits(y.b));
    }
    // Saving again gives the very same bytes.
    assert_eq!(blob(&b), bytes);
}

#[test]
fn the_format_is_as_documented() {
    let n = net(3);
    let b = blob(&n);
    assert_eq!(&b[0..4], b"TTNB");
    assert_eq!(u16::from_le_bytes([b[4], b[5]]), 1);
    assert_eq!(u16::from_le_bytes([b[6], b[7]]), 4);
    assert_eq!(
        u32::from_le_bytes(b[8..12].try_into().unwrap()),
        Net::SHAPE_HASH
    );
    assert_eq!(
        u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize,
        Net::PARAMS
    );
    assert_eq!(
        f32::from_le_bytes(b[16..20].try_into().unwrap()),
        n.first.w[0][0]
    );
    let crc = u32::from_le_bytes(b[LEN - 4..].try_into().unwrap());
    assert_eq!(crc, tinytrain::blob::crc32(&b[..LEN - 4]));
}

#[test]
fn every_truncation_is_an_error_and_the_model_is_kept() {
    let bytes = blob(&net(4));
    let keep = net(5);
    let mut target = keep.clone();
    for len in 0..LEN {
        match load(&mut target, &bytes[..len]) {
            Err(Error::Truncated { expected, found }) => {
                assert_eq!(found, len);
                assert!(expected > len);
            }
            other => panic!("length {len}: {other:?}"),
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        load(&mut target, &longer),
        Err(Error::WrongLength { .. })
    ));
    assert_eq!(target, keep);
}

#[test]
fn ten_thousand_random_corruptions_never_load() {
    let bytes = blob(&net(6));
    let keep = net(7);
    let mut target = keep.clone();
    let mut rng = Rng::seed(2024);
    let mut kinds = [0usize; 8];
    for _ in 0..10_000 {
        let mut bad = bytes.clone();
        // 1 to 8 bytes changed, each to a different value.
        let n = 1 + tinytrain::rng::below(&mut rng, 8) as usize;
        for _ in 0..n {
            let at = tinytrain::rng::below(&mut rng, LEN as u32) as usize;
            let flip = 1 + tinytrain::rng::below(&mut rng, 255) as u8;
            bad[at] ^= flip;
        }
        if bad == bytes {
            continue; // two changes cancelled out
        }
        let kind = match load(&mut target, &bad) {
            Ok(()) => panic!("a corrupted blob loaded"),
            Err(Error::BadMagic) => 0,
            Err(Error::UnsupportedVersion { .. }) => 1,
            Err(Error::Truncated { .. }) => 2,
            Err(Error::WrongLength { .. }) => 3,
            Err(Error::ChecksumMismatch { .. }) => 4,
            Err(Error::ShapeMismatch { .. }) => 5,
            Err(Error::NonFinite(_)) => 6,
            Err(_) => 7,
        };
        kinds[kind] += 1;
    }
    assert_eq!(target, keep);
    // Most corruptions hit the payload and are caught by the CRC.
    assert!(kinds[4] > 8_000, "{kinds:?}");
}

#[test]
fn random_bytes_and_headers_never_panic() {
    let mut rng = Rng::seed(77);
    let mut target = net(8);
    let keep = target.clone();
    let valid = blob(&keep);
    for i in 0..20_000usize {
        let len = tinytrain::rng::below(&mut rng, (LEN + 40) as u32) as usize;
        let mut v: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
        // Half of them keep a valid magic and version to reach deeper checks,
        // with a random parameter count that may overflow the length.
        if i % 2 == 0 && len >= 16 {
            v[..8].copy_from_slice(&valid[..8]);
        }
        assert!(load(&mut target, &v).is_err());
    }
    let mut huge = valid.clone();
    huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        load(&mut target, &huge),
        Err(Error::Truncated { .. })
    ));
    assert_eq!(target, keep);
}

#[test]
fn a_blob_of_another_network_is_refused() {
    type Other = mlp![Dense<5, 7, Sigmoid>, Dense<7, 6, Relu>, Dense<6, 4, LeakyRelu>, Dense<4, 3, Identity>];
    let bytes = blob(&net(9));
    let mut other = Other::ZERO;
    assert_eq!(
        load(&mut other, &bytes),
        Err(Error::ShapeMismatch {
            expected: Other::SHAPE_HASH,
            found: Net::SHAPE_HASH
        })
    );
    assert!(verify::<Net>(&bytes).is_ok());
    assert_eq!(other, Other::ZERO);
}

#[test]
fn saving_into_a_short_buffer_is_an_error() {
    let mut buf = vec![0u8; LEN - 1];
    assert_eq!(
        save(&net(1), &mut buf),
        Err(Error::WrongLength {
            expected: LEN,
            found: LEN - 1
        })
    );
    assert!(buf.iter().all(|&b| b == 0));
}
