// A layer of 8 outputs wired into a layer of 9 inputs is not a network.
use tinytrain::{Dense, Model, Network, Seq, Sigmoid};

type Bad = Seq<Dense<2, 8, Sigmoid>, Dense<9, 1, Sigmoid>>;

fn main() {
    let net = Bad::new();
    let mut scratch = <Dense<2, 8, Sigmoid> as Model>::SCRATCH;
    let _ = net.forward(&[0.0, 1.0], &mut scratch);
}
