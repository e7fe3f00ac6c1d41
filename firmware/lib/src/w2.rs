//! Workload W2's network (`shared/WORKLOADS.md`): 64-32-10, ReLU hidden,
//! softmax cross-entropy on the logits. 2,410 parameters, 9,640 bytes.

use tinytrain::{mlp, Dense, Identity, Relu};

/// The W2 network.
pub type W2 = mlp![Dense<64, 32, Relu>, Dense<32, 10, Identity>];

/// Multiply-accumulates per training sample as `shared/PEERS.md` counts
/// them: 3 × parameters (forward, input gradient, weight gradient).
pub const TRAIN_MACS: u32 = 3 * INFER_MACS;
/// Multiply-accumulates per inference as `shared/PEERS.md` counts them: the parameters.
pub const INFER_MACS: u32 = <W2 as tinytrain::Model>::PARAMS as u32;
