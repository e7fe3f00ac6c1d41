//! Instruction counts from SysTick.
//!
//! QEMU does not emulate cycle counts (DWT CYCCNT reads 0). Run it with
//! `-icount shift=0`: every instruction then takes 1 ns of virtual time, and
//! SysTick clocked from the core ticks once per `1e9 / CORE_HZ` instructions
//! (40 on mps2-an386, 62.5 on microbit). Counts are deterministic; a region's
//! resolution is one tick, so measure many repetitions and divide.

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;

/// SysTick's core clock on the machine (Hz).
#[cfg(machine = "mps2_an386")]
pub const CORE_HZ: u64 = 25_000_000;
/// SysTick's core clock on the machine (Hz).
#[cfg(machine = "microbit")]
pub const CORE_HZ: u64 = 16_000_000;

const RELOAD: u32 = 0x00FF_FFFF;

/// A free-running SysTick used as an instruction counter.
pub struct Counter {
    _syst: SYST,
    overhead: u32,
}

impl Counter {
    /// Starts SysTick from the core clock with the full 24-bit reload and no interrupt.
    pub fn new(mut syst: SYST) -> Self {
        syst.disable_interrupt();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_counter();
        let mut c = Counter {
            _syst: syst,
            overhead: 0,
        };
        c.overhead = c.ticks(|| ()).1;
        c
    }

    /// Runs `f` and returns its result and the SysTick ticks it took, less the
    /// counter's own overhead. `f` must take under 2^24 ticks (670 M
    /// instructions on mps2-an386).
    #[inline(never)]
    pub fn ticks<R>(&mut self, f: impl FnOnce() -> R) -> (R, u32) {
        let start = SYST::get_current();
        let r = f();
        let end = SYST::get_current();
        let ticks = start.wrapping_sub(end) & RELOAD;
        (r, ticks.saturating_sub(self.overhead))
    }

    /// Instructions executed by `f`, per repetition when it does `reps` of them.
    pub fn instructions<R>(&mut self, reps: u32, f: impl FnOnce() -> R) -> (R, u32) {
        let (r, ticks) = self.ticks(f);
        let instr = u64::from(ticks) * 1_000_000_000 / CORE_HZ;
        (r, (instr / u64::from(reps.max(1))) as u32)
    }
}
