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
