#!/usr/bin/env bash
# Cargo runner: boots an ELF in the QEMU machine that matches its target and
# decodes its defmt log. Exit status is QEMU's: 0 pass, 1 fail, 134 lock-up.
#   qemu-run.sh <elf>              (what `cargo run` calls)
#   QEMU_ICOUNT=1 qemu-run.sh <elf> (deterministic instruction counting, for bench)
set -euo pipefail
elf=$1
case "$elf" in
  *thumbv7em-none-eabihf*) machine=(-machine mps2-an386 -cpu cortex-m4) ;;
  *thumbv6m-none-eabi*) machine=(-machine microbit -cpu cortex-m0) ;;
  *) echo "qemu-run.sh: cannot tell the target of $elf" >&2; exit 2 ;;
esac
icount=()
if [[ "${QEMU_ICOUNT:-0}" == 1 ]]; then icount=(-icount shift=0); fi
decoder=${DEFMT_PRINT:-defmt-print}
timeout "${QEMU_TIMEOUT:-120}" qemu-system-arm "${machine[@]}" "${icount[@]}" -nographic \
  -semihosting-config enable=on,target=native -kernel "$elf" \
  | "$decoder" -e "$elf"
