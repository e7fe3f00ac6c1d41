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

    #[test]
    fn abs_clears_sign() {
        assert_eq!(abs(-2.5), 2.5);
        assert_eq!(abs(2.5), 2.5);
        assert_eq!(abs(-0.0).to_bits(), 0);
    }
}
