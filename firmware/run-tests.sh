#!/usr/bin/env bash
# Builds every firmware program for every target (Cortex-M4F and Cortex-M0 in
# QEMU, and the nRF52840-DK), runs the QEMU programs, decodes their defmt
# logs and checks exit codes and key lines; then prints the measured
# instruction counts and footprints. Exits non-zero if any check fails.
#
# Needs: rustup targets thumbv7em-none-eabihf and thumbv6m-none-eabi,
# qemu-system-arm, arm-none-eabi-size (binutils-arm-none-eabi), defmt-print.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

M4F=thumbv7em-none-eabihf
M0=thumbv6m-none-eabi
TIMEOUT=${TIMEOUT:-120}
export DEFMT_PRINT=${DEFMT_PRINT:-$(command -v defmt-print || echo "$HOME/.cargo/bin/defmt-print")}
for tool in cargo qemu-system-arm arm-none-eabi-size timeout "$DEFMT_PRINT"; do
  command -v "$tool" >/dev/null || { echo "run-tests.sh: $tool not found (see firmware/README.md)" >&2; exit 2; }
done

PROGRAMS=(xor digits sensor sensor-replay bench)
FOOTPRINTS=(empty footprint-w1 footprint-w1-sample footprint-w2-sample footprint-w2-batch)
# Needs more than the M0's 16 KiB of RAM (network + gradient store): checked not to link there.
M4F_ONLY=(footprint-w2-batch)

results=()
failures=0
pass() { results+=("PASS  $1"); }
fail() { results+=("FAIL  $1${2:+: $2}"); failures=$((failures + 1)); }

bins() { for b in "$@"; do printf -- '--bin %s ' "$b"; done; }
m0_bins=()
for b in "${PROGRAMS[@]}" "${FOOTPRINTS[@]}"; do
  [[ " ${M4F_ONLY[*]} " == *" $b "* ]] || m0_bins+=("$b")
done

echo "== build (release = opt-level s; speed = opt-level 3)"
# shellcheck disable=SC2046
cargo build --locked --release -p tinytrain-qemu --target $M4F $(bins "${PROGRAMS[@]}" "${FOOTPRINTS[@]}")
cargo build --locked --profile speed -p tinytrain-qemu --target $M4F --bin bench
# shellcheck disable=SC2046
cargo build --locked --release -p tinytrain-qemu --target $M0 $(bins "${m0_bins[@]}")
cargo build --locked --profile speed -p tinytrain-qemu --target $M0 --bin bench
if cargo build --locked --release -p tinytrain-nrf52840-dk --target $M4F; then
  pass "nrf52840-dk builds ($(arm-none-eabi-size target/$M4F/release/nrf52840-dk | awk 'NR==2 {print $1 + $2 " B flash, " $2 + $3 " B static RAM"}'))"
else
  fail "nrf52840-dk builds"
fi
for b in "${M4F_ONLY[@]}"; do
  if log=$(cargo build --locked --release -p tinytrain-qemu --target $M0 --bin "$b" 2>&1); then
    fail "$b on M0" "linked, but was expected not to fit 16 KiB of RAM"
  elif grep -qE "will not fit in region 'RAM'" <<<"$log"; then
    pass "$b on M0 does not fit 16 KiB RAM, as documented ($(grep -o "overflowed by [0-9]* bytes" <<<"$log" | head -1))"
  else
    printf '%s\n' "$log"
    fail "$b on M0" "build failed for another reason than RAM"
  fi
done

# Runs an ELF in QEMU (through qemu-run.sh, which decodes defmt); sets $out and $rc.
run() {
  local label=$1 elf=$2 icount=${3:-0}
  echo "== run $label"
  set +e
  out=$(QEMU_TIMEOUT=$TIMEOUT QEMU_ICOUNT=$icount ./qemu-run.sh "$elf" 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$out" | sed 's/^/   /'
  if ((rc == 124)); then echo "   (timed out after ${TIMEOUT} s)"; fi
}

# check LABEL PATTERN...: exit status 0 and every pattern (ERE) in the log.
check() {
  local label=$1; shift
  if ((rc != 0)); then
    fail "$label" "exit status $rc$( ((rc == 124)) && echo ' (hang: timeout)')"
    return
  fi
  for pat in "$@"; do
    if ! grep -qE -- "$pat" <<<"$out"; then
      fail "$label" "log lacks /$pat/"
      return
    fi
  done
  pass "$label"
}

expected=$(tr -d '[:space:]' <expected/xor-checksum.txt)
expected_digits=$(tr -d '[:space:]' <expected/digits-checksum.txt)
declare -A accuracy stack
for t in $M4F $M0; do
  name=$([[ $t == "$M4F" ]] && echo M4F || echo M0)
  dir=target/$t/release

  run "xor ($name)" $dir/xor
  check "xor ($name): epoch 1513, checksum $expected = host" \
    'loss [0-9.e-]+ < 0.01 first at epoch 1513$' "checksum $expected " 'PASS: xor'

  run "digits ($name)" $dir/digits
  accuracy[$name]=$(grep -oE 'test accuracy [0-9.]+' <<<"$out" | awk '{print $3}' || true)
  check "digits ($name): test accuracy ${accuracy[$name]:-?} >= 0.90, checksum $expected_digits = host" \
    'test accuracy 0\.9[0-9]* \([0-9]+/360\)' "checksum $expected_digits " 'PASS: digits'

  run "sensor ($name)" $dir/sensor
  check "sensor ($name): $(grep -oE 'sensor accuracy [0-9.]+' <<<"$out" || echo 'sensor accuracy ?'), LED on" \
    'LED switched [0-9]+ times while learning, now on' 'PASS: sensor'

  run "sensor-replay ($name)" $dir/sensor-replay
  check "sensor-replay ($name): $(grep -oE 'sensor-replay accuracy [0-9.]+' <<<"$out" || echo 'sensor-replay accuracy ?')" \
    'replay reservoir: 96 of 96 held, 1500 seen' 'PASS: sensor-replay'

  for profile in release speed; do
    run "bench ($name, $profile, -icount shift=0)" target/$t/$profile/bench 1
    check "bench ($name, $profile)" '^\| W1 2-8-1 \| train, per sample \| [0-9]+ ' \
      '^\| W2 64-32-10 \| train, per sample \| [0-9]+ ' 'PASS: bench'
    printf '%s\n' "$out" | grep -E '^\|' >"target/bench-$name-$profile.md" || true
  done

  for b in "${FOOTPRINTS[@]}"; do
    [[ $name == M0 && " ${M4F_ONLY[*]} " == *" $b "* ]] && continue
    run "$b ($name)" $dir/$b
    check "$b ($name)" 'peak stack [0-9]+ B' 'PASS: '
    stack[$name.$b]=$(grep -oE 'peak stack [0-9]+' <<<"$out" | awk '{print $3}' || echo 0)
  done
done

if [[ -n ${accuracy[M4F]:-} && ${accuracy[M4F]:-} == "${accuracy[M0]:-}" ]]; then
  pass "digits: M0 and M4F reach the same accuracy bit for bit (${accuracy[M4F]})"
else
  fail "digits: M0 and M4F accuracies differ" "${accuracy[M4F]:-?} vs ${accuracy[M0]:-?}"
fi

echo
echo "== instruction counts (QEMU -icount shift=0, SysTick; one tick = 40 instructions on M4F, 62.5 on M0)"
for f in target/bench-*.md; do
  echo "-- $(basename "$f" .md | sed 's/^bench-//')"
  cat "$f"
done

echo
echo "== footprint, release profile (flash = .vector_table+.text+.rodata+.data; RAM = .data+.bss+.uninit + peak stack)"
echo "| target | image | flash B | static RAM B | peak stack B | RAM incl. stack B | flash over empty B | RAM over empty B |"
echo "|---|---|---|---|---|---|---|---|"
for t in $M4F $M0; do
  name=$([[ $t == "$M4F" ]] && echo M4F || echo M0)
  read -r ef er < <(arm-none-eabi-size target/$t/release/empty | awk 'NR==2 {print $1 + $2, $2 + $3}')
  er=$((er + ${stack[$name.empty]:-0}))
  for b in "${FOOTPRINTS[@]}"; do
    [[ -n ${stack[$name.$b]:-} ]] || continue
    read -r fl ra < <(arm-none-eabi-size target/$t/release/$b | awk 'NR==2 {print $1 + $2, $2 + $3}')
    st=${stack[$name.$b]}
    echo "| $name | $b | $fl | $ra | $st | $((ra + st)) | $((fl - ef)) | $((ra + st - er)) |"
  done
done

echo
echo "== summary"
printf '%s\n' "${results[@]}"
if ((failures > 0)); then
  echo "firmware: $failures check(s) FAILED"
  exit 1
fi
echo "firmware: all checks passed"
