//! The CPU's measured FP32 peak: independent fused multiply-add chains on
//! every thread, in the widest vectors the CPU has (AVX-512, else AVX2+FMA,
//! else whatever the compiler makes of plain `mul_add`-free code).
//!
//! This is the only module with `unsafe`: calling a function compiled for
//! CPU features the rest of the binary may not assume. Each call is guarded
//! by run-time feature detection, which is what makes it sound.
#![allow(unsafe_code)]

use std::time::Instant;

use tinytrain::Error;

use crate::sync::{system_threads, together};

/// Independent accumulator chains per thread: enough to cover FMA latency
/// (4 cycles) times two FMA ports.
const CHAINS: usize = 16;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::CHAINS;

    /// `iters` rounds of 16 independent 512-bit FMAs; returns a value that
    /// depends on all of them so nothing is optimised away.
    #[target_feature(enable = "avx512f")]
    pub(super) fn fma512(iters: u64) -> f32 {
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-7);
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        let mut s = _mm512_setzero_ps();
        for v in acc {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }

    /// Same with 256-bit AVX2 FMAs.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn fma256(iters: u64) -> f32 {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-7);
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut s = _mm256_setzero_ps();
        for v in acc {
            s = _mm256_add_ps(s, v);
        }
        let mut out = [0.0f32; 8];
        for (k, o) in out.iter_mut().enumerate() {
            // Extract lanes without pointer intrinsics.
            let shifted = _mm256_permutevar8x32_ps(s, _mm256_set1_epi32(k as i32));
            *o = _mm256_cvtss_f32(shifted);
        }
        out.iter().sum()
    }
}

/// Which kernel [`gflops`] uses on this CPU, and FLOP per iteration of it.
pub fn kernel_name() -> &'static str {
    match lanes() {
        16 => "AVX-512 FMA",
        8 => "AVX2 FMA",
        _ => "scalar",
    }
}

fn lanes() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return 16;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return 8;
        }
    }
    1
}

/// Portable fallback: 16 chains of multiply-add (two FLOP each).
fn scalar(iters: u64) -> f32 {
    let mut acc = [1.0f32; CHAINS];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = *v * 0.999_999 + 1e-7;
        }
    }
    acc.iter().sum()
}

/// Runs the widest kernel for `iters` rounds; returns its checksum.
fn run(iters: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        match lanes() {
            // SAFETY: `lanes()` returned 16 only after detecting AVX-512F
            // at run time, so the CPU executes the function's instructions.
            16 => return unsafe { x86::fma512(iters) },
            // SAFETY: AVX2 and FMA were detected at run time.
            8 => return unsafe { x86::fma256(iters) },
            _ => {}
        }
    }
    scalar(iters)
}

/// FP32 GFLOP/s of `threads` threads each running the FMA kernel at once;
/// the median of `repeats` runs of about `seconds` each. Fails only if the
/// system will not start that many threads.
pub fn gflops(threads: usize, seconds: f64, repeats: usize) -> Result<f64, Error> {
    let lanes = lanes() as f64;
    // Calibrate the iteration count on one thread.
    let mut iters = 1u64 << 16;
    loop {
        let t = Instant::now();
        std::hint::black_box(run(iters));
        let dt = t.elapsed().as_secs_f64();
        if dt > 0.02 || iters > 1 << 40 {
            iters = ((iters as f64) * seconds / dt.max(1e-9)).max(1.0) as u64;
            break;
        }
        iters *= 4;
    }
    let mut runs: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            together(threads.max(1), system_threads, || {
                std::hint::black_box(run(iters))
            })?;
            let dt = t.elapsed().as_secs_f64();
            let flop = threads.max(1) as f64 * iters as f64 * CHAINS as f64 * lanes * 2.0;
            Ok(flop / dt / 1e9)
        })
        .collect::<Result<_, Error>>()?;
    runs.sort_by(f64::total_cmp);
    Ok(runs[runs.len() / 2])
}
