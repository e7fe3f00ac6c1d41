//! Parity with PyTorch: forward outputs, batch-mean loss, every parameter
//! gradient, input gradients, and the weights after 1 and 10 steps of SGD with
//! momentum, weight decay and global-norm clipping, against float32 references
//! written by `tests/reference/generate.py` (see its docstring for the format).
//!
//! Tolerance: |got − want| ≤ 1e-5·max(|want|, floor). Both sides compute in
//! f32 but sum in different orders (tinytrain: per-sample sums then ×1/count,
//! eight-lane dot products; torch: batched GEMMs and a mean), so each result
//! differs by a few ulp of the *terms* it was summed from, not of the result.
//! An entry that cancels to nearly zero therefore carries an absolute error
//! that no relative bound can accept: in `four_layer_mixed_ce` one weight
//! gradient is −7.6406e-5, 0.8% of its matrix's largest entry (9.2e-3); the
//! float64 value is missed by 8.7e-10 by torch and by 1.1e-9 by tinytrain, about
//! one ulp of the largest entry each, so they differ by 2e-5 relative. The
//! floor is therefore set per array to the scale of the terms it is summed
//! from: `FLOOR_FRACTION` × the largest |entry| of the same array (a layer's
//! weights, a gradient matrix, one sample's outputs). Entries above a tenth of
//! their array's largest are held to 1e-5 relative, smaller ones to 1e-6 of the
//! array's scale (about 8 ulp of its largest entry), which is still far below
//! any real error: a wrong derivative or update rule moves entries by percents
//! of that scale.

use serde_json::Value;
use tinytrain::{
    mlp, BinaryCrossEntropy, Dense, Gradients, Identity, LeakyRelu, Loss, Model, Mse, Network,
    Relu, Schedule, Sgd, SgdConfig, Sigmoid, SoftmaxCrossEntropy, Tanh, Target, Velocity,
};

const ONE_LAYER_MSE: &str = include_str!("reference/one_layer_mse.json");
const TWO_LAYER_MSE_SIGMOID_TANH: &str = include_str!("reference/two_layer_mse_sigmoid_tanh.json");
const TWO_LAYER_BCE_LOGITS: &str = include_str!("reference/two_layer_bce_logits.json");
const SOFTMAX_CE_CLASSES: &str = include_str!("reference/softmax_ce_classes.json");
const FOUR_LAYER_MIXED_CE: &str = include_str!("reference/four_layer_mixed_ce.json");
const FOUR_LAYER_SIGMOID_SOFT_CE: &str = include_str!("reference/four_layer_sigmoid_soft_ce.json");

type OneLayer = Dense<4, 3, Identity>;
type TwoLayerMse = mlp![Dense<3, 5, Sigmoid>, Dense<5, 2, Tanh>];
type TwoLayerBce = mlp![Dense<4, 6, Tanh>, Dense<6, 3, Identity>];
type SoftmaxClasses = mlp![Dense<9, 12, Relu>, Dense<12, 4, Identity>];
type FourLayerMixed =
    mlp![Dense<5, 7, Tanh>, Dense<7, 6, Relu>, Dense<6, 4, LeakyRelu>, Dense<4, 3, Identity>];
type FourLayerSigmoid =
    mlp![Dense<10, 8, Sigmoid>, Dense<8, 6, LeakyRelu>, Dense<6, 5, Tanh>, Dense<5, 3, Identity>];

/// Relative tolerance of every comparison.
#[cfg(not(feature = "fast-math"))]
const REL_TOL: f64 = 1e-5;
/// With `fast-math`, exp and tanh err by up to 2.5e-3 relative and 1.5e-3
/// absolute (tinytrain's `math` module); through four layers, a loss and ten
/// momentum steps that grows to about a percent, so the bound is 2e-2.
#[cfg(feature = "fast-math")]
const REL_TOL: f64 = 2e-2;
/// How much the checker tests change a reference: five times the tolerance.
const PERTURB: f64 = 5.0 * REL_TOL;
/// Floor of the relative comparison, as a fraction of the array's largest entry.
const FLOOR_FRACTION: f64 = 0.1;
/// Steps of SGD the references record.
const STEPS: usize = 10;

/// Compares arrays against a reference and remembers the worst relative error
/// (|got − want| / max(|want|, floor)) per quantity.
#[derive(Debug, Default)]
struct Checker {
    worst: Vec<(&'static str, f64)>,
}

impl Checker {
    fn close(
        &mut self,
        quantity: &'static str,
        at: &str,
        got: &[f32],
        want: &[f32],
    ) -> Result<(), String> {
        if got.len() != want.len() {
            return Err(format!(
                "{quantity} {at}: {} values, reference has {}",
                got.len(),
                want.len()
            ));
        }
        let scale = want.iter().fold(0.0f64, |m, &w| m.max(f64::from(w).abs()));
        let floor = FLOOR_FRACTION * scale;
        let mut worst = 0.0f64;
        for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
            let (g, w) = (f64::from(g), f64::from(w));
            let denom = w.abs().max(floor).max(f64::MIN_POSITIVE);
            let rel = (g - w).abs() / denom;
            if rel.is_nan() || rel > REL_TOL {
                return Err(format!(
                    "{quantity} {at}[{k}]: got {g:e}, PyTorch {w:e} (relative error {rel:.2e} > {REL_TOL:e})"
                ));
            }
            worst = worst.max(rel);
        }
        match self.worst.iter_mut().find(|(q, _)| *q == quantity) {
            Some((_, w)) => *w = w.max(worst),
            None => self.worst.push((quantity, worst)),
        }
        Ok(())
    }

    fn max_rel(&self) -> f64 {
        self.worst.iter().fold(0.0, |m, &(_, w)| m.max(w))
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key)
        .ok_or_else(|| format!("reference has no '{key}'"))
}

fn number(v: &Value) -> Result<f32, String> {
    // References hold float32 values printed exactly, so the cast is exact.
    v.as_f64()
        .map(|x| x as f32)
        .ok_or_else(|| format!("not a number: {v}"))
}

/// Every number of a (nested) array, row-major.
fn flat(v: &Value) -> Result<Vec<f32>, String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<f32>) -> Result<(), String> {
        match v {
            Value::Array(items) => items.iter().try_for_each(|x| walk(x, out)),
            x => {
                out.push(number(x)?);
                Ok(())
            }
        }
    }
    walk(v, &mut out)?;
    Ok(out)
}

fn rows<const N: usize>(v: &Value) -> Result<Vec<[f32; N]>, String> {
    let items = v.as_array().ok_or("expected an array of rows")?;
    items
        .iter()
        .map(|row| {
            let row = flat(row)?;
            <[f32; N]>::try_from(row.as_slice())
                .map_err(|_| format!("row of {} values, expected {N}", row.len()))
        })
        .collect()
}

fn targets<const O: usize>(reference: &Value) -> Result<Vec<Target<O>>, String> {
    let t = field(reference, "targets")?;
    match field(reference, "target_kind")?.as_str() {
        Some("class") => t
            .as_array()
            .ok_or("targets: expected an array")?
            .iter()
            .map(|c| {
                c.as_u64()
                    .map(|c| Target::Class(c as usize))
                    .ok_or_else(|| format!("not a class index: {c}"))
            })
            .collect(),
        Some("values") => Ok(rows::<O>(t)?.into_iter().map(Target::Values).collect()),
        other => Err(format!("unknown target_kind {other:?}")),
    }
}

/// The reference's loss name for a tinytrain loss.
fn torch_loss_name(name: &str) -> &str {
    match name {
        "mse" => "mse",
        "bce" => "bce_with_logits",
        "softmax_ce" => "softmax_ce",
        other => other,
    }
}

/// Checks that `net`'s layers have the widths and activations the reference
/// was made for, then loads the reference's initial weights into it.
fn load<N: Model>(net: &mut N, reference: &Value) -> Result<(), String> {
    let layers = field(reference, "layers")?
        .as_array()
        .ok_or("layers: expected an array")?;
    if layers.len() != N::LAYERS {
        return Err(format!(
            "reference has {} layers, the network {}",
            layers.len(),
            N::LAYERS
        ));
    }
    for (l, spec) in layers.iter().enumerate() {
        let view = net.layer(l).ok_or("missing layer")?;
        let shape = (
            field(spec, "inputs")?.as_u64(),
            field(spec, "outputs")?.as_u64(),
            field(spec, "activation")?.as_str(),
        );
        if shape
            != (
                Some(view.inputs as u64),
                Some(view.outputs as u64),
                Some(view.activation),
            )
        {
            return Err(format!(
                "layer {l}: reference is {shape:?}, network is ({}, {}, {})",
                view.inputs, view.outputs, view.activation
            ));
        }
    }
    set_weights(net, layers)
}

fn set_weights<N: Model>(net: &mut N, layers: &[Value]) -> Result<(), String> {
    for (l, spec) in layers.iter().enumerate() {
        let dst = net.layer_mut(l).ok_or("missing layer")?;
        let (w, b) = (flat(field(spec, "weight")?)?, flat(field(spec, "bias")?)?);
        if w.len() != dst.w.len() || b.len() != dst.b.len() {
            return Err(format!("layer {l}: wrong number of weights or biases"));
        }
        dst.w.copy_from_slice(&w);
        dst.b.copy_from_slice(&b);
    }
    Ok(())
}

/// Compares every layer of `net` (scaled by `scale`, e.g. 1/count for a
/// gradient sum) against a reference list of `{weight, bias}`.
fn compare_layers<N: Model>(
    checker: &mut Checker,
    quantity: &'static str,
    net: &N,
    scale: f32,
    reference: &Value,
) -> Result<(), String> {
    let layers = reference.as_array().ok_or("expected a list of layers")?;
    if layers.len() != N::LAYERS {
        return Err(format!(
            "{quantity}: {} layers in the reference",
            layers.len()
        ));
    }
    for (l, spec) in layers.iter().enumerate() {
        let view = net.layer(l).ok_or("missing layer")?;
        let w: Vec<f32> = view.w.iter().map(|v| v * scale).collect();
        let b: Vec<f32> = view.b.iter().map(|v| v * scale).collect();
        checker.close(
            quantity,
            &format!("layer {l} weight"),
            &w,
            &flat(field(spec, "weight")?)?,
        )?;
        checker.close(
            quantity,
            &format!("layer {l} bias"),
            &b,
            &flat(field(spec, "bias")?)?,
        )?;
    }
    Ok(())
}

/// Runs every check of one reference file on the network type `N`.
fn check_parity<N, L, const I: usize, const O: usize>(
    reference: &Value,
    loss: &L,
) -> Result<Checker, String>
where
    N: Network<I, O>,
    L: Loss<O>,
{
    let mut c = Checker::default();
    let want_loss = field(reference, "loss")?.as_str();
    if want_loss != Some(torch_loss_name(L::NAME)) {
        return Err(format!(
            "reference loss {want_loss:?}, checked with {}",
            L::NAME
        ));
    }
    let mut net = N::ZERO;
    load(&mut net, reference)?;
    let xs = rows::<I>(field(reference, "inputs")?)?;
    let ts = targets::<O>(reference)?;
    if xs.len() != ts.len() || xs.is_empty() {
        return Err("inputs and targets differ in number".into());
    }
    let batch = xs.len() as f32;
    let mut scratch = N::SCRATCH;

    // Forward outputs, sample by sample.
    let outputs = field(reference, "outputs")?
        .as_array()
        .ok_or("outputs: expected an array")?;
    for (n, (x, want)) in xs.iter().zip(outputs).enumerate() {
        let y = net.forward(x, &mut scratch);
        c.close("outputs", &format!("sample {n}"), y, &flat(want)?)?;
    }

    // Input gradients of the batch-mean loss: ∂L_n/∂x_n / batch.
    let input_grads = field(reference, "input_grads")?
        .as_array()
        .ok_or("input_grads: expected an array")?;
    for (n, ((x, t), want)) in xs.iter().zip(&ts).zip(input_grads).enumerate() {
        let mut g = [0.0f32; O];
        loss.loss_grad(net.forward(x, &mut scratch), t, &mut g)
            .map_err(|e| e.to_string())?;
        *N::output_delta(&mut scratch) = g;
        let mut dx = [0.0f32; I];
        net.backprop(&mut scratch, Some(&mut dx));
        let dx: Vec<f32> = dx.iter().map(|v| v / batch).collect();
        c.close("input_grads", &format!("sample {n}"), &dx, &flat(want)?)?;
    }

    // Loss and parameter gradients at the initial weights, then the SGD steps
    // on the same batch: step k's loss and gradient are those of the weights
    // after k updates.
    let sgd_ref = field(reference, "sgd")?;
    let clip = field(sgd_ref, "clip_norm")?;
    let sgd = Sgd::new(SgdConfig {
        lr: number(field(sgd_ref, "lr")?)?,
        momentum: number(field(sgd_ref, "momentum")?)?,
        weight_decay: number(field(sgd_ref, "weight_decay")?)?,
        clip_norm: if clip.is_null() {
            None
        } else {
            Some(number(clip)?)
        },
        schedule: Schedule::Constant,
    })
    .map_err(|e| e.to_string())?;
    let steps = field(reference, "steps")?
        .as_array()
        .ok_or("steps: expected an array")?;
    if steps.len() != STEPS {
        return Err(format!(
            "{} steps in the reference, expected {STEPS}",
            steps.len()
        ));
    }
    let mut grads = Gradients::<N>::ZERO;
    let mut velocity = Velocity::<N>::ZERO;
    for (k, step) in steps.iter().enumerate() {
        let mut sum = 0.0f32;
        for (x, t) in xs.iter().zip(&ts) {
            sum += grads
                .accumulate(&net, &mut scratch, x, t, loss)
                .map_err(|e| e.to_string())?;
        }
        let mean = sum / grads.count as f32;
        c.close(
            "step_loss",
            &format!("step {k}"),
            &[mean],
            &[number(field(step, "loss")?)?],
        )?;
        if k == 0 {
            c.close(
                "loss_value",
                "batch",
                &[mean],
                &[number(field(reference, "loss_value")?)?],
            )?;
            let inv = 1.0 / grads.count as f32;
            compare_layers(&mut c, "grads", &grads.sum, inv, field(reference, "grads")?)?;
        }
        let report = sgd
            .step(&mut net, &mut grads, Some(&mut velocity))
            .map_err(|e| e.to_string())?;
        c.close(
            "grad_norm",
            &format!("step {k}"),
            &[report.grad_norm()],
            &[number(field(step, "grad_norm")?)?],
        )?;
        let clipped = report.clip_scale < 1.0;
        if Some(clipped) != field(step, "clipped")?.as_bool() {
            return Err(format!("step {k}: clipped = {clipped}, PyTorch disagrees"));
        }
        match k + 1 {
            1 => compare_layers(&mut c, "after_1", &net, 1.0, field(reference, "after_1")?)?,
            STEPS => compare_layers(&mut c, "after_10", &net, 1.0, field(reference, "after_10")?)?,
            _ => {}
        }
    }
    Ok(c)
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).expect("reference file is valid JSON")
}

/// Runs the checks and prints the worst relative error per quantity
/// (`cargo test parity -- --nocapture` shows them).
fn assert_parity<N, L, const I: usize, const O: usize>(json: &str, loss: L)
where
    N: Network<I, O>,
    L: Loss<O>,
{
    let reference = parse(json);
    let name = reference["name"].as_str().unwrap_or("?").to_string();
    match check_parity::<N, L, I, O>(&reference, &loss) {
        Ok(c) => {
            println!(
                "{name}: max relative error {:.2e} {:?}",
                c.max_rel(),
                c.worst
            );
            assert!(
                c.worst.len() == 8,
                "{name}: some quantity was never compared"
            );
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

#[test]
fn parity_one_layer_mse() {
    assert_parity::<OneLayer, _, 4, 3>(ONE_LAYER_MSE, Mse);
}

#[test]
fn parity_two_layer_mse_sigmoid_tanh() {
    assert_parity::<TwoLayerMse, _, 3, 2>(TWO_LAYER_MSE_SIGMOID_TANH, Mse);
}

#[test]
fn parity_two_layer_bce_logits() {
    assert_parity::<TwoLayerBce, _, 4, 3>(TWO_LAYER_BCE_LOGITS, BinaryCrossEntropy);
}

#[test]
fn parity_softmax_ce_classes() {
    assert_parity::<SoftmaxClasses, _, 9, 4>(SOFTMAX_CE_CLASSES, SoftmaxCrossEntropy);
}

#[test]
fn parity_four_layer_mixed_ce() {
    assert_parity::<FourLayerMixed, _, 5, 3>(FOUR_LAYER_MIXED_CE, SoftmaxCrossEntropy);
}

#[test]
fn parity_four_layer_sigmoid_soft_ce() {
    assert_parity::<FourLayerSigmoid, _, 10, 3>(FOUR_LAYER_SIGMOID_SOFT_CE, SoftmaxCrossEntropy);
}

#[test]
fn parity_references_clip_on_some_steps_and_not_on_others() {
    // The references exercise both sides of the clipping decision.
    let mut clipped = [0usize; 2];
    for json in [
        ONE_LAYER_MSE,
        TWO_LAYER_MSE_SIGMOID_TANH,
        TWO_LAYER_BCE_LOGITS,
        SOFTMAX_CE_CLASSES,
        FOUR_LAYER_MIXED_CE,
        FOUR_LAYER_SIGMOID_SOFT_CE,
    ] {
        for step in parse(json)["steps"].as_array().unwrap() {
            clipped[usize::from(step["clipped"].as_bool().unwrap())] += 1;
        }
    }
    assert!(
        clipped[0] > 0 && clipped[1] > 0,
        "clipped / not clipped steps: {clipped:?}"
    );
}

// The checker itself: a reference changed by slightly more than the tolerance
// must be rejected, naming what differs.

/// Multiplies the largest-magnitude number under `path` by `1 + rel`.
fn perturb(json: &str, path: &[&str], rel: f64) -> Value {
    let mut v = parse(json);
    let mut node = &mut v;
    for key in path {
        node = match key.parse::<usize>() {
            Ok(i) => &mut node[i],
            Err(_) => &mut node[*key],
        };
    }
    fn largest(v: &mut Value) -> Option<&mut Value> {
        match v {
            Value::Array(items) => items.iter_mut().filter_map(largest).max_by(|a, b| {
                a.as_f64()
                    .unwrap()
                    .abs()
                    .total_cmp(&b.as_f64().unwrap().abs())
            }),
            Value::Number(_) => Some(v),
            _ => None,
        }
    }
    let target = largest(node).expect("a number to perturb");
    let x = target.as_f64().unwrap();
    *target = serde_json::json!(x * (1.0 + rel));
    v
}

fn expect_rejected<N, L, const I: usize, const O: usize>(reference: &Value, loss: L, what: &str)
where
    N: Network<I, O>,
    L: Loss<O>,
{
    match check_parity::<N, L, I, O>(reference, &loss) {
        Ok(c) => panic!(
            "a perturbed {what} passed (max relative error {:.2e})",
            c.max_rel()
        ),
        Err(e) => assert!(e.contains(what), "rejected for another reason: {e}"),
    }
}

#[test]
fn parity_checker_rejects_perturbed_weights_after_10_steps() {
    let r = perturb(FOUR_LAYER_MIXED_CE, &["after_10", "2", "weight"], PERTURB);
    expect_rejected::<FourLayerMixed, _, 5, 3>(&r, SoftmaxCrossEntropy, "after_10");
}

#[test]
fn parity_checker_rejects_perturbed_gradient() {
    let r = perturb(TWO_LAYER_BCE_LOGITS, &["grads", "0", "weight"], PERTURB);
    expect_rejected::<TwoLayerBce, _, 4, 3>(&r, BinaryCrossEntropy, "grads");
}

#[test]
fn parity_checker_rejects_perturbed_output_and_input_gradient() {
    let r = perturb(SOFTMAX_CE_CLASSES, &["outputs", "3"], PERTURB);
    expect_rejected::<SoftmaxClasses, _, 9, 4>(&r, SoftmaxCrossEntropy, "outputs");
    let r = perturb(TWO_LAYER_MSE_SIGMOID_TANH, &["input_grads", "1"], PERTURB);
    expect_rejected::<TwoLayerMse, _, 3, 2>(&r, Mse, "input_grads");
}

#[test]
fn parity_checker_rejects_wrong_clip_flag_and_wrong_shape() {
    let mut r = parse(ONE_LAYER_MSE);
    r["steps"][4]["clipped"] = Value::Bool(true);
    expect_rejected::<OneLayer, _, 4, 3>(&r, Mse, "clipped");
    // The same file against a network with another activation.
    expect_rejected::<Dense<4, 3, Relu>, _, 4, 3>(&parse(ONE_LAYER_MSE), Mse, "layer 0");
}

#[test]
#[cfg(not(feature = "fast-math"))]
fn parity_checker_tolerance_is_relative_with_a_floor() {
    let mut c = Checker::default();
    assert!(c.close("t", "", &[1.0 + 5e-6], &[1.0]).is_ok());
    assert!(c.close("t", "", &[1.0 + 3e-5], &[1.0]).is_err());
    // An entry 1e-4 of its array's scale is held to 1e-6 of that scale.
    assert!(c.close("t", "", &[1.0, 1e-4 + 5e-7], &[1.0, 1e-4]).is_ok());
    assert!(c.close("t", "", &[1.0, 1e-4 + 3e-6], &[1.0, 1e-4]).is_err());
    assert!(c.close("t", "", &[f32::NAN], &[1.0]).is_err());
}
