#!/usr/bin/env bash
# The project's one test command, for a new checkout and for CI alike.
#
#   scripts/test.sh           set up what is missing, then run every check
#   scripts/test.sh --no-setup   run the checks only
#
# Setup (idempotent): the thumb targets and rustup components; QEMU and the ARM
# binutils through apt-get (as root, or with sudo) when qemu-system-arm is
# missing; defmt-print through `cargo install` when missing (about 90 s once).
# Checks: formatting, clippy (default and all features), the host test suites
# (default and all features, and on baseline x86-64), the exhaustive check of
# the vectorised exp and ln, the core linted (clippy -D warnings) for
# Cortex-M0 and Cortex-M4F with each feature, rustdoc, and the firmware built
# for every target and run in QEMU.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

setup=1
[[ "${1:-}" == "--no-setup" ]] && setup=0

step() { printf '\n==> %s\n' "$*"; }
passed=0
check() { # check NAME COMMAND...: runs a check, counts it, stops on failure
  local name=$1
  shift
  step "$name"
  if "$@"; then
    passed=$((passed + 1))
  else
    printf '\nchecks: %d passed, 1 failed (%s)\n' "$passed" "$name"
    exit 1
  fi
}

if ((setup)); then
  step "setup: rustup targets and components"
  rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi
  rustup component add clippy rustfmt
  if ! command -v qemu-system-arm >/dev/null || ! command -v arm-none-eabi-size >/dev/null; then
    step "setup: qemu-system-arm and binutils-arm-none-eabi (apt-get)"
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      qemu-system-arm binutils-arm-none-eabi >/dev/null
  fi
  if ! command -v defmt-print >/dev/null && [[ ! -x "$HOME/.cargo/bin/defmt-print" ]]; then
    step "setup: defmt-print (cargo install, once)"
    cargo install --locked defmt-print
  fi
fi
export PATH="$HOME/.cargo/bin:$PATH"

check "cargo fmt --check" cargo fmt --all --check
check "clippy, default features" cargo clippy --workspace --all-targets -- -D warnings
check "clippy, all features" cargo clippy --workspace --all-targets --all-features -- -D warnings
check "tests, default features" cargo test --workspace
check "tests, all features (fast-math tolerances)" cargo test --workspace --all-features
check "exp8 and ln8 have libm's bits for all 2^32 inputs (release)" \
  cargo test -q --release -p tinytrain --lib -- --ignored
# Host builds use the machine's whole vector unit (.cargo/config.toml); the
# four-lane kernels that other hosts run are linted and tested here too.
if [[ $(uname -m) == x86_64 ]]; then
  check "clippy and tests on baseline x86-64 (four-lane kernels)" \
    env RUSTFLAGS="-C target-cpu=x86-64" CARGO_TARGET_DIR=target/baseline bash -c \
    'cargo clippy -q --workspace --all-targets -- -D warnings && cargo test -q --workspace'
fi
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
  for features in "" defmt fast-math std "defmt fast-math std"; do
    check "core for $target, features [${features}] (clippy -D warnings)" \
      cargo clippy -q -p tinytrain --target "$target" --no-default-features --features "$features" \
      -- -D warnings
  done
done
check "rustdoc -D warnings" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q
check "firmware: fmt and clippy" bash -c \
  'cd firmware && cargo fmt --all --check && cargo clippy -q --workspace --target thumbv7em-none-eabihf -- -D warnings'
check "firmware: build every program, run in QEMU, check results" firmware/run-tests.sh

printf '\nchecks: %d passed, 0 failed\n' "$passed"
