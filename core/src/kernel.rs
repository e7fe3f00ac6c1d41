//! Slice kernels behind every dense layer.
//!
//! The const-generic layers flatten their arrays and call these, so the
//! arithmetic lives in one place and its operation order, which decides the
//! exact bits of every result, is the same on every target. Lengths are
//! checked by the callers' types; these functions only zip what they get.

/// Partial sums per dot product: four independent chains, so the loop
/// vectorises (SSE, NEON) and pipelines on a scalar FPU without spilling
/// (two rows × four sums + four inputs fit a Cortex-M4F's 32 registers).
const LANES: usize = 4;

use wide::f32x4;

/// The fixed reduction of [`dot`]: lanes (0 + 2) + (1 + 3), the order a
/// vector unit reduces in, then the tail.
#[inline(always)]
fn reduce(acc: f32x4, tail: f32) -> f32 {
    let acc = acc.to_array();
    ((acc[0] + acc[2]) + (acc[1] + acc[3])) + tail
}

/// Σ a\[k\]·b\[k\], summed in four interleaved partial sums combined as a
/// fixed tree ((0 + 2) + (1 + 3)), then the tail in order.
/// Same bits on every target.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, ta) = a.as_chunks::<LANES>();
    let (cb, tb) = b.as_chunks::<LANES>();
    let mut acc = f32x4::ZERO;
    for (x, y) in ca.iter().zip(cb) {
        // Lane-wise multiply then add: never fused, so every target rounds alike.
        acc += f32x4::from(*x) * f32x4::from(*y);
    }
    let mut tail = 0.0f32;
    for (x, y) in ta.iter().zip(tb) {
        tail += x * y;
    }
    reduce(acc, tail)
}

/// [`dot`] of two rows with the same `x`, which is read once for both: each
/// result has exactly the bits of `dot(row, x)`.
#[inline(always)]
fn dot2(r0: &[f32], r1: &[f32], x: &[f32]) -> [f32; 2] {
    let (c0, t0) = r0.as_chunks::<LANES>();
    let (c1, t1) = r1.as_chunks::<LANES>();
    let (cx, tx) = x.as_chunks::<LANES>();
    let (mut a0, mut a1) = (f32x4::ZERO, f32x4::ZERO);
    for ((w0, w1), xc) in c0.iter().zip(c1).zip(cx) {
        let xv = f32x4::from(*xc);
        a0 += f32x4::from(*w0) * xv;
        a1 += f32x4::from(*w1) * xv;
    }
    let (mut s0, mut s1) = (0.0f32, 0.0f32);
    for ((w0, w1), xi) in t0.iter().zip(t1).zip(tx) {
        s0 += w0 * xi;
        s1 += w1 * xi;
    }
    [reduce(a0, s0), reduce(a1, s1)]
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
/// `[outputs][inputs]` (PyTorch's `nn.Linear` layout). Rows go in pairs that
/// share each load of `x`; every output has the bits of its own [`dot`].
#[inline(always)]
pub fn matvec(w: &[f32], b: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len();
    if n < LANES {
        for ((row, &bias), o) in w.chunks_exact(n).zip(b).zip(out.iter_mut()) {
            *o = bias + row_dot(row, x);
        }
        return;
    }
    let pairs = w.chunks_exact(2 * n);
    let last = pairs.remainder();
    let (bp, bl) = b.as_chunks::<2>();
    let (op, ol) = out.as_chunks_mut::<2>();
    for ((rows, bias), o) in pairs.zip(bp).zip(op.iter_mut()) {
        let (r0, r1) = rows.split_at(n);
        let d = dot2(r0, r1, x);
        *o = [bias[0] + d[0], bias[1] + d[1]];
    }
    if let (Some(o), Some(&bias)) = (ol.first_mut(), bl.first()) {
        *o = bias + dot(last, x);
    }
}

/// `y[k] += a·x[k]` for every k (an axpy), four lanes at a time.
/// Element-wise, so its result does not depend on the vector width.
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let (cy, ty) = y.as_chunks_mut::<LANES>();
    let (cx, tx) = x.as_chunks::<LANES>();
    let av = f32x4::splat(a);
    for (yc, xc) in cy.iter_mut().zip(cx) {
        *yc = (f32x4::from(*yc) + av * f32x4::from(*xc)).to_array();
    }
    for (yi, &xi) in ty.iter_mut().zip(tx) {
        *yi += a * xi;
    }
}

/// Two axpys sharing `x`: `y0 += a0·x`, `y1 += a1·x`, with `x` read once.
/// Element-wise: the same bits as two [`axpy`] calls.
#[inline(always)]
fn axpy2(y0: &mut [f32], a0: f32, y1: &mut [f32], a1: f32, x: &[f32]) {
    let (c0, t0) = y0.as_chunks_mut::<LANES>();
    let (c1, t1) = y1.as_chunks_mut::<LANES>();
    let (cx, tx) = x.as_chunks::<LANES>();
    let (v0, v1) = (f32x4::splat(a0), f32x4::splat(a1));
    for ((y0, y1), xc) in c0.iter_mut().zip(c1.iter_mut()).zip(cx) {
        let xv = f32x4::from(*xc);
        *y0 = (f32x4::from(*y0) + v0 * xv).to_array();
        *y1 = (f32x4::from(*y1) + v1 * xv).to_array();
    }
    for ((y0, y1), &xi) in t0.iter_mut().zip(t1.iter_mut()).zip(tx) {
        *y0 += a0 * xi;
        *y1 += a1 * xi;
    }
}

/// `y += a0·x0` then `y += a1·x1`, element by element in that order, with `y`
/// read and written once: the same bits as two [`axpy`] calls.
#[inline(always)]
fn axpy_twice(y: &mut [f32], a0: f32, x0: &[f32], a1: f32, x1: &[f32]) {
    let (cy, ty) = y.as_chunks_mut::<LANES>();
    let (c0, t0) = x0.as_chunks::<LANES>();
    let (c1, t1) = x1.as_chunks::<LANES>();
    let (v0, v1) = (f32x4::splat(a0), f32x4::splat(a1));
    for ((yc, x0), x1) in cy.iter_mut().zip(c0).zip(c1) {
        let t = f32x4::from(*yc) + v0 * f32x4::from(*x0);
        *yc = (t + v1 * f32x4::from(*x1)).to_array();
    }
    for ((yi, &p), &q) in ty.iter_mut().zip(t0).zip(t1) {
        *yi = (*yi + a0 * p) + a1 * q;
    }
}

/// `dx[i] = Σ_o w[o·n + i]·delta[o]`, o in order: the input gradient Wᵀδ.
/// Two rows per pass over `dx`.
#[inline(always)]
pub fn matvec_t(w: &[f32], delta: &[f32], dx: &mut [f32]) {
    let n = dx.len();
    dx.fill(0.0);
    let pairs = w.chunks_exact(2 * n);
    let last = pairs.remainder();
    let (dp, dl) = delta.as_chunks::<2>();
    for (rows, d) in pairs.zip(dp) {
        let (r0, r1) = rows.split_at(n);
        axpy_twice(dx, d[0], r0, d[1], r1);
    }
    if let Some(&d) = dl.first() {
        axpy(dx, d, last);
    }
}

/// `gw[o·n + i] += delta[o]·x[i]`, `gb[o] += delta[o]`: one sample's
/// contribution to the weight gradient, accumulated in sample order. Rows go
/// in pairs that share each load of `x`.
#[inline(always)]
pub fn outer_acc(gw: &mut [f32], gb: &mut [f32], delta: &[f32], x: &[f32]) {
    outer_update(gw, gb, delta, x, 1.0);
}

/// `w[o·n + i] −= (lr·delta[o])·x[i]`, `b[o] −= lr·delta[o]`: a fused
/// per-sample SGD update that needs no gradient memory.
#[inline(always)]
pub fn outer_sub(w: &mut [f32], b: &mut [f32], delta: &[f32], x: &[f32], lr: f32) {
    // y + (−s)·x rounds exactly as y − s·x: negation is exact.
    outer_update(w, b, delta, x, -lr);
}

/// Rows at least this long skip their update when their delta is zero.
const SKIP_ZERO_ROWS_FROM: usize = 16;

/// `w[o][i] += (scale·delta[o])·x[i]`, `b[o] += scale·delta[o]`; with
/// `scale = 1` the multiplication is exact, so this is plain accumulation.
/// Rows of 16 or more inputs whose delta is zero are skipped, which is what adding zero does —
/// except that a −0.0 there stays −0.0 instead of becoming +0.0 — and halves
/// the work behind ReLU layers, where about half the units are off.
#[inline(always)]
fn outer_update(w: &mut [f32], b: &mut [f32], delta: &[f32], x: &[f32], scale: f32) {
    let n = x.len();
    let mut pairs = w.chunks_exact_mut(2 * n);
    let (bp, bl) = b.as_chunks_mut::<2>();
    let (dp, dl) = delta.as_chunks::<2>();
    for ((rows, bias), d) in (&mut pairs).zip(bp.iter_mut()).zip(dp) {
        let (s0, s1) = (scale * d[0], scale * d[1]);
        let (r0, r1) = rows.split_at_mut(n);
        // A zero delta (typically a ReLU unit that was off) adds nothing: its
        // row is skipped. (A NaN delta is not zero and is applied.) Short rows
        // are cheaper to update than to test; `n` is a constant once inlined.
        let wide = n >= SKIP_ZERO_ROWS_FROM;
        match (!wide || d[0] != 0.0, !wide || d[1] != 0.0) {
            (true, true) => {
                bias[0] += s0;
                bias[1] += s1;
                axpy2(r0, s0, r1, s1, x);
            }
            (true, false) => {
                bias[0] += s0;
                axpy(r0, s0, x);
            }
            (false, true) => {
                bias[1] += s1;
                axpy(r1, s1, x);
            }
            (false, false) => {}
        }
    }
    if let (Some(bias), Some(&d)) = (bl.first_mut(), dl.first()) {
        if n < SKIP_ZERO_ROWS_FROM || d != 0.0 {
            let s = scale * d;
            *bias += s;
            axpy(pairs.into_remainder(), s, x);
        }
    }
}

/// The element-wise rule of one SGD step (PyTorch's `optim.SGD` after
/// `clip_grad_norm_`): `u = momentum·v + (g·scale + decay·w)`, `w −= lr·u`.
#[derive(Clone, Copy, Debug)]
pub struct Update {
    /// Clipping factor applied to the gradient.
    pub scale: f32,
    /// L2 weight decay.
    pub decay: f32,
    /// Momentum factor (used only with a velocity).
    pub momentum: f32,
    /// Learning rate.
    pub lr: f32,
}

impl Update {
    /// Overwrites `g` with the update direction u (from the velocity `v` when
    /// given) and returns whether u and every `w − lr·u` are finite.
    #[inline]
    pub fn direction(&self, g: &mut [f32], w: &[f32], v: Option<&[f32]>) -> bool {
        let mut check = 0.0f32;
        match v {
            Some(v) => {
                for ((g, &w), &v) in g.iter_mut().zip(w).zip(v) {
                    let u = self.momentum * v + (*g * self.scale + self.decay * w);
                    *g = u;
                    check += (w - self.lr * u) * 0.0;
                }
            }
            None => {
                for (g, &w) in g.iter_mut().zip(w) {
                    let u = *g * self.scale + self.decay * w;
                    *g = u;
                    check += (w - self.lr * u) * 0.0;
                }
            }
        }
        // NaN iff some u or new weight is NaN or infinite.
        check == 0.0
    }

    /// Commits a direction from [`Update::direction`]: `w −= lr·u` and, with
    /// momentum, `v = u`.
    #[inline]
    pub fn commit(&self, w: &mut [f32], u: &[f32], v: Option<&mut [f32]>) {
        // w + (−lr)·u rounds exactly as w − lr·u.
        axpy(w, -self.lr, u);
        if let Some(v) = v {
            if self.momentum != 0.0 {
                v.copy_from_slice(u);
            }
        }
    }
}

/// Pass 1 of a step over a weight matrix (`inputs` per row): every element
/// times `inv`, and Σ g² summed per row from zero, the row sums then added in
/// row order. Rows are independent, so threads can compute disjoint rows'
/// sums ([`scale_sum_sq`] per row) and add them in order for the same bits.
#[inline]
pub fn mean_sq_rows(w: &mut [f32], inputs: usize, inv: f32) -> f32 {
    let mut acc = 0.0f32;
    for row in w.chunks_exact_mut(inputs.max(1)) {
        acc += scale_sum_sq(row, inv);
    }
    acc
}

/// `v[k] *= s` for every k, then Σ v² in order.
#[inline]
pub fn scale_sum_sq(v: &mut [f32], s: f32) -> f32 {
    let mut acc = 0.0f32;
    for x in v.iter_mut() {
        *x *= s;
        acc += *x * *x;
    }
    acc
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
