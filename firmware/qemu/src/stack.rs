//! Peak stack use by painting: cortex-m-rt's `paint-stack` feature fills the
//! stack region with 0xCCCC_CCCC before `main`; the lowest overwritten word
//! marks the deepest the stack has been.

const PAINT: u32 = 0xCCCC_CCCC;

extern "C" {
    // Defined by cortex-m-rt's link.x: the stack grows down from _stack_start to _stack_end.
    static _stack_start: u32;
    static _stack_end: u32;
}

/// Bytes of stack used so far, at most (the high-water mark since reset).
pub fn high_water() -> usize {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut p: *const u32 = core::ptr::addr_of!(_stack_end);
    // SAFETY: every word from _stack_end up to _stack_start is RAM of the
    // stack region; reading it is sound, volatile because the compiler does
    // not know the painting happened.
    while (p as usize) < top && unsafe { p.read_volatile() } == PAINT {
        p = unsafe { p.add(1) };
    }
    top - p as usize
}
