//! The workspace's integration tests, in one binary (one link, one run).

mod alloc;
mod blob;
mod common;
mod compile_fail;
// The firmware is built with libm; `fast-math` computes other bits on purpose.
#[cfg(not(feature = "fast-math"))]
mod firmware_bits;
// Finite differences of `fast-math`'s piecewise approximations of exp and
// tanh measure the approximations' own kinks, not backpropagation: the
// gradient checks run in the exact build, and `parity` bounds fast-math's
// end-to-end deviation from PyTorch.
#[cfg(not(feature = "fast-math"))]
mod gradcheck;
mod parity;
mod robustness;
mod training;
mod workloads;
