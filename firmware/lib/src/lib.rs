//! Board-independent parts of the tinytrain sample firmware.
//!
//! Everything here is plain `no_std` code over `tinytrain` and `embedded-hal`
//! traits: the QEMU programs and the nRF52840-DK program share it, and only
//! supply a bus, a pin, a logger and a way to stop.
#![no_std]

pub mod accel;
pub mod digits;
pub mod gesture;
pub mod w2;
pub mod xor;

/// `0x`-prefixed hexadecimal, surrounding whitespace allowed; fails the build otherwise.
pub(crate) const fn parse_hex(s: &str) -> u32 {
    let b = s.as_bytes();
    let (mut i, mut end) = (0, b.len());
    while i < end && b[i].is_ascii_whitespace() {
        i += 1;
    }
    while end > i && b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    assert!(
        end > i + 2 && b[i] == b'0' && b[i + 1] == b'x',
        "expected 0x..."
    );
    assert!(end - i - 2 <= 8, "more than 32 bits");
    i += 2;
    let mut v = 0u32;
    while i < end {
        let d = match b[i] {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("not a hex digit"),
        };
        v = (v << 4) | d as u32;
        i += 1;
    }
    v
}
