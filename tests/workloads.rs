//! The standard workloads (W1, W1b, W2) reproduce their reference figures.

use crate::common::{load_xor, XOR_T, XOR_X};
use tinytrain::{
    mlp, BinaryCrossEntropy, Dense, Gradients, Identity, Model, Mse, Samples, Sgd, SgdConfig,
    Sigmoid, Tanh, Trainer,
};

/// First epoch k whose pre-update loss is below 0.01.
fn epochs_to_converge<N, L>(loss: L) -> Option<u32>
where
    N: tinytrain::Network<2, 1>,
    L: tinytrain::Loss<1>,
{
    let mut net = N::ZERO;
    load_xor(&mut net);
    let mut scratch = N::SCRATCH;
    let mut grads = Gradients::<N>::ZERO;
    let mut data = Samples::new(&XOR_X, &XOR_T).unwrap();
    let sgd = Sgd::new(SgdConfig::new(0.5)).unwrap();
    let mut t = Trainer::new(&mut net, &mut scratch, &mut grads, loss, sgd).unwrap();
    (0..10_000).find(|_| t.epoch_in_order(&mut data, 4).unwrap().loss() < 0.01)
}

#[test]
fn w1_xor_sigmoid_mse_converges_at_epoch_1513() {
    type W1 = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];
    assert_eq!(epochs_to_converge::<W1, _>(Mse), Some(1513));
}

#[test]
fn w1b_xor_tanh_bce_converges_at_epoch_367() {
    type W1b = mlp![Dense<2, 8, Tanh>, Dense<8, 1, Identity>];
    assert_eq!(epochs_to_converge::<W1b, _>(BinaryCrossEntropy), Some(367));
}

#[test]
fn w2_digits_reaches_094_test_accuracy_in_30_epochs() {
    use tinytrain::{evaluate, init_seeded, Init, Relu, Rng, SoftmaxCrossEntropy};
    type W2 = mlp![Dense<64, 32, Relu>, Dense<32, 10, Identity>];
    let d = crate::common::digits();
    let mut net = tinytrain::host::boxed::<W2>();
    init_seeded(&mut *net, Init::PyTorchDefault, 0);
    let mut scratch = W2::SCRATCH;
    let mut grads = Box::new(Gradients::<W2>::ZERO);
    let mut train = Samples::classes(&d.train_x, &d.train_y).unwrap();
    let mut test = Samples::classes(&d.test_x, &d.test_y).unwrap();
    let mut order = vec![0u16; d.train_x.len()];
    let mut rng = Rng::seed(0);
    let sgd = Sgd::new(SgdConfig::new(0.05)).unwrap();
    let mut t = Trainer::new(
        &mut *net,
        &mut scratch,
        &mut grads,
        SoftmaxCrossEntropy,
        sgd,
    )
    .unwrap();
    let mut first = 0.0;
    for epoch in 0..30 {
        let s = t.epoch(&mut train, &mut order, 32, &mut rng).unwrap();
        assert_eq!(s.samples, 1408, "44 full batches of 32");
        if epoch == 0 {
            first = s.loss();
        }
    }
    let acc = evaluate(&*net, &mut scratch, &mut test, &SoftmaxCrossEntropy)
        .unwrap()
        .accuracy();
    assert!(first > 1.0, "first epoch loss {first}");
    assert!(acc >= 0.94, "test accuracy {acc}");
}
