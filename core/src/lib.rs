#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The `std` feature needs only the `alloc` crate, so it builds for every target.
#[cfg(feature = "std")]
extern crate alloc;

pub mod activation;
pub mod blob;
mod error;
pub mod init;
pub mod kernel;
pub mod loss;
pub mod math;
pub mod network;
pub mod replay;
pub mod rng;
pub mod train;

pub use activation::{Activation, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
pub use error::Error;
pub use init::{init, init_seeded, Init};
pub use loss::{argmax, BinaryCrossEntropy, Loss, Mse, SoftmaxCrossEntropy, Target};
pub use network::{Dense, LayerMut, LayerRef, LayerScratch, Model, Network, Seq, SeqScratch};
pub use rand_core::RngCore;
pub use replay::{Label, Replay};
pub use rng::Rng;
pub use train::{
    evaluate, forward_backward, forward_backward_batch, Dataset, EpochStats, Gradients,
    SampleIndex, Samples, Schedule, Sgd, SgdConfig, StepReport, Stream, Trainer, Velocity,
};

/// Host conveniences (feature `std`).
#[cfg(feature = "std")]
pub mod host {
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    use crate::{blob, Error, Model};

    /// A zeroed model on the heap, for networks too big for a thread's stack.
    pub fn boxed<N: Model>() -> Box<N> {
        Box::new(N::ZERO)
    }

    /// The model's weight blob as a new vector.
    pub fn to_blob<N: Model>(net: &N) -> Result<Vec<u8>, Error> {
        let mut v = vec![0u8; blob::blob_len::<N>()];
        blob::save(net, &mut v)?;
        Ok(v)
    }
}
