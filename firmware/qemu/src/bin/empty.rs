//! The baseline for footprint figures: the same runtime as every program
//! (cortex-m-rt, defmt over semihosting, the panic and fault handlers, exit)
//! and no network. Flash and RAM "added by" a network are measured against it.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use tinytrain_qemu::{finish, stack};

#[entry]
fn main() -> ! {
    defmt::info!("empty: peak stack {=usize} B", stack::high_water());
    finish("empty image runs", true)
}
