//! The networks compiled into the simulator.
//!
//! A network's widths are const generics, fixed when this program is
//! compiled: the command line can choose among these types but cannot make
//! new shapes. CSV data is trained with the `csv*` networks, whose inputs are
//! zero-padded up to the compiled width (8, 32 or 128 columns) and whose
//! classifiers have 10 outputs (up to 10 classes).

use tinytrain::{mlp, Dense, Identity, Init, Relu, Sigmoid, Tanh};

/// The loss a network is trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Mean squared error (regression, or W1's sigmoid output).
    Mse,
    /// Binary cross-entropy on one logit.
    Bce,
    /// Softmax with categorical cross-entropy on logits.
    SoftmaxCe,
}

impl LossKind {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::Bce => "bce",
            LossKind::SoftmaxCe => "softmax-ce",
        }
    }

    /// True for losses whose outputs are classified (accuracy makes sense).
    pub fn classifies(self) -> bool {
        !matches!(self, LossKind::Mse)
    }
}

/// W1: 2-8-1, sigmoid hidden and output, MSE.
pub type Xor = mlp![Dense<2, 8, Sigmoid>, Dense<8, 1, Sigmoid>];
/// W1b: 2-8-1, tanh hidden, one logit, BCE.
pub type XorTanh = mlp![Dense<2, 8, Tanh>, Dense<8, 1, Identity>];
/// 1-16-16-1 tanh regression.
pub type Sine = mlp![Dense<1, 16, Tanh>, Dense<16, 16, Tanh>, Dense<16, 1, Identity>];
/// 2-32-32-1 tanh, one logit (spiral, moons).
pub type Binary = mlp![Dense<2, 32, Tanh>, Dense<32, 32, Tanh>, Dense<32, 1, Identity>];
/// W2: 64-32-10 ReLU, softmax-CE.
pub type Digits = mlp![Dense<64, 32, Relu>, Dense<32, 10, Identity>];
/// 64-16-10 ReLU.
pub type DigitsSmall = mlp![Dense<64, 16, Relu>, Dense<16, 10, Identity>];
/// 64-128-64-10 ReLU.
pub type DigitsLarge = mlp![Dense<64, 128, Relu>, Dense<128, 64, Relu>, Dense<64, 10, Identity>];
/// W3: 784-128-64-10 ReLU.
pub type Mnist = mlp![Dense<784, 128, Relu>, Dense<128, 64, Relu>, Dense<64, 10, Identity>];
/// CSV regression, up to 8 inputs.
pub type Csv8Reg = mlp![Dense<8, 32, Relu>, Dense<32, 32, Relu>, Dense<32, 1, Identity>];
/// CSV classification, up to 8 inputs and 10 classes.
pub type Csv8Cls = mlp![Dense<8, 32, Relu>, Dense<32, 32, Relu>, Dense<32, 10, Identity>];
/// CSV regression, up to 32 inputs.
pub type Csv32Reg = mlp![Dense<32, 64, Relu>, Dense<64, 32, Relu>, Dense<32, 1, Identity>];
/// CSV classification, up to 32 inputs and 10 classes.
pub type Csv32Cls = mlp![Dense<32, 64, Relu>, Dense<64, 32, Relu>, Dense<32, 10, Identity>];
/// CSV regression, up to 128 inputs.
pub type Csv128Reg = mlp![Dense<128, 64, Relu>, Dense<64, 32, Relu>, Dense<32, 1, Identity>];
/// CSV classification, up to 128 inputs and 10 classes.
pub type Csv128Cls = mlp![Dense<128, 64, Relu>, Dense<64, 32, Relu>, Dense<32, 10, Identity>];

/// What the command line knows about a compiled-in network.
#[derive(Clone, Copy, Debug)]
pub struct NetInfo {
    /// Name on the command line.
    pub name: &'static str,
    /// Rust type name (for `export --rust`).
    pub type_name: &'static str,
    /// Layer widths and activations, for people.
    pub shape: &'static str,
    /// Loss.
    pub loss: LossKind,
    /// Initialisation.
    pub init: Init,
    /// Inputs and outputs.
    pub io: (usize, usize),
    /// `Model::SHAPE_HASH`, to recognise a weight blob's network.
    pub shape_hash: u32,
}

/// Runs `$body` with `$N` the network type, `$L` its loss type and `$I`,
/// `$O` its widths, for the network named `$name`; `None` for an unknown name.
#[macro_export]
macro_rules! with_net {
    ($name:expr, |$N:ident, $L:ident, $I:ident, $O:ident| $body:expr) => {{
        use $crate::nets::*;
        #[allow(unused_imports)]
        use tinytrain::{BinaryCrossEntropy, Mse, SoftmaxCrossEntropy};
        match $name {
            "xor" => $crate::with_net!(@arm Xor, Mse, 2, 1, $N, $L, $I, $O, $body),
            "xor-tanh" => $crate::with_net!(@arm XorTanh, BinaryCrossEntropy, 2, 1, $N, $L, $I, $O, $body),
            "sine" => $crate::with_net!(@arm Sine, Mse, 1, 1, $N, $L, $I, $O, $body),
            "binary" => $crate::with_net!(@arm Binary, BinaryCrossEntropy, 2, 1, $N, $L, $I, $O, $body),
            "digits" => $crate::with_net!(@arm Digits, SoftmaxCrossEntropy, 64, 10, $N, $L, $I, $O, $body),
            "digits-small" => $crate::with_net!(@arm DigitsSmall, SoftmaxCrossEntropy, 64, 10, $N, $L, $I, $O, $body),
            "digits-large" => $crate::with_net!(@arm DigitsLarge, SoftmaxCrossEntropy, 64, 10, $N, $L, $I, $O, $body),
            "mnist" => $crate::with_net!(@arm Mnist, SoftmaxCrossEntropy, 784, 10, $N, $L, $I, $O, $body),
            "csv8-reg" => $crate::with_net!(@arm Csv8Reg, Mse, 8, 1, $N, $L, $I, $O, $body),
            "csv8-cls" => $crate::with_net!(@arm Csv8Cls, SoftmaxCrossEntropy, 8, 10, $N, $L, $I, $O, $body),
            "csv32-reg" => $crate::with_net!(@arm Csv32Reg, Mse, 32, 1, $N, $L, $I, $O, $body),
            "csv32-cls" => $crate::with_net!(@arm Csv32Cls, SoftmaxCrossEntropy, 32, 10, $N, $L, $I, $O, $body),
            "csv128-reg" => $crate::with_net!(@arm Csv128Reg, Mse, 128, 1, $N, $L, $I, $O, $body),
            "csv128-cls" => $crate::with_net!(@arm Csv128Cls, SoftmaxCrossEntropy, 128, 10, $N, $L, $I, $O, $body),
            _ => None,
        }
    }};
    (@arm $T:ty, $Loss:ty, $i:expr, $o:expr, $N:ident, $L:ident, $I:ident, $O:ident, $body:expr) => {{
        #[allow(dead_code)]
        type $N = $T;
        #[allow(dead_code)]
        type $L = $Loss;
        #[allow(dead_code)]
        const $I: usize = $i;
        #[allow(dead_code)]
        const $O: usize = $o;
        Some($body)
    }};
}

macro_rules! info {
    ($name:literal, $T:ident, $shape:literal, $loss:ident, $init:ident, $i:literal, $o:literal) => {
        NetInfo {
            name: $name,
            type_name: stringify!($T),
            shape: $shape,
            loss: LossKind::$loss,
            init: Init::$init,
            io: ($i, $o),
            shape_hash: <$T as tinytrain::Model>::SHAPE_HASH,
        }
    };
}

/// Every compiled-in network, in the order `--help` lists them.
pub const NETS: &[NetInfo] = &[
    info!(
        "xor",
        Xor, "2-8-1 sigmoid/sigmoid (W1)", Mse, XavierUniform, 2, 1
    ),
    info!(
        "xor-tanh",
        XorTanh, "2-8-1 tanh, logit (W1b)", Bce, XavierUniform, 2, 1
    ),
    info!(
        "sine",
        Sine, "1-16-16-1 tanh, linear out", Mse, XavierUniform, 1, 1
    ),
    info!(
        "binary",
        Binary, "2-32-32-1 tanh, logit", Bce, XavierUniform, 2, 1
    ),
    info!(
        "digits",
        Digits, "64-32-10 relu, logits (W2)", SoftmaxCe, PyTorchDefault, 64, 10
    ),
    info!(
        "digits-small",
        DigitsSmall, "64-16-10 relu, logits", SoftmaxCe, PyTorchDefault, 64, 10
    ),
    info!(
        "digits-large",
        DigitsLarge, "64-128-64-10 relu, logits", SoftmaxCe, PyTorchDefault, 64, 10
    ),
    info!(
        "mnist",
        Mnist, "784-128-64-10 relu, logits (W3)", SoftmaxCe, PyTorchDefault, 784, 10
    ),
    info!(
        "csv8-reg",
        Csv8Reg, "8-32-32-1 relu, linear out", Mse, PyTorchDefault, 8, 1
    ),
    info!(
        "csv8-cls",
        Csv8Cls, "8-32-32-10 relu, logits", SoftmaxCe, PyTorchDefault, 8, 10
    ),
    info!(
        "csv32-reg",
        Csv32Reg, "32-64-32-1 relu, linear out", Mse, PyTorchDefault, 32, 1
    ),
    info!(
        "csv32-cls",
        Csv32Cls, "32-64-32-10 relu, logits", SoftmaxCe, PyTorchDefault, 32, 10
    ),
    info!(
        "csv128-reg",
        Csv128Reg, "128-64-32-1 relu, linear out", Mse, PyTorchDefault, 128, 1
    ),
    info!(
        "csv128-cls",
        Csv128Cls, "128-64-32-10 relu, logits", SoftmaxCe, PyTorchDefault, 128, 10
    ),
];

/// The network called `name`.
pub fn find(name: &str) -> Option<&'static NetInfo> {
    NETS.iter().find(|n| n.name == name)
}

/// The network whose shape hash is `hash` (the first, if several share one).
pub fn by_hash(hash: u32) -> Option<&'static NetInfo> {
    NETS.iter().find(|n| n.shape_hash == hash)
}

/// The CSV network for `inputs` columns: the narrowest compiled width that fits.
pub fn for_csv(inputs: usize, classify: bool) -> Option<&'static str> {
    let name = match (inputs, classify) {
        (0..=8, false) => "csv8-reg",
        (0..=8, true) => "csv8-cls",
        (9..=32, false) => "csv32-reg",
        (9..=32, true) => "csv32-cls",
        (33..=128, false) => "csv128-reg",
        (33..=128, true) => "csv128-cls",
        _ => return None,
    };
    Some(name)
}

/// One line per network, for `--help`.
pub fn help_list() -> String {
    NETS.iter()
        .map(|n| format!("  {:<13} {} [{}]", n.name, n.shape, n.loss.name()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_matches_the_dispatch() {
        for n in NETS {
            let (hash, io) = with_net!(n.name, |N, L, I, O| {
                let _ = std::marker::PhantomData::<L>;
                (<N as tinytrain::Model>::SHAPE_HASH, (I, O))
            })
            .expect("every listed network dispatches");
            assert_eq!(hash, n.shape_hash, "{}", n.name);
            assert_eq!(io, n.io, "{}", n.name);
        }
        assert!(with_net!("nope", |N, L, I, O| 0).is_none());
    }

    #[test]
    fn shape_hashes_are_distinct() {
        for (i, a) in NETS.iter().enumerate() {
            for b in &NETS[i + 1..] {
                assert_ne!(a.shape_hash, b.shape_hash, "{} vs {}", a.name, b.name);
            }
        }
    }
}
