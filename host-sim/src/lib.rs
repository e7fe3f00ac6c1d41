//! Host simulator for `tinytrain`: the same const-generic networks, trained
//! with threads on a workstation, evaluated, benchmarked and exchanged with
//! PyTorch. See `README.md` in this folder for the command line.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod data;
pub mod exchange;
pub mod latency;
pub mod nets;
mod pace;
pub mod parallel;
pub mod peak;
pub mod plot;
pub mod report;
pub mod scale;
mod sync;

pub use pace::Pacing;
pub use parallel::{EpochEnd, Order, ParallelTrainer, TrainSet};
