//! Bad numbers and bad hyper-parameters are refused, and the model survives.

use tinytrain::{
    mlp, Dense, Error, Gradients, Identity, Init, Model, Mse, Network, Relu, Samples, Schedule,
    Sgd, SgdConfig, SoftmaxCrossEntropy, Tanh, Target, Trainer, Velocity,
};

type Net = mlp![Dense<3, 6, Tanh>, Dense<6, 4, Relu>, Dense<4, 2, Identity>];

fn net() -> Net {
    let mut n = Net::ZERO;
    tinytrain::init_seeded(&mut n, Init::XavierUniform, 3);
    n
}

/// Bitwise equality, so that NaN parameters compare too.
fn same_bits<N: Model>(a: &N, b: &N) -> bool {
    (0..N::LAYERS).all(|l| {
        let (x, y) = (a.layer(l).unwrap(), b.layer(l).unwrap());
        x.w.iter()
            .chain(x.b)
            .zip(y.w.iter().chain(y.b))
            .all(|(p, q)| p.to_bits() == q.to_bits())
    })
}

#[test]
fn non_finite_inputs_and_targets_are_rejected_without_touching_the_model() {
    let mut n = net();
    let before = n.clone();
    let mut s = Net::SCRATCH;
    let mut g = Gradients::<Net>::ZERO;
    let sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let t = Target::Values([0.0, 1.0]);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let x = [0.5, bad, 0.1];
        assert_eq!(
            g.accumulate(&n, &mut s, &x, &t, &Mse),
            Err(Error::NonFinite("input"))
        );
        assert_eq!(
            sgd.fit_sample(&mut n, &mut s, &x, &t, &Mse),
            Err(Error::NonFinite("input"))
        );
        let tb = Target::Values([bad, 1.0]);
        assert_eq!(
            g.accumulate(&n, &mut s, &[0.5; 3], &tb, &Mse),
            Err(Error::NonFinite("target"))
        );
    }
    assert_eq!(g.count, 0);
    assert_eq!(sgd.step(&mut n, &mut g, None), Err(Error::Empty));
    assert!(same_bits(&n, &before));
}

#[test]
fn overflowing_loss_is_rejected() {
    let mut n = net();
    let before = n.clone();
    let mut s = Net::SCRATCH;
    let sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    // Finite inputs so large that the squared error overflows f32.
    let x = [3e37, -3e37, 3e37];
    let r = sgd.fit_sample(&mut n, &mut s, &x, &Target::Values([0.0, 0.0]), &Mse);
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");
    assert!(same_bits(&n, &before));
}

#[test]
fn huge_learning_rate_is_refused() {
    assert_eq!(
        Sgd::new(SgdConfig::new(1e6)),
        Err(Error::InvalidParam("lr must be finite and in (0, 10]"))
    );
}

#[test]
fn every_hyper_parameter_is_validated_by_name() {
    let base = SgdConfig::new(0.1);
    let bad = [
        (SgdConfig { lr: 0.0, ..base }, "lr"),
        (SgdConfig { lr: -1.0, ..base }, "lr"),
        (
            SgdConfig {
                lr: f32::NAN,
                ..base
            },
            "lr",
        ),
        (
            SgdConfig {
                lr: f32::INFINITY,
                ..base
            },
            "lr",
        ),
        (
            SgdConfig {
                momentum: 1.0,
                ..base
            },
            "momentum",
        ),
        (
            SgdConfig {
                momentum: -0.1,
                ..base
            },
            "momentum",
        ),
        (
            SgdConfig {
                weight_decay: -1e-3,
                ..base
            },
            "weight_decay",
        ),
        (
            SgdConfig {
                weight_decay: f32::NAN,
                ..base
            },
            "weight_decay",
        ),
        (
            SgdConfig {
                clip_norm: Some(0.0),
                ..base
            },
            "clip_norm",
        ),
        (
            SgdConfig {
                clip_norm: Some(f32::INFINITY),
                ..base
            },
            "clip_norm",
        ),
        (
            SgdConfig {
                schedule: Schedule::Step {
                    every: 0,
                    gamma: 0.5,
                },
                ..base
            },
            "every",
        ),
        (
            SgdConfig {
                schedule: Schedule::Exponential { gamma: 0.0 },
                ..base
            },
            "gamma",
        ),
        (
            SgdConfig {
                schedule: Schedule::Exponential { gamma: 1.5 },
                ..base
            },
            "gamma",
        ),
        (
            SgdConfig {
                schedule: Schedule::Cosine {
                    epochs: 10,
                    min_lr: 0.5,
                },
                ..base
            },
            "min_lr",
        ),
        (
            SgdConfig {
                schedule: Schedule::Cosine {
                    epochs: 0,
                    min_lr: 0.0,
                },
                ..base
            },
            "epochs",
        ),
    ];
    for (cfg, name) in bad {
        match Sgd::new(cfg) {
            Err(Error::InvalidParam(msg)) => {
                assert!(msg.contains(name), "{msg:?} should name {name}")
            }
            other => panic!("{cfg:?} gave {other:?}"),
        }
    }
    assert!(Sgd::new(SgdConfig {
        momentum: 0.9,
        weight_decay: 1e-4,
        clip_norm: Some(1.0),
        ..base
    })
    .is_ok());
}

#[test]
fn a_nan_weight_is_caught_and_the_model_kept() {
    let mut n = net();
    n.rest.first.w[1][2] = f32::NAN;
    let before = n.clone();
    let mut s = Net::SCRATCH;
    let mut g = Gradients::<Net>::ZERO;
    let t = Target::Class(1);
    let r = g.accumulate(&n, &mut s, &[0.1, 0.2, 0.3], &t, &SoftmaxCrossEntropy);
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");
    let sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let r = sgd.fit_sample(&mut n, &mut s, &[0.1, 0.2, 0.3], &t, &SoftmaxCrossEntropy);
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");
    assert!(same_bits(&n, &before));
    assert!(!n.is_finite());
}

#[test]
fn a_step_that_would_overflow_the_weights_is_refused_whole() {
    let mut n = net();
    let mut s = Net::SCRATCH;
    let mut g = Gradients::<Net>::ZERO;
    let mut v = Velocity::<Net>::ZERO;
    let sgd = Sgd::new(SgdConfig {
        momentum: 0.5,
        ..SgdConfig::new(10.0)
    })
    .unwrap();
    g.accumulate(
        &n,
        &mut s,
        &[1.0, 2.0, 3.0],
        &Target::Class(0),
        &SoftmaxCrossEntropy,
    )
    .unwrap();
    // A finite gradient whose norm and update overflow f32.
    g.sum.rest.rest.b[0] = 3e38;
    let (before, v_before) = (n.clone(), v.clone());
    let r = sgd.step(&mut n, &mut g, Some(&mut v));
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");
    assert!(same_bits(&n, &before));
    assert!(same_bits(&v.0, &v_before.0));
    assert_eq!(g.count, 0, "gradients are cleared after a refused step");
}

#[test]
fn an_epoch_with_a_bad_sample_drops_that_batch_only() {
    let xs = [
        [0.1, 0.2, 0.3],
        [0.3, 0.2, 0.1],
        [f32::NAN, 0.0, 0.0],
        [0.0, 0.5, 0.5],
    ];
    let ts = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
    let mut data = Samples::new(&xs, &ts).unwrap();
    let mut n = net();
    let mut s = Net::SCRATCH;
    let mut g = Gradients::<Net>::ZERO;
    let sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    // Reference: the model after the first batch alone.
    let mut after_first = net();
    {
        let mut g2 = Gradients::<Net>::ZERO;
        let mut s2 = Net::SCRATCH;
        for k in 0..2 {
            g2.accumulate(&after_first, &mut s2, &xs[k], &Target::Values(ts[k]), &Mse)
                .unwrap();
        }
        sgd.step(&mut after_first, &mut g2, None).unwrap();
    }
    let mut t = Trainer::new(&mut n, &mut s, &mut g, Mse, sgd).unwrap();
    assert_eq!(
        t.epoch_in_order(&mut data, 2),
        Err(Error::NonFinite("input"))
    );
    assert!(same_bits(&n, &after_first));
    assert_eq!(g.count, 0);
}

#[test]
fn trainer_refuses_bad_batches_and_momentum_without_buffer() {
    let xs = [[0.0f32; 3]; 4];
    let ts = [[0.0f32; 2]; 4];
    let mut data = Samples::new(&xs, &ts).unwrap();
    let mut n = net();
    let mut s = Net::SCRATCH;
    let mut g = Gradients::<Net>::ZERO;
    let sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let mut t = Trainer::new(&mut n, &mut s, &mut g, Mse, sgd).unwrap();
    assert!(matches!(
        t.epoch_in_order(&mut data, 0),
        Err(Error::InvalidParam(_))
    ));
    assert!(matches!(
        t.epoch_in_order(&mut data, 5),
        Err(Error::InvalidParam(_))
    ));
    let mut short = [0u16; 3];
    let mut rng = tinytrain::Rng::seed(1);
    assert_eq!(
        t.epoch(&mut data, &mut short, 2, &mut rng),
        Err(Error::WrongLength {
            expected: 4,
            found: 3
        })
    );
    let with_m = Sgd::new(SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(0.1)
    })
    .unwrap();
    let mut n2 = net();
    let mut g2 = Gradients::<Net>::ZERO;
    assert!(Trainer::new(&mut n2, &mut s, &mut g2, Mse, with_m).is_err());
    assert!(Trainer::per_sample(&mut n2, &mut s, Mse, with_m).is_err());
    assert!(matches!(
        Samples::<3, 2>::new(&xs, &ts[..3]),
        Err(Error::WrongLength { .. })
    ));
    let bad_class = [[0.0f32; 3]];
    let mut cls = Samples::<3, 2>::classes(&bad_class, &[7]).unwrap();
    let mut t = Trainer::per_sample(&mut n2, &mut s, SoftmaxCrossEntropy, sgd).unwrap();
    assert_eq!(
        t.epoch_in_order(&mut cls, 1),
        Err(Error::ClassOutOfRange {
            class: 7,
            classes: 2
        })
    );
}

#[test]
fn forward_is_deterministic_and_pure() {
    let n = net();
    let mut s1 = Net::SCRATCH;
    let mut s2 = Net::SCRATCH;
    let a = *n.forward(&[0.3, -0.2, 0.9], &mut s1);
    let b = *n.forward(&[0.3, -0.2, 0.9], &mut s2);
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
}
