//! Integration tests of the tinytrain workspace (see `tests.rs`).
//!
//! The library target exists to doctest the top-level README, so that its
//! examples are compiled and run by `cargo test` and cannot drift.
#![doc = include_str!("../../README.md")]
