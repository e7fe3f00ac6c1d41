//! The 8×8 digits data set (`data/digits.csv`) kept in flash as `u8` and
//! converted to `f32` one sample at a time, so RAM holds one input, not 117 KB.

use tinytrain::{Dataset, Error, Target};

/// Bytes per stored row: 64 pixels (0..=16) then the label (0..=9).
pub const ROW: usize = 65;
/// Input width.
pub const INPUTS: usize = 64;
/// Classes.
pub const CLASSES: usize = 10;

/// The fingerprint of the `digits` program's trained weights
/// (`tinytrain::blob::fingerprint`), from `expected/digits-checksum.txt`,
/// which the host test `tests/firmware_bits.rs` recomputes.
pub const EXPECTED_CHECKSUM: u32 =
    crate::parse_hex(include_str!("../../expected/digits-checksum.txt"));

/// Training rows (`split` = 0), written by `build.rs`.
pub static TRAIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/digits-train.bin"));
/// Held-out rows (`split` = 1).
pub static TEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/digits-test.bin"));

/// A view of rows in flash as a [`Dataset`]: pixel / 16 in \[0, 1\], class target.
#[derive(Clone, Copy, Debug)]
pub struct FlashDigits {
    rows: &'static [u8],
}

impl FlashDigits {
    /// The training split (1437 rows).
    pub const fn train() -> Self {
        FlashDigits { rows: TRAIN }
    }

    /// The test split (360 rows).
    pub const fn test() -> Self {
        FlashDigits { rows: TEST }
    }

    /// The first `n` rows only (for quick measurements).
    pub fn take(self, n: usize) -> Self {
        let end = (n * ROW).min(self.rows.len());
        FlashDigits {
            rows: &self.rows[..end],
        }
    }
}

impl Dataset<INPUTS, CLASSES> for FlashDigits {
    fn len(&self) -> usize {
        self.rows.len() / ROW
    }

    fn sample<'a>(
        &'a mut self,
        index: usize,
        buf: &'a mut [f32; INPUTS],
    ) -> Result<(&'a [f32; INPUTS], Target<CLASSES>), Error> {
        let row = self
            .rows
            .get(index * ROW..(index + 1) * ROW)
            .ok_or(Error::WrongLength {
                expected: index + 1,
                found: self.len(),
            })?;
        // Multiplying by 1/16 is exact (a power of two): same bits as pixel / 16.0 on a host.
        for (x, &p) in buf.iter_mut().zip(row) {
            *x = f32::from(p) * (1.0 / 16.0);
        }
        Ok((buf, Target::Class(usize::from(row[INPUTS]))))
    }
}
