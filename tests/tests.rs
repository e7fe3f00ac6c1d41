//! The workspace's integration tests, in one binary (one link, one run).

mod common;
mod robustness;
mod training;
mod workloads;
mod alloc;
mod blob;
mod compile_fail;
