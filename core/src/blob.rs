//! Weight blobs: a model's parameters as bytes, safe to store and reload.
//!
//! Format, version 1, all integers and floats little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `TTNB` |
//! | 4 | 2 | format version (1) |
//! | 6 | 2 | number of layers |
//! | 8 | 4 | shape hash ([`Model::SHAPE_HASH`]: widths and activations) |
//! | 12 | 4 | number of parameters n |
//! | 16 | 4·n | parameters as f32, layer by layer: `w[o][i]` row-major, then `b` |
//! | 16 + 4n | 4 | CRC-32 (IEEE, as zlib's `crc32`) of bytes 0 .. 16 + 4n |
//!
//! [`load`] checks everything before it writes anything, so a bad blob never
//! damages the model it was meant for, and no byte sequence can make it panic.

use crate::error::Error;
use crate::network::Model;

/// First four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"TTNB";
/// The format version written by this build.
pub const VERSION: u16 = 1;
/// Bytes before the parameters.
pub const HEADER_LEN: usize = 16;

/// Size in bytes of the blob of network `N`.
pub const fn blob_len<N: Model>() -> usize {
    HEADER_LEN + 4 * N::PARAMS + 4
}

/// CRC-32 (IEEE 802.3, reflected, as zlib), four bits at a time from a
/// 16-entry table: small enough for a microcontroller's flash.
pub fn crc32(bytes: &[u8]) -> u32 {
    Crc32::new().update(bytes).finish()
}

/// A [`crc32`] taken piece by piece: `Crc32::new().update(a).update(b).finish()`
/// is `crc32` of `a` followed by `b`.
#[derive(Clone, Copy, Debug)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    const TABLE: [u32; 16] = {
        let mut t = [0u32; 16];
        let mut i = 0;
        while i < 16 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 4 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };

    /// The CRC of nothing yet.
    pub const fn new() -> Self {
        Crc32(!0)
    }

    /// The CRC so far, then `bytes`.
    pub fn update(self, bytes: &[u8]) -> Self {
        let mut crc = self.0;
        for &b in bytes {
            crc = Self::TABLE[((crc ^ u32::from(b)) & 0xf) as usize] ^ (crc >> 4);
            crc = Self::TABLE[((crc ^ (u32::from(b) >> 4)) & 0xf) as usize] ^ (crc >> 4);
        }
        Crc32(crc)
    }

    /// The CRC-32 of everything given.
    pub fn finish(self) -> u32 {
        !self.0
    }
}

/// The blob's first [`HEADER_LEN`] bytes for network `N`.
fn header<N: Model>() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[6..8].copy_from_slice(&(N::LAYERS as u16).to_le_bytes());
    h[8..12].copy_from_slice(&N::SHAPE_HASH.to_le_bytes());
    h[12..16].copy_from_slice(&(N::PARAMS as u32).to_le_bytes());
    h
}

/// Writes `net`'s blob into the front of `out` and returns its length
/// ([`blob_len`]); `out` must be at least that long.
pub fn save<N: Model>(net: &N, out: &mut [u8]) -> Result<usize, Error> {
    let len = blob_len::<N>();
    let found = out.len();
    let out = out.get_mut(..len).ok_or(Error::WrongLength {
        expected: len,
        found,
    })?;
    out[..HEADER_LEN].copy_from_slice(&header::<N>());
    let (head, crc_bytes) = out.split_at_mut(len - 4);
    let mut chunks = head[HEADER_LEN..].chunks_exact_mut(4);
    for l in 0..N::LAYERS {
        let Some(layer) = net.layer(l) else { continue };
        for (&v, dst) in layer.w.iter().chain(layer.b).zip(&mut chunks) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
    crc_bytes.copy_from_slice(&crc32(head).to_le_bytes());
    Ok(len)
}

/// The CRC-32 of `net`'s blob up to (not including) its own CRC field: of
/// the header and every parameter's bits, computed without the blob's
/// memory. Two models with the same fingerprint almost surely have the same
/// weights bit for bit, so a device can prove it trained what a host did.
/// (The CRC of a whole blob, its CRC field included, is one constant for
/// every blob, so it could not tell two models apart.)
pub fn fingerprint<N: Model>(net: &N) -> u32 {
    let mut crc = Crc32::new().update(&header::<N>());
    for l in 0..N::LAYERS {
        let Some(layer) = net.layer(l) else { continue };
        for &v in layer.w.iter().chain(layer.b) {
            crc = crc.update(&v.to_le_bytes());
        }
    }
    crc.finish()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks a blob for network `N` without loading it; returns its parameter bytes.
pub fn verify<N: Model>(bytes: &[u8]) -> Result<&[u8], Error> {
    let found = bytes.len();
    if found < HEADER_LEN + 4 {
        return Err(Error::Truncated {
            expected: blob_len::<N>(),
            found,
        });
    }
    if bytes[0..4] != MAGIC {
        return Err(Error::BadMagic);
    }
    let version = u16_at(bytes, 4);
    if version != VERSION {
        return Err(Error::UnsupportedVersion { found: version });
    }
    let count = u32_at(bytes, 12) as usize;
    let total = count
        .checked_mul(4)
        .and_then(|p| p.checked_add(HEADER_LEN + 4))
        .ok_or(Error::Truncated {
            expected: usize::MAX,
            found,
        })?;
    if found < total {
        return Err(Error::Truncated {
            expected: total,
            found,
        });
    }
    if found > total {
        return Err(Error::WrongLength {
            expected: total,
            found,
        });
    }
    let (body, crc) = bytes.split_at(total - 4);
    let stored = u32_at(crc, 0);
    let computed = crc32(body);
    if stored != computed {
        return Err(Error::ChecksumMismatch { computed, stored });
    }
    let hash = u32_at(bytes, 8);
    if hash != N::SHAPE_HASH || count != N::PARAMS || usize::from(u16_at(bytes, 6)) != N::LAYERS {
        return Err(Error::ShapeMismatch {
            expected: N::SHAPE_HASH,
            found: hash,
        });
    }
    let payload = &body[HEADER_LEN..];
    if payload
        .chunks_exact(4)
        .any(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
    {
        return Err(Error::NonFinite("weights"));
    }
    Ok(payload)
}

/// Loads a blob written by [`save`] for the same network type. On any error
/// the model is untouched.
pub fn load<N: Model>(net: &mut N, bytes: &[u8]) -> Result<(), Error> {
    let payload = verify::<N>(bytes)?;
    let mut chunks = payload.chunks_exact(4);
    for l in 0..N::LAYERS {
        let Some(layer) = net.layer_mut(l) else {
            continue;
        };
        for (v, c) in layer
            .w
            .iter_mut()
            .chain(layer.b.iter_mut())
            .zip(&mut chunks)
        {
            *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{init_seeded, Dense, Init, Relu, Seq, Sigmoid, Tanh};

    type Net = Seq<Dense<3, 5, Relu>, Dense<5, 2, Sigmoid>>;
    type Other = Seq<Dense<3, 5, Tanh>, Dense<5, 2, Sigmoid>>;
    const LEN: usize = blob_len::<Net>();

    fn net() -> Net {
        let mut n = Net::ZERO;
        init_seeded(&mut n, Init::PyTorchDefault, 11);
        n
    }

    #[test]
    fn crc_matches_known_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        let pieces = Crc32::new().update(b"1234").update(b"").update(b"56789");
        assert_eq!(pieces.finish(), 0xcbf4_3926);
    }

    #[test]
    fn fingerprint_is_the_crc_of_the_blob_before_its_crc_field() {
        let mut a = net();
        let mut buf = [0u8; LEN];
        save(&a, &mut buf).unwrap();
        assert_eq!(fingerprint(&a), crc32(&buf[..LEN - 4]));
        // One bit of one parameter changes it.
        let before = fingerprint(&a);
        a.rest.b[1] = f32::from_bits(a.rest.b[1].to_bits() ^ 1);
        assert_ne!(fingerprint(&a), before);
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let a = net();
        let mut buf = [0u8; LEN + 3];
        assert_eq!(save(&a, &mut buf), Ok(LEN));
        let mut b = Net::ZERO;
        load(&mut b, &buf[..LEN]).unwrap();
        assert_eq!(a, b);
        assert_eq!(&buf[..4], b"TTNB");
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let a = net();
        let mut buf = [0u8; LEN];
        save(&a, &mut buf).unwrap();
        let mut b = net();
        init_seeded(&mut b, Init::HeUniform, 1);
        let before = b.clone();

        assert!(matches!(
            load(&mut b, &buf[..LEN - 1]),
            Err(Error::Truncated { .. })
        ));
        let mut bad = buf;
        bad[0] = b'X';
        assert_eq!(load(&mut b, &bad), Err(Error::BadMagic));
        let mut bad = buf;
        bad[4] = 2;
        assert_eq!(
            load(&mut b, &bad),
            Err(Error::UnsupportedVersion { found: 2 })
        );
        let mut bad = buf;
        bad[20] ^= 0x40;
        assert!(matches!(
            load(&mut b, &bad),
            Err(Error::ChecksumMismatch { .. })
        ));
        let mut other = Other::ZERO;
        assert!(matches!(
            load(&mut other, &buf),
            Err(Error::ShapeMismatch { .. })
        ));
        let mut small = [0u8; 10];
        assert!(matches!(
            save(&a, &mut small),
            Err(Error::WrongLength { .. })
        ));
        assert_eq!(b, before);
    }

    #[test]
    fn nan_weights_with_valid_crc_are_refused() {
        let mut a = net();
        a.first.w[0][0] = f32::NAN;
        let mut buf = [0u8; LEN];
        save(&a, &mut buf).unwrap();
        let mut b = net();
        assert_eq!(load(&mut b, &buf), Err(Error::NonFinite("weights")));
        assert_eq!(b, net());
    }
}
