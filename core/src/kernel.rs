//! Slice kernels behind every dense layer.
//!
//! The const-generic layers flatten their arrays and call these, so the
//! arithmetic lives in one place and its operation order, which decides the
//! exact bits of every result, is the same on every target. Lengths are
//! checked by the callers' types; these functions only zip what they get.

/// Partial sums per dot product: eight independent chains, so the loop
/// vectorises (8 lanes of AVX, 2×4 of SSE/NEON) and pipelines on scalar FPUs.
const LANES: usize = 8;

/// Σ a\[k\]·b\[k\], summed in eight interleaved partial sums combined as a
/// fixed tree, then the tail in order. Same bits on every target.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ta, tb) = (ca.remainder(), cb.remainder());
    let mut acc = [0.0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ta.iter().zip(tb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Like [`dot`] but for vectors shorter than one chunk the plain running sum,
/// which is what the tree reduces to anyway; kept separate for tiny layers.
#[inline(always)]
fn row_dot(w: &[f32], x: &[f32]) -> f32 {
    if x.len() < LANES {
        let mut s = 0.0f32;
        for (a, b) in w.iter().zip(x) {
            s += a * b;
        }
        s
    } else {
        dot(w, x)
    }
}

/// `out[o] = b[o] + Σ_i w[o·n + i]·x[i]` with `n = x.len()`: W is row-major
/// `[outputs][inputs]` (PyTorch's `nn.Linear` layout).
#[inline(always)]
pub fn matvec(w: &[f32], b: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len();
    for ((row, &bias), o) in w.chunks_exact(n).zip(b).zip(out.iter_mut()) {
        *o = bias + row_dot(row, x);
    }
}

/// `dx[i] = Σ_o w[o·n + i]·delta[o]`, o in order: the input gradient Wᵀδ.
#[inline(always)]
pub fn matvec_t(w: &[f32], delta: &[f32], dx: &mut [f32]) {
    let n = dx.len();
    dx.fill(0.0);
    for (row, &d) in w.chunks_exact(n).zip(delta) {
        for (g, &wi) in dx.iter_mut().zip(row) {
            *g += wi * d;
        }
    }
}

/// `gw[o·n + i] += delta[o]·x[i]`, `gb[o] += delta[o]`: one sample's
/// contribution to the weight gradient, accumulated in sample order.
#[inline(always)]
pub fn outer_acc(gw: &mut [f32], gb: &mut [f32], delta: &[f32], x: &[f32]) {
    let n = x.len();
    for ((row, g), &d) in gw.chunks_exact_mut(n).zip(gb.iter_mut()).zip(delta) {
        *g += d;
        for (gi, &xi) in row.iter_mut().zip(x) {
            *gi += d * xi;
        }
    }
}

/// `w[o·n + i] −= (lr·delta[o])·x[i]`, `b[o] −= lr·delta[o]`: a fused
/// per-sample SGD update that needs no gradient memory.
#[inline(always)]
pub fn outer_sub(w: &mut [f32], b: &mut [f32], delta: &[f32], x: &[f32], lr: f32) {
    let n = x.len();
    for ((row, bias), &d) in w.chunks_exact_mut(n).zip(b.iter_mut()).zip(delta) {
        let s = lr * d;
        *bias -= s;
        for (wi, &xi) in row.iter_mut().zip(x) {
            *wi -= s * xi;
        }
    }
}

/// Σ v², in order.
#[inline]
pub fn sum_sq(v: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for &x in v {
        s += x * x;
    }
    s
}

/// True when every element is finite.
#[inline]
pub fn all_finite(v: &[f32]) -> bool {
    // A sum of |x|·0 is NaN iff some x is NaN or infinite; branch-free.
    let mut acc = 0.0f32;
    for &x in v {
        acc += x * 0.0;
    }
    acc == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn dot_matches_naive_at_awkward_lengths() {
        for n in [0usize, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100] {
            let a: [f32; 100] = core::array::from_fn(|i| (i as f32 * 0.37).sin());
            let b: [f32; 100] = core::array::from_fn(|i| (i as f32 * 0.11).cos());
            let d = dot(&a[..n], &b[..n]) as f64;
            let r = row_dot(&a[..n], &b[..n]) as f64;
            let e = naive_dot(&a[..n], &b[..n]);
            assert!((d - e).abs() < 1e-5, "n={n}");
            assert!((r - e).abs() < 1e-5, "n={n}");
        }
    }

    #[test]
    fn matvec_and_transpose_agree_with_naive() {
        const I: usize = 11;
        const O: usize = 5;
        let w: [f32; I * O] = core::array::from_fn(|k| ((k * 7 % 13) as f32 - 6.0) / 7.0);
        let b: [f32; O] = core::array::from_fn(|k| k as f32 * 0.1);
        let x: [f32; I] = core::array::from_fn(|k| 1.0 - k as f32 * 0.2);
        let mut out = [0.0; O];
        matvec(&w, &b, &x, &mut out);
        for o in 0..O {
            let e: f64 = b[o] as f64 + naive_dot(&w[o * I..(o + 1) * I], &x);
            assert!((out[o] as f64 - e).abs() < 1e-5);
        }
        let d: [f32; O] = core::array::from_fn(|k| k as f32 - 2.0);
        let mut dx = [9.0; I];
        matvec_t(&w, &d, &mut dx);
        for i in 0..I {
            let e: f64 = (0..O).map(|o| w[o * I + i] as f64 * d[o] as f64).sum();
            assert!((dx[i] as f64 - e).abs() < 1e-5);
        }
    }

    #[test]
    fn outer_acc_and_sub_are_consistent() {
        let x = [1.0f32, 2.0, 3.0];
        let d = [0.5f32, -1.0];
        let mut gw = [0.0f32; 6];
        let mut gb = [0.0f32; 2];
        outer_acc(&mut gw, &mut gb, &d, &x);
        assert_eq!(gw, [0.5, 1.0, 1.5, -1.0, -2.0, -3.0]);
        assert_eq!(gb, [0.5, -1.0]);
        let mut w = [0.0f32; 6];
        let mut b = [0.0f32; 2];
        outer_sub(&mut w, &mut b, &d, &x, 2.0);
        assert_eq!(w, [-1.0, -2.0, -3.0, 2.0, 4.0, 6.0]);
        assert_eq!(b, [-1.0, 2.0]);
    }

    #[test]
    fn finiteness() {
        assert!(all_finite(&[0.0, 1.0, -3e38]));
        assert!(!all_finite(&[0.0, f32::NAN]));
        assert!(!all_finite(&[f32::INFINITY, 0.0]));
        assert!(!all_finite(&[f32::NEG_INFINITY]));
    }
}
