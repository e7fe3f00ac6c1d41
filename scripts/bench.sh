#!/usr/bin/env bash
# Every speed figure the READMEs quote, in one run on one machine:
#   1. the core's criterion benchmarks (one thread): W1, W2, W3 training and inference;
#   2. the simulator's thread scaling (`tinytrain-sim bench`), speedups against the
#      1-thread run of the same invocation;
#   3. the NumPy and PyTorch peers (../shared/peers), when PYTHON has numpy, torch
#      and threadpoolctl (e.g. PYTHON=/path/to/venv/bin/python scripts/bench.sh).
# Results go to target/bench-report/. Timings on a shared machine are noisy:
# compare ratios from the same run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=target/bench-report
mkdir -p "$out"
PYTHON=${PYTHON:-python3}
peers=../shared/peers

echo "==> core: criterion (one thread)"
cargo bench -q -p tinytrain --bench workloads -- --noplot 2>&1 | tee "$out/criterion.txt"

echo "==> simulator: thread scaling"
cargo build -q --release -p tinytrain-sim
target/release/tinytrain-sim bench --rounds 5 --json "$out/sim.json" --svg "$out/speedup.svg" | tee "$out/sim.txt"

if [[ -d "$peers" ]] && "$PYTHON" -c 'import numpy, torch, threadpoolctl' 2>/dev/null; then
  echo "==> peers: NumPy (OpenBLAS) and PyTorch, same machine, same run"
  (cd "$peers" && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PYTHON" bench_numpy.py \
    --workloads W1,W2,W3 --threads 1,2 --repeats 3) | tee "$out/numpy.jsonl"
  (cd "$peers" && "$PYTHON" bench_torch.py --workloads W1,W2,W3 --threads 1,2 --repeats 3) \
    | tee "$out/torch.jsonl"
else
  echo "==> peers skipped: need $peers and a Python with numpy, torch and threadpoolctl"
fi
