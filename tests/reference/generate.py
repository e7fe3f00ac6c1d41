#!/usr/bin/env python3
"""Reference vectors for `tests/parity.rs`, computed with PyTorch in float32.

Run from the repository root (any Python with torch and numpy):

    python tests/reference/generate.py

It rewrites `tests/reference/<name>.json` for every network in `NETS`. The
outputs are committed, so `cargo test` needs no Python; rerun this script only
when a case is added or changed, and commit its outputs with it. The script is
deterministic: weights and data come from NumPy's PCG64 with a fixed seed per
case, torch runs single-threaded with deterministic algorithms, so a rerun
writes the same files byte for byte.

Each file holds, for one network:

- `layers`: per dense layer its `inputs`, `outputs`, `activation` (tinytrain's
  name) and initial `weight` (nn.Linear layout `[out][in]`) and `bias`;
- `loss`: `mse` (`nn.MSELoss()`), `bce_with_logits` (`nn.BCEWithLogitsLoss()`)
  or `softmax_ce` (`nn.CrossEntropyLoss()`), all with the default batch mean;
- `inputs` `[batch][in]` and `targets`: `[batch][out]` vectors, or for
  `target_kind == "class"` a list of class indices;
- at the initial weights: `outputs` `[batch][out]` (the last layer's
  activations), `loss_value`, `grads` (of the batch-mean loss, per layer
  `weight`/`bias`) and `input_grads` (of the batch-mean loss w.r.t. each input);
- `sgd`: `lr`, `momentum`, `weight_decay` and `clip_norm` (null: no clipping);
  every step is `clip_grad_norm_(params, clip_norm)` then `optim.SGD.step()`
  on the same full batch;
- `steps`: for each of the 10 steps, the loss before the update, the global
  gradient norm returned by `clip_grad_norm_`, and whether it clipped;
- `after_1`, `after_10`: every layer's `weight` and `bias` after 1 and 10 steps;
- `min_abs_kink_preactivation`: the smallest |z| met at a ReLU/LeakyReLU unit
  over all samples and steps (see below).

Guards, checked here so that the committed references are meaningful at f32
precision: no ReLU/LeakyReLU pre-activation comes within `KINK_MARGIN` of 0
(else rounding differences between two correct f32 implementations could pick
different branches), no clipping decision is within `CLIP_MARGIN` of its
threshold, and every case with a `clip_norm` clips on at least one step.
"""

import json
import math
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

STEPS = 10
# tinytrain and torch differ by ~1e-6 relative after 10 steps (different
# summation orders), so a pre-activation 1e-3 from a kink, or a gradient norm
# 0.1% from the clip threshold, takes the same branch in both.
KINK_MARGIN = 1e-3
CLIP_MARGIN = 1e-3
OUT_DIR = pathlib.Path(__file__).resolve().parent

ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}
KINKED = {"relu", "leaky_relu"}


def f32(v):
    """The float32 nearest to v, as a Python float (exact in JSON)."""
    return float(np.float32(v))


# clip_fraction: clip_norm is this fraction of the initial gradient norm
# (rounded to 3 significant digits), so clipping triggers on the first steps
# and, as the gradient shrinks, may stop doing so later.
NETS = [
    dict(
        name="one_layer_mse",
        doc="A single identity layer (linear regression) with MSE; no clipping.",
        layers=[(4, 3, "identity")],
        loss="mse", target_kind="values", batch=4, seed=1,
        lr=0.1, momentum=0.9, weight_decay=0.0, clip_fraction=None,
    ),
    dict(
        name="two_layer_mse_sigmoid_tanh",
        doc="Sigmoid hidden layer, tanh output, MSE regression, weight decay.",
        layers=[(3, 5, "sigmoid"), (5, 2, "tanh")],
        loss="mse", target_kind="values", batch=5, seed=2,
        lr=0.5, momentum=0.9, weight_decay=1e-3, clip_fraction=0.6,
    ),
    dict(
        name="two_layer_bce_logits",
        doc="Tanh hidden layer, three logits, BCE-with-logits on 0/1 targets.",
        layers=[(4, 6, "tanh"), (6, 3, "identity")],
        loss="bce_with_logits", target_kind="values", batch=4, seed=3,
        lr=0.2, momentum=0.9, weight_decay=0.0, clip_fraction=0.5,
    ),
    dict(
        name="softmax_ce_classes",
        doc="ReLU hidden layer, softmax cross-entropy on class indices; inputs "
            "9 and 12 wide exercise the 8-lane dot product and its tail.",
        layers=[(9, 12, "relu"), (12, 4, "identity")],
        loss="softmax_ce", target_kind="class", batch=6, seed=44,
        lr=0.1, momentum=0.9, weight_decay=1e-3, clip_fraction=0.7,
    ),
    dict(
        name="four_layer_mixed_ce",
        doc="tanh -> relu -> leaky_relu -> identity, softmax cross-entropy on "
            "class indices.",
        layers=[(5, 7, "tanh"), (7, 6, "relu"), (6, 4, "leaky_relu"), (4, 3, "identity")],
        loss="softmax_ce", target_kind="class", batch=5, seed=5,
        lr=0.1, momentum=0.9, weight_decay=0.0, clip_fraction=0.5,
    ),
    dict(
        name="four_layer_sigmoid_soft_ce",
        doc="sigmoid -> leaky_relu -> tanh -> identity, softmax cross-entropy "
            "on soft probability targets, weight decay.",
        layers=[(10, 8, "sigmoid"), (8, 6, "leaky_relu"), (6, 5, "tanh"), (5, 3, "identity")],
        loss="softmax_ce", target_kind="values", batch=4, seed=12,
        lr=0.2, momentum=0.9, weight_decay=1e-3, clip_fraction=0.6,
    ),
]


def make_data(spec, rng):
    """Initial weights (nn.Linear default bounds) and a batch of data, float32."""
    params = []
    for fan_in, fan_out, _ in spec["layers"]:
        bound = 1.0 / math.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        params.append((w, b))
    n_in, n_out = spec["layers"][0][0], spec["layers"][-1][1]
    batch = spec["batch"]
    x = rng.uniform(-1.0, 1.0, (batch, n_in)).astype(np.float32)
    if spec["loss"] == "mse":
        t = rng.uniform(-0.8, 0.8, (batch, n_out)).astype(np.float32)
    elif spec["loss"] == "bce_with_logits":
        t = rng.integers(0, 2, (batch, n_out)).astype(np.float32)
    elif spec["target_kind"] == "class":
        t = rng.integers(0, n_out, batch).astype(np.int64)
    else:
        t = rng.dirichlet(np.ones(n_out), batch).astype(np.float32)
    return params, x, t


def forward(spec, params, x):
    """Outputs, and every pre-activation of a kinked layer (for the margin guard)."""
    kink_z = []
    a = x
    for (w, b), (_, _, act) in zip(params, spec["layers"]):
        z = F.linear(a, w, b)
        if act in KINKED:
            kink_z.append(z.detach())
        a = ACTIVATIONS[act](z)
    return a, kink_z


def loss_fn(spec, y, t):
    if spec["loss"] == "mse":
        return F.mse_loss(y, t)
    if spec["loss"] == "bce_with_logits":
        return F.binary_cross_entropy_with_logits(y, t)
    return F.cross_entropy(y, t)


def layer_values(tensors):
    return [
        {"weight": w.detach().tolist(), "bias": b.detach().tolist()}
        for (w, b) in tensors
    ]


def min_abs(kink_z):
    return min((z.abs().min().item() for z in kink_z), default=math.inf)


def run(spec):
    rng = np.random.default_rng(spec["seed"])
    init, x_np, t_np = make_data(spec, rng)
    x = torch.from_numpy(x_np)
    t = torch.from_numpy(t_np)
    params = [
        (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
        for w, b in init
    ]
    flat = [p for pair in params for p in pair]

    # Values and gradients at the initial weights.
    xg = x.clone().requires_grad_(True)
    y, kink_z = forward(spec, params, xg)
    loss = loss_fn(spec, y, t)
    loss.backward()
    grads = [(w.grad.clone(), b.grad.clone()) for w, b in params]
    input_grads = xg.grad.clone()
    initial_norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in [p.grad for p in flat]])).item()
    min_kink = min_abs(kink_z)
    for p in flat:
        p.grad = None

    lr, momentum, wd = f32(spec["lr"]), f32(spec["momentum"]), f32(spec["weight_decay"])
    clip = None
    if spec["clip_fraction"] is not None:
        clip = f32(float(f"{spec['clip_fraction'] * initial_norm:.3g}"))
    opt = torch.optim.SGD(flat, lr=lr, momentum=momentum, weight_decay=wd)

    steps = []
    after = {}
    for k in range(STEPS):
        opt.zero_grad()
        y, kink_z = forward(spec, params, x)
        min_kink = min(min_kink, min_abs(kink_z))
        loss = loss_fn(spec, y, t)
        loss.backward()
        if clip is None:
            norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in flat])).item()
            clipped = False
        else:
            norm = torch.nn.utils.clip_grad_norm_(flat, clip).item()
            clipped = clip / (norm + 1e-6) < 1.0
            assert abs(norm / clip - 1.0) > CLIP_MARGIN, f"{spec['name']}: step {k} too close to the clip threshold"
        steps.append({"loss": loss.item(), "grad_norm": norm, "clipped": clipped})
        opt.step()
        if k + 1 in (1, STEPS):
            after[k + 1] = layer_values(params)
    # The margin also has to hold at the final weights, which parity.rs does
    # not run forward but which the last update came from.
    _, kink_z = forward(spec, params, x)
    min_kink = min(min_kink, min_abs(kink_z))
    assert min_kink > KINK_MARGIN, f"{spec['name']}: a ReLU pre-activation is {min_kink:g} from its kink"
    if clip is not None:
        assert any(s["clipped"] for s in steps), f"{spec['name']}: clipping never triggers"

    return {
        "name": spec["name"],
        "description": spec["doc"],
        "generator": "tests/reference/generate.py",
        "torch_version": torch.__version__.split("+")[0],
        "layers": [
            {"inputs": i, "outputs": o, "activation": act, "weight": w.tolist(), "bias": b.tolist()}
            for (i, o, act), (w, b) in zip(spec["layers"], init)
        ],
        "loss": spec["loss"],
        "target_kind": spec["target_kind"],
        "inputs": x.tolist(),
        "targets": t.tolist(),
        "outputs": forward(spec, [(torch.from_numpy(w), torch.from_numpy(b)) for w, b in init], x)[0].tolist(),
        "loss_value": steps[0]["loss"],
        "grads": layer_values(grads),
        "input_grads": input_grads.tolist(),
        "sgd": {"lr": lr, "momentum": momentum, "weight_decay": wd, "clip_norm": clip},
        "steps": steps,
        "after_1": after[1],
        "after_10": after[STEPS],
        "min_abs_kink_preactivation": None if math.isinf(min_kink) else min_kink,
    }


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for spec in NETS:
        ref = run(spec)
        path = OUT_DIR / f"{spec['name']}.json"
        path.write_text(json.dumps(ref, indent=1) + "\n")
        clipped = sum(s["clipped"] for s in ref["steps"])
        print(f"{path.name}: loss {ref['loss_value']:.6f}, clipped on {clipped}/{STEPS} steps, "
              f"min |z| at a kink {ref['min_abs_kink_preactivation']}")


if __name__ == "__main__":
    main()
