//! The one module that names a float-math backend.
//!
//! By default every function forwards to [`libm`], whose single-precision
//! functions are within 1 ulp and give the same bits on every target (host,
//! Cortex-M0 soft float, Cortex-M4F). With the `fast-math` feature, `exp` and
//! `tanh` — the functions the sigmoid and tanh activations call for every
//! unit of every sample — come from `micromath` instead: faster on a
//! microcontroller, but approximate. The bounds, checked by this module's
//! tests, are
//!
//! | function | range | max error with `fast-math` |
//! |---|---|---|
//! | `exp` | \[-80, 80\] | 2.5e-3 relative (measured 2.39e-3) |
//! | `tanh` | \[-20, 20\] | 1.5e-3 absolute (measured 1.05e-3; built from the fast `exp`) |
//!
//! `ln` and `sqrt` stay on `libm` under `fast-math`: micromath's versions err by
//! up to 10 % and 6 % over the float range, too much for a loss or a gradient
//! norm, and they run once per sample or per step, not per unit.
//!
//! Callers write `math::exp(x)`, never a method on `f32`, so a build can never
//! silently mix the two backends.

#[cfg(not(feature = "fast-math"))]
mod backend {
    #[inline]
    pub fn exp(x: f32) -> f32 {
        libm::expf(x)
    }
    #[inline]
    pub fn ln(x: f32) -> f32 {
        libm::logf(x)
    }
    #[inline]
    pub fn tanh(x: f32) -> f32 {
        libm::tanhf(x)
    }
    #[inline]
    pub fn sqrt(x: f32) -> f32 {
        libm::sqrtf(x)
    }
}

#[cfg(feature = "fast-math")]
mod backend {
    use micromath::F32Ext;
    #[inline]
    pub fn exp(x: f32) -> f32 {
        F32Ext::exp(x)
    }
    #[inline]
    pub fn ln(x: f32) -> f32 {
        libm::logf(x)
    }
    #[inline]
    pub fn tanh(x: f32) -> f32 {
        // tanh(x) = 1 - 2 / (e^{2x} + 1); saturates cleanly for large |x|.
        if x > 15.0 {
            1.0
        } else if x < -15.0 {
            -1.0
        } else {
            1.0 - 2.0 / (F32Ext::exp(2.0 * x) + 1.0)
        }
    }
    #[inline]
    pub fn sqrt(x: f32) -> f32 {
        libm::sqrtf(x)
    }
}

/// e^x.
#[inline]
pub fn exp(x: f32) -> f32 {
    backend::exp(x)
}

/// Whether [`exp_in_place`] runs eight lanes at a time: on hosts, with the
/// exact backend. (A Cortex-M has no vector unit, so it keeps the scalar
/// loop, and `fast-math` has its own `exp`.)
pub const VECTOR_EXP: bool = cfg!(all(not(target_arch = "arm"), not(feature = "fast-math")));

/// `v[k] = exp(v[k])` for every k, with exactly the bits of [`exp`]. On
/// hosts ([`VECTOR_EXP`]) eight at a time with [`exp8`], the last few
/// padded to eight (one or two go through the scalar function, which is
/// quicker for so few).
#[inline]
pub fn exp_in_place(v: &mut [f32]) {
    if !VECTOR_EXP {
        for x in v {
            *x = exp(*x);
        }
        return;
    }
    let (chunks, rest) = v.as_chunks_mut::<8>();
    for c in chunks {
        *c = exp8(*c);
    }
    if rest.len() <= 2 {
        for x in rest {
            *x = exp(*x);
        }
    } else {
        let mut lanes = [0.0f32; 8];
        lanes[..rest.len()].copy_from_slice(rest);
        let e = exp8(lanes);
        rest.copy_from_slice(&e[..rest.len()]);
    }
}

/// `libm::expf` of eight values at once, bit for bit, for a vector unit:
/// the same algorithm and operations in every lane, with each of its
/// branches turned into a select.
///
/// The algorithm (FreeBSD's `e_expf.c`, which `libm` follows): take off
/// k·ln 2 in two parts (`hi`, `lo`), with k = trunc(x/ln 2 ± ½) for
/// |x| > 1.5 ln 2, ±1 for |x| > ½ ln 2 and 0 below; approximate e^r on the
/// reduced r with a rational function of r² (coefficients `P1`, `P2`); and
/// scale by 2^k the way `scalbnf` does (pre-scaled by 2^127 or 2^−102 when
/// 2^k itself is out of range). Tiny |x| (≤ 2^−14) give 1 + x, NaN gives x,
/// x ≥ 88.72 overflows (x·2^127) and x ≤ −103.97 gives 0. A test compares
/// it with `libm::expf` for every one of the 2^32 inputs.
#[inline]
pub fn exp8(x: [f32; 8]) -> [f32; 8] {
    use bytemuck::cast;
    use wide::{f32x8, i32x8, CmpGe, CmpGt, CmpLe, CmpLt};
    // ln 2 in two parts (k·LN2_HI is exact), 1/ln 2, and the coefficients.
    let ln2_hi = f32x8::splat(f32::from_bits(0x3f31_7200)); // 6.9314575e-1
    let ln2_lo = f32x8::splat(f32::from_bits(0x35bf_be8e)); // 1.4286068e-6
    let inv_ln2 = f32x8::splat(f32::from_bits(0x3fb8_aa3b)); // 1.4426950
    let p1 = f32x8::splat(f32::from_bits(0x3e2a_aa8f)); // 1.6666625e-1
    let p2 = f32x8::splat(f32::from_bits(0xbb35_5215)); // -2.7667333e-3
    let two_127 = f32x8::splat(f32::from_bits(0x7f00_0000));
    let two_m102 = f32x8::splat(f32::from_bits(0x0c80_0000));
    // |x| against a bound given as bits: for non-NaN |x| the float order is
    // the order of the bits that libm compares.
    let above = |ax: f32x8, bits: u32| ax.cmp_gt(f32x8::splat(f32::from_bits(bits)));
    let (one, half) = (f32x8::ONE, f32x8::HALF);

    let x = f32x8::from(x);
    let ax = x.abs();
    let neg = x.sign_bit();
    // k: trunc(x/ln 2 ± ½) beyond 1.5 ln 2, ±1 beyond ½ ln 2, else 0 (the
    // first clamped so that lanes selected away below stay in range).
    let t = inv_ln2 * x + neg.blend(-half, half);
    let far = t
        .max(f32x8::splat(-200.0))
        .min(f32x8::splat(200.0))
        .trunc_int();
    let near = cast::<f32x8, i32x8>(neg).blend(i32x8::splat(-1), i32x8::splat(1));
    let is_far: i32x8 = cast(above(ax, 0x3f85_1592));
    let is_near: i32x8 = cast(above(ax, 0x3eb1_7218));
    let k = is_far.blend(far, is_near.blend(near, i32x8::ZERO));
    let kf = f32x8::from_i32x8(k);
    // With k = 0 these leave x as it is and lo = 0, as libm's third case does.
    let hi = x - kf * ln2_hi;
    let lo = kf * ln2_lo;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (p1 + rr * p2);
    let y = one + (r * c / (f32x8::splat(2.0) - c) - lo + hi);
    // y·2^k as scalbnf: pre-scaled by 2^127 or 2^−102 where 2^k is out of range.
    let big = k.cmp_gt(i32x8::splat(127));
    let small = k.cmp_lt(i32x8::splat(-126));
    let y = cast::<i32x8, f32x8>(big).blend(
        y * two_127,
        cast::<i32x8, f32x8>(small).blend(y * two_m102, y),
    );
    let n = big.blend(k - i32x8::splat(127), small.blend(k + i32x8::splat(102), k));
    let scaled = y * cast::<i32x8, f32x8>((n + i32x8::splat(127)) << 23);
    // The special cases.
    let tiny = ax.cmp_le(f32x8::splat(f32::from_bits(0x3900_0000)));
    let over = ax.cmp_ge(f32x8::splat(f32::from_bits(0x42b1_7218))) & !neg;
    let under = ax.cmp_ge(f32x8::splat(f32::from_bits(0x42cf_f1b5))) & neg;
    let e = tiny.blend(
        one + x,
        x.is_nan()
            .blend(x, over.blend(x * two_127, under.blend(f32x8::ZERO, scaled))),
    );
    e.to_array()
}

/// `libm::logf` of eight values at once, bit for bit, for a vector unit:
/// the same operations in every lane, with each of its branches turned
/// into a select.
///
/// The algorithm (FreeBSD's `e_logf.c`, which `libm` follows): scale a
/// subnormal x by 2^25; write x = 2^k·(1 + f) with 1 + f in
/// \[√2/2, √2\) by moving its exponent bits; then ln(1 + f) from s =
/// f/(2 + f) and a polynomial in s² (coefficients `LG1`..`LG4`), plus
/// k·ln 2 in two parts. ±0 gives −1/(x·x) = −∞, a negative x gives
/// (x − x)/0 (NaN), +∞ and NaN give x, and 1 gives 0 — each computed as
/// `libm` computes it, so even NaN bits agree. A test compares it with
/// `libm::logf` for every one of the 2^32 inputs.
#[inline]
pub fn ln8(x: [f32; 8]) -> [f32; 8] {
    use bytemuck::cast;
    use wide::{f32x8, i32x8, CmpEq, CmpLt};
    let ln2_hi = f32x8::splat(f32::from_bits(0x3f31_7180)); // 6.9313812e-1
    let ln2_lo = f32x8::splat(f32::from_bits(0x3717_f7d1)); // 9.0580006e-6
    let lg1 = f32x8::splat(f32::from_bits(0x3f2a_aaaa)); // 6.6666663e-1
    let lg2 = f32x8::splat(f32::from_bits(0x3ecc_ce13)); // 4.0000972e-1
    let lg3 = f32x8::splat(f32::from_bits(0x3e91_e9ee)); // 2.8498787e-1
    let lg4 = f32x8::splat(f32::from_bits(0x3e78_9e26)); // 2.4279079e-1
    let two_25 = f32x8::splat(f32::from_bits(0x4c00_0000));
    let (one, zero) = (f32x8::ONE, f32x8::ZERO);

    let x = f32x8::from(x);
    let ix: i32x8 = cast(x);
    // As signed integers: below 2^−126 or negative, and +∞ or NaN.
    let low = ix.cmp_lt(i32x8::splat(0x0080_0000));
    let high = !ix.cmp_lt(i32x8::splat(0x7f80_0000));
    let is_zero = (ix << 1_i32).cmp_eq(i32x8::ZERO);
    let negative = ix.cmp_lt(i32x8::ZERO);
    // Subnormals, scaled up (lanes selected away below compute anything).
    let xs = cast::<i32x8, f32x8>(low).blend(x * two_25, x);
    let k0 = low.blend(i32x8::splat(-25), i32x8::ZERO);
    // 1 + f in [√2/2, √2) and k.
    let iy = cast::<f32x8, i32x8>(xs) + i32x8::splat(0x3f80_0000 - 0x3f35_04f3);
    let k = k0 + ((iy >> 23) & i32x8::splat(0x1ff)) - i32x8::splat(0x7f);
    let y: f32x8 = cast((iy & i32x8::splat(0x007f_ffff)) + i32x8::splat(0x3f35_04f3));
    let f = y - one;
    let s = f / (f32x8::splat(2.0) + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (lg2 + w * lg4);
    let t2 = z * (lg1 + w * lg3);
    let r = t2 + t1;
    let hfsq = f32x8::HALF * f * f;
    let dk = f32x8::from_i32x8(k);
    let l = s * (hfsq + r) + dk * ln2_lo - hfsq + f + dk * ln2_hi;
    // The special cases, as libm computes them.
    let is_one = ix.cmp_eq(i32x8::splat(0x3f80_0000));
    let (is_zero, negative, low): (f32x8, f32x8, f32x8) =
        (cast(is_zero), cast(negative), cast(low));
    // x − x: NaN for ±∞ and NaN inputs, with the NaN bits libm gets.
    #[allow(clippy::eq_op)]
    let nan = (x - x) / zero;
    let special = is_zero.blend(-one / (x * x), negative.blend(nan, l));
    let e = low.blend(
        special,
        cast::<i32x8, f32x8>(high).blend(x, cast::<i32x8, f32x8>(is_one).blend(zero, l)),
    );
    e.to_array()
}

/// Natural logarithm.
#[inline]
pub fn ln(x: f32) -> f32 {
    backend::ln(x)
}

/// Hyperbolic tangent.
#[inline]
pub fn tanh(x: f32) -> f32 {
    backend::tanh(x)
}

/// Square root.
#[inline]
pub fn sqrt(x: f32) -> f32 {
    backend::sqrt(x)
}

/// ln(1 + x), accurate for small x. Always `libm`: it only runs in the loss.
#[inline]
pub fn ln_1p(x: f32) -> f32 {
    libm::log1pf(x)
}

/// Cosine. Always `libm`: it only runs once per epoch in a schedule.
#[inline]
pub fn cos(x: f32) -> f32 {
    libm::cosf(x)
}

/// x^y. Always `libm`: it only runs once per epoch in a schedule.
#[inline]
pub fn pow(x: f32, y: f32) -> f32 {
    libm::powf(x, y)
}

/// |x|, without going through a backend.
#[inline]
pub fn abs(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel_err(approx: f32, exact: f64) -> f64 {
        ((approx as f64) - exact).abs() / exact.abs().max(1e-30)
    }

    /// Tolerances: exact libm within 2 ulp, fast-math within the documented bound.
    #[cfg(not(feature = "fast-math"))]
    const EXP_TOL: f64 = 3e-7;
    #[cfg(feature = "fast-math")]
    const EXP_TOL: f64 = 2.5e-3;
    #[cfg(not(feature = "fast-math"))]
    const TANH_ABS_TOL: f64 = 3e-7;
    #[cfg(feature = "fast-math")]
    const TANH_ABS_TOL: f64 = 1.5e-3;
    /// `ln` and `sqrt` are libm in every build.
    const LN_TOL: f64 = 3e-7;

    #[test]
    fn exp_within_documented_bound() {
        let mut x = -80.0f32;
        while x <= 80.0 {
            let e = libm::exp(x as f64);
            assert!(rel_err(exp(x), e) <= EXP_TOL, "exp({x})");
            x += 0.0137;
        }
    }

    #[test]
    fn tanh_within_documented_bound() {
        let mut x = -20.0f32;
        while x <= 20.0 {
            let t = libm::tanh(x as f64);
            assert!(((tanh(x) as f64) - t).abs() <= TANH_ABS_TOL, "tanh({x})");
            x += 0.0031;
        }
    }

    #[test]
    fn ln_and_sqrt_within_documented_bound() {
        let mut x = 1e-30f32;
        while x < 1e30 {
            let l = libm::log(x as f64);
            let err = ((ln(x) as f64) - l).abs() / l.abs().max(1.0);
            assert!(err <= LN_TOL, "ln({x})");
            assert!(
                rel_err(sqrt(x), libm::sqrt(x as f64)) <= LN_TOL,
                "sqrt({x})"
            );
            x *= 1.37;
        }
    }

    /// `edges` and their 64 neighbours each way, with both signs, then a
    /// stride over every bit pattern.
    fn probes(edges: &'static [u32]) -> impl Iterator<Item = u32> {
        let near = edges
            .iter()
            .flat_map(|&e| (0..64u32).flat_map(move |d| [e.wrapping_add(d), e.wrapping_sub(d)]))
            .flat_map(|b| [b & 0x7fff_ffff, b | 0x8000_0000]);
        near.chain((0..=u32::MAX).step_by(4099))
    }

    /// Inputs for [`exp8`]: the edges of every case of its algorithm, the
    /// extremes, and a stride over every bit pattern.
    fn exp_probes() -> impl Iterator<Item = u32> {
        probes(&[
            0x3900_0000,
            0x3eb1_7218,
            0x3f85_1592,
            0x42ae_ac50,
            0x42b1_7218,
            0x42cf_f1b5,
            0x7f80_0000,
            0x7fc0_0000,
            0x0000_0001,
        ])
    }

    /// `check` over all 2^32 bit patterns, split among every core.
    fn every_f32_on_every_core(check: fn(core::ops::Range<u64>)) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        std::thread::scope(|s| {
            for t in 0..threads {
                let (lo, hi) = ((t << 32) / threads, ((t + 1) << 32) / threads);
                s.spawn(move || check(lo..hi));
            }
        });
    }

    fn check_exp8(bits: impl Iterator<Item = u32>) {
        check_lanes(bits, exp8, libm::expf, "exp8", "libm::expf");
    }

    /// `lanes` agrees with `scalar` to the bit on every input of `bits`.
    fn check_lanes(
        bits: impl Iterator<Item = u32>,
        lanes: fn([f32; 8]) -> [f32; 8],
        scalar: fn(f32) -> f32,
        name: &str,
        scalar_name: &str,
    ) {
        let mut x = [0.0f32; 8];
        let mut n = 0;
        let check = |x: &[f32; 8], n: usize| {
            let e = lanes(*x);
            for k in 0..n {
                let want = scalar(x[k]);
                assert!(
                    e[k].to_bits() == want.to_bits(),
                    "{name}({:#010x}) = {:#010x}, {scalar_name} gives {:#010x}",
                    x[k].to_bits(),
                    e[k].to_bits(),
                    want.to_bits()
                );
            }
        };
        for b in bits {
            x[n] = f32::from_bits(b);
            n += 1;
            if n == 8 {
                check(&x, n);
                n = 0;
            }
        }
        check(&x, n);
    }

    #[test]
    fn exp8_has_the_bits_of_libm_at_every_edge_and_a_million_more() {
        check_exp8(exp_probes());
    }

    /// All 2^32 inputs, on every core: about half a minute per core in a
    /// release build (`cargo test --release -p tinytrain -- --ignored`, which
    /// scripts/test.sh runs).
    #[test]
    #[ignore = "exhaustive; run in release"]
    fn exp8_has_the_bits_of_libm_for_every_f32() {
        every_f32_on_every_core(|r| check_exp8(r.map(|b| b as u32)));
    }

    /// Inputs for [`ln8`]: both sides of every branch and of the
    /// reduction's cut at √2/2, the extremes, and a stride over every bit
    /// pattern.
    fn ln_probes() -> impl Iterator<Item = u32> {
        probes(&[
            0x0000_0000,
            0x0000_0001,
            0x0080_0000,
            0x3f35_04f3,
            0x3f80_0000,
            0x7f80_0000,
            0x7fc0_0000,
            0x7fff_ffff,
        ])
    }

    fn check_ln8(bits: impl Iterator<Item = u32>) {
        check_lanes(bits, ln8, libm::logf, "ln8", "libm::logf");
    }

    #[test]
    fn ln8_has_the_bits_of_libm_at_every_edge_and_a_million_more() {
        check_ln8(ln_probes());
    }

    /// All 2^32 inputs, on every core (`cargo test --release -p tinytrain
    /// -- --ignored`, which scripts/test.sh runs).
    #[test]
    #[ignore = "exhaustive; run in release"]
    fn ln8_has_the_bits_of_libm_for_every_f32() {
        every_f32_on_every_core(|r| check_ln8(r.map(|b| b as u32)));
    }

    #[test]
    fn exp_in_place_has_the_bits_of_exp() {
        for len in 0..20 {
            let v: [f32; 20] = core::array::from_fn(|i| (i as f32 - 9.5) * 7.3);
            let mut w = v;
            exp_in_place(&mut w[..len]);
            for k in 0..20 {
                let want = if k < len { exp(v[k]) } else { v[k] };
                assert_eq!(w[k].to_bits(), want.to_bits(), "len {len}, k {k}");
            }
        }
    }

    #[test]
    fn abs_clears_sign() {
        assert_eq!(abs(-2.5), 2.5);
        assert_eq!(abs(2.5), 2.5);
        assert_eq!(abs(-0.0).to_bits(), 0);
    }
}
