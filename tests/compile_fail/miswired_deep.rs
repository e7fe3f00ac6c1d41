// A mismatch deep inside a four-layer network is caught too, when training.
use tinytrain::{mlp, Dense, Gradients, Identity, Model, Mse, Relu, Samples, Sgd, SgdConfig, Tanh, Trainer};

type Bad = mlp![Dense<4, 16, Relu>, Dense<16, 12, Tanh>, Dense<13, 6, Relu>, Dense<6, 1, Identity>];

fn main() {
    let mut net = Bad::new();
    let mut scratch = Bad::SCRATCH;
    let mut grads = Gradients::<Bad>::ZERO;
    let xs = [[0.0f32; 4]];
    let ts = [[0.0f32; 1]];
    let mut data = Samples::new(&xs, &ts).unwrap();
    let sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let mut t = Trainer::new(&mut net, &mut scratch, &mut grads, Mse, sgd).unwrap();
    let _ = t.epoch_in_order(&mut data, 1);
}
