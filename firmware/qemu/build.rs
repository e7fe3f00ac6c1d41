//! Picks the memory map of the QEMU machine that runs the chosen target and
//! tells the code which machine that is (its SysTick clock differs).

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap();
    let (machine, map) = match target.as_str() {
        "thumbv7em-none-eabihf" => ("mps2_an386", "memory/mps2-an386.x"),
        "thumbv6m-none-eabi" => ("microbit", "memory/microbit.x"),
        t => panic!(
            "no QEMU machine for target {t}: use thumbv7em-none-eabihf or thumbv6m-none-eabi"
        ),
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::copy(map, out.join("memory.x")).unwrap();
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rerun-if-changed={map}");
    println!("cargo::rustc-check-cfg=cfg(machine, values(\"mps2_an386\", \"microbit\"))");
    println!("cargo::rustc-cfg=machine=\"{machine}\"");
}
