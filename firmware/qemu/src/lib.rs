//! Runtime shared by the QEMU programs: defmt over semihosting, a panic and
//! fault handler that log and exit with failure, exit codes, instruction
//! counting, stack high-water marks, and the simulated sensor and LED.
//!
//! Link it into a program with `use tinytrain_qemu as _;` (or use any item).
#![no_std]

use core::panic::PanicInfo;

use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::debug;
// The global defmt logger: frames go to QEMU's stdout through semihosting.
use defmt_semihosting as _;

pub mod count;
pub mod sim;
pub mod stack;

/// The QEMU machine this build runs on.
#[cfg(machine = "mps2_an386")]
pub const MACHINE: &str = "mps2-an386 (Cortex-M4F)";
/// The QEMU machine this build runs on.
#[cfg(machine = "microbit")]
pub const MACHINE: &str = "microbit (Cortex-M0)";

/// Ends the program: QEMU exits with 0 when `ok`, else 1.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached without a semihosting host (e.g. no debugger): stop here.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Logs `claim` with its outcome and exits accordingly.
pub fn finish(claim: &str, ok: bool) -> ! {
    if ok {
        defmt::info!("PASS: {=str}", claim);
    } else {
        defmt::error!("FAIL: {=str}", claim);
    }
    exit(ok)
}

/// `unwrap` for firmware: the value, or the error logged through defmt and
/// an exit with failure. Unlike `unwrap` it pulls no `core::fmt` `Debug` code
/// into flash (defmt keeps format strings out of the image).
pub trait OrFail<T> {
    /// The value, or log `what` with the error and exit with failure.
    fn or_fail(self, what: &str) -> T;
}

impl<T, E: defmt::Format> OrFail<T> for Result<T, E> {
    fn or_fail(self, what: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => {
                defmt::error!("{=str}: {}", what, e);
                exit(false)
            }
        }
    }
}

impl<T> OrFail<T> for Option<T> {
    fn or_fail(self, what: &str) -> T {
        match self {
            Some(v) => v,
            None => {
                defmt::error!("{=str}: missing", what);
                exit(false)
            }
        }
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(false)
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    // defmt::panic! has logged its message already.
    exit(false)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#010x}", frame.pc());
    exit(false)
}
