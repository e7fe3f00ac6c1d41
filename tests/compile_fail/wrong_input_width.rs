// Feeding 3 inputs to a network that takes 2 does not compile.
use tinytrain::{mlp, Dense, Model, Network, Sigmoid};

type Xor = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];

fn main() {
    let net = Xor::ZERO;
    let mut scratch = Xor::SCRATCH;
    let _ = net.forward(&[0.0, 1.0, 2.0], &mut scratch);
}
