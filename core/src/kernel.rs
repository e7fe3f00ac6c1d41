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

/// Lanes of the element-wise kernels (the axpys and the gradient tiles of
/// [`outer_sum`]): eight where the host has 256-bit vectors (AVX), else four.
/// Element-wise results do not depend on the width.
#[cfg(target_feature = "avx")]
const EW: usize = 8;
#[cfg(not(target_feature = "avx"))]
const EW: usize = LANES;

/// A vector of [`EW`] lanes.
#[cfg(target_feature = "avx")]
type Ew = wide::f32x8;
#[cfg(not(target_feature = "avx"))]
type Ew = f32x4;

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

/// Rows per pass of [`matvec`] on hosts: eight rows' partial sums keep both
/// the multipliers and the adders of a host's vector unit busy. (A
/// Cortex-M4F's 32 single registers hold two rows', so it goes in pairs.)
/// The results are the same bits either way.
#[cfg(not(target_arch = "arm"))]
const MATVEC_ROWS: usize = 8;

/// The full blocks of [`EW`] rows of [`matvec`] for rows shorter than
/// [`LANES`] (W1's hidden layer has two inputs), one row per vector lane:
/// lane `r` runs row `r`'s plain running sum ([`row_dot`]) from zero, then
/// adds the bias, so every output has the bits of the scalar loop. Returns
/// what is left of `w`, `b` and `out`.
#[cfg(not(target_arch = "arm"))]
#[inline(always)]
fn narrow_blocks<'a, 'o>(
    w: &'a [f32],
    b: &'a [f32],
    x: &[f32],
    out: &'o mut [f32],
) -> (&'a [f32], &'a [f32], &'o mut [f32]) {
    let n = x.len();
    let blocks = w.chunks_exact(EW * n);
    let rest = blocks.remainder();
    let (bb, bl) = b.as_chunks::<EW>();
    let (ob, ol) = out.as_chunks_mut::<EW>();
    for ((rows, bias), o) in blocks.zip(bb).zip(ob.iter_mut()) {
        let mut s = Ew::ZERO;
        for (i, &xi) in x.iter().enumerate() {
            let column: [f32; EW] = core::array::from_fn(|r| rows[r * n + i]);
            s += Ew::from(column) * Ew::splat(xi);
        }
        *o = (Ew::from(*bias) + s).into();
    }
    (rest, bl, ol)
}

/// The full blocks of [`MATVEC_ROWS`] rows of [`matvec`]; returns what is
/// left of `w`, `b` and `out`.
#[cfg(not(target_arch = "arm"))]
#[inline(always)]
fn matvec_blocks<'a, 'o>(
    w: &'a [f32],
    b: &'a [f32],
    x: &[f32],
    out: &'o mut [f32],
) -> (&'a [f32], &'a [f32], &'o mut [f32]) {
    let n = x.len();
    let blocks = w.chunks_exact(MATVEC_ROWS * n);
    let rest = blocks.remainder();
    let (bb, bl) = b.as_chunks::<MATVEC_ROWS>();
    let (ob, ol) = out.as_chunks_mut::<MATVEC_ROWS>();
    for ((rows, bias), o) in blocks.zip(bb).zip(ob.iter_mut()) {
        let [d] = dot_pairs::<{ MATVEC_ROWS / 2 }, 1>(rows, &[x], n);
        *o = core::array::from_fn(|r| bias[r] + d[r / 2][r % 2]);
    }
    (rest, bl, ol)
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
/// `[outputs][inputs]` (PyTorch's `nn.Linear` layout). Rows go in blocks
/// (eight on hosts, then pairs) that share each load of `x`; every output
/// has the bits of its own [`dot`].
#[inline(always)]
pub fn matvec(w: &[f32], b: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len();
    if n < LANES {
        #[cfg(not(target_arch = "arm"))]
        let (w, b, out) = narrow_blocks(w, b, x, out);
        for ((row, &bias), o) in w.chunks_exact(n).zip(b).zip(out.iter_mut()) {
            *o = bias + row_dot(row, x);
        }
        return;
    }
    #[cfg(not(target_arch = "arm"))]
    let (w, b, out) = matvec_blocks(w, b, x, out);
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

/// Two rows' four-lane partial sums of [`dot`] side by side: one 256-bit
/// vector where the host has AVX, two 128-bit ones otherwise. The lanes and
/// their operations are the same either way, and so are the bits.
#[cfg(not(target_arch = "arm"))]
#[derive(Clone, Copy)]
struct Pair(
    #[cfg(target_feature = "avx")] wide::f32x8,
    #[cfg(not(target_feature = "avx"))] [f32x4; 2],
);

#[cfg(not(target_arch = "arm"))]
impl Pair {
    const ZERO: Self = Self::new([0.0; LANES], [0.0; LANES]);

    /// Lanes 0–3 from `a` (a chunk of the first row, or of an input), 4–7
    /// from `b` (the second row's, or the same input's again).
    #[inline(always)]
    const fn new(a: [f32; LANES], b: [f32; LANES]) -> Self {
        #[cfg(target_feature = "avx")]
        let p = Pair(wide::f32x8::new([
            a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3],
        ]));
        #[cfg(not(target_feature = "avx"))]
        let p = Pair([f32x4::new(a), f32x4::new(b)]);
        p
    }

    /// `self += w·x`, lane by lane, multiply then add (never fused).
    #[inline(always)]
    fn add_mul(&mut self, w: Pair, x: Pair) {
        #[cfg(target_feature = "avx")]
        {
            self.0 += w.0 * x.0;
        }
        #[cfg(not(target_feature = "avx"))]
        for ((a, w), x) in self.0.iter_mut().zip(w.0).zip(x.0) {
            *a += w * x;
        }
    }

    /// The two rows' partial sums.
    #[inline(always)]
    fn halves(self) -> [f32x4; 2] {
        #[cfg(target_feature = "avx")]
        let h = {
            let a = self.0.to_array();
            [
                f32x4::new([a[0], a[1], a[2], a[3]]),
                f32x4::new([a[4], a[5], a[6], a[7]]),
            ]
        };
        #[cfg(not(target_feature = "avx"))]
        let h = self.0;
        h
    }
}

/// A vector cut into [`LANES`]-wide chunks, and its tail.
#[cfg(not(target_arch = "arm"))]
type Chunked<'a> = (&'a [[f32; LANES]], &'a [f32]);

/// [`dot`] of `P` pairs of consecutive rows of `w` with each of `S` inputs:
/// every weight loaded once serves all `S` samples, and the rows give the
/// vector unit independent accumulation chains to overlap. `out[s][p][h]`
/// has exactly the bits of `dot(row 2p + h, xs[s])`. Every input must be `n`
/// long. ([`matvec`] uses it with one input, [`matvec_batch`] with several.)
#[cfg(not(target_arch = "arm"))]
#[inline(always)]
fn dot_pairs<const P: usize, const S: usize>(
    w: &[f32],
    xs: &[&[f32]; S],
    n: usize,
) -> [[[f32; 2]; P]; S] {
    let m = n / LANES;
    let row = |r: usize| {
        let (c, t) = w[r * n..(r + 1) * n].as_chunks::<LANES>();
        (&c[..m], t)
    };
    let rows: [[Chunked<'_>; 2]; P] = core::array::from_fn(|p| [row(2 * p), row(2 * p + 1)]);
    let inputs: [Chunked<'_>; S] = core::array::from_fn(|s| {
        let (c, t) = xs[s][..n].as_chunks::<LANES>();
        (&c[..m], t)
    });
    let mut acc = [[Pair::ZERO; P]; S];
    for k in 0..m {
        let mut wv = [Pair::ZERO; P];
        for (v, r) in wv.iter_mut().zip(&rows) {
            *v = Pair::new(r[0].0[k], r[1].0[k]);
        }
        for (a, x) in acc.iter_mut().zip(&inputs) {
            let xv = Pair::new(x.0[k], x.0[k]);
            for (a, &w) in a.iter_mut().zip(&wv) {
                a.add_mul(w, xv);
            }
        }
    }
    let mut out = [[[0.0f32; 2]; P]; S];
    for ((o, a), x) in out.iter_mut().zip(acc).zip(&inputs) {
        for ((o, a), r) in o.iter_mut().zip(a).zip(&rows) {
            for ((o, h), r) in o.iter_mut().zip(a.halves()).zip(r) {
                let mut tail = 0.0f32;
                for (wi, xi) in r.1.iter().zip(x.1) {
                    tail += wi * xi;
                }
                *o = reduce(h, tail);
            }
        }
    }
    out
}

/// [`matvec`] for `S` samples at once, `outs[s] = b + W·xs[s]`, with
/// exactly the bits of `S` separate calls. On hosts each pair of rows is
/// loaded once for all `S` samples, so a layer too large for L1 streams
/// from the next cache level `S` times less often.
#[inline(always)]
pub fn matvec_batch<const S: usize>(w: &[f32], b: &[f32], xs: [&[f32]; S], outs: [&mut [f32]; S]) {
    #[cfg(not(target_arch = "arm"))]
    {
        let n = xs.first().map_or(0, |x| x.len());
        if n >= LANES && xs.iter().all(|x| x.len() == n) {
            let mut outs = outs;
            let pairs = w.chunks_exact(2 * n);
            let last = pairs.remainder();
            let (bp, bl) = b.as_chunks::<2>();
            for (o, (rows, bias)) in pairs.zip(bp).enumerate() {
                let d = dot_pairs::<1, S>(rows, &xs, n);
                for (out, [d]) in outs.iter_mut().zip(d) {
                    if let Some(pair) = out.get_mut(2 * o..2 * o + 2) {
                        pair[0] = bias[0] + d[0];
                        pair[1] = bias[1] + d[1];
                    }
                }
            }
            if let Some(&bias) = bl.first() {
                let o = bp.len() * 2;
                for (out, x) in outs.iter_mut().zip(xs) {
                    if let Some(v) = out.get_mut(o) {
                        *v = bias + dot(last, x);
                    }
                }
            }
            return;
        }
    }
    for (out, x) in outs.into_iter().zip(xs) {
        matvec(w, b, x, out);
    }
}

/// Samples per call of [`matvec_lanes`]: one per lane of a vector.
pub const SAMPLE_LANES: usize = EW;

/// Rows per pass of [`matvec_lanes`]: their four partial sums each stay in
/// registers (AVX-512 has 32 of them, AVX 16).
#[cfg(all(not(target_arch = "arm"), target_feature = "avx512f"))]
const LANE_ROWS: usize = 4;
#[cfg(all(not(target_arch = "arm"), not(target_feature = "avx512f")))]
const LANE_ROWS: usize = 2;

/// [`matvec`] for [`SAMPLE_LANES`] samples at once, one per vector lane:
/// `outs[s] = b + W·xs[s]` with exactly the bits of separate calls.
///
/// The inputs are first turned on their side (vector `i` holds every
/// sample's input `i`), so that each weight, broadcast, meets all the
/// samples at once. Lane `s` then goes through the operations of [`dot`]
/// for sample `s`: four partial sums over the inputs `i ≡ k (mod 4)` in
/// order, combined as ((0 + 2) + (1 + 3)), then the tail in order, then the
/// bias. No sum crosses lanes, so nothing is reduced across a vector;
/// blocks of rows (four with AVX-512, else two) share each input vector.
/// Inputs shorter than four go through [`matvec`].
#[cfg(not(target_arch = "arm"))]
pub fn matvec_lanes<const I: usize>(
    w: &[f32],
    b: &[f32],
    xs: [&[f32; I]; SAMPLE_LANES],
    outs: [&mut [f32]; SAMPLE_LANES],
) {
    if I < LANES {
        for (x, out) in xs.into_iter().zip(outs) {
            matvec(w, b, x, out);
        }
        return;
    }
    let mut xt = [Ew::ZERO; I];
    for (i, v) in xt.iter_mut().enumerate() {
        *v = Ew::from(core::array::from_fn(|s| xs[s][i]));
    }
    let mut outs = outs;
    let mut put = |o: usize, bias: f32, d: Ew| {
        let v = (Ew::splat(bias) + d).to_array();
        for (out, v) in outs.iter_mut().zip(v) {
            if let Some(slot) = out.get_mut(o) {
                *slot = v;
            }
        }
    };
    let blocks = w.chunks_exact(LANE_ROWS * I);
    let rest = blocks.remainder();
    let (bb, bl) = b.as_chunks::<LANE_ROWS>();
    for (k, (rows, bias)) in blocks.zip(bb).enumerate() {
        let d = lane_dots::<I, LANE_ROWS>(rows, &xt);
        for (r, (d, &bias)) in d.into_iter().zip(bias).enumerate() {
            put(k * LANE_ROWS + r, bias, d);
        }
    }
    let first = bb.len() * LANE_ROWS;
    for (r, (row, &bias)) in rest.chunks_exact(I).zip(bl).enumerate() {
        let [d] = lane_dots::<I, 1>(row, &xt);
        put(first + r, bias, d);
    }
}

/// The [`dot`]s of `R` consecutive rows of `w` with every lane of `xt`.
#[cfg(not(target_arch = "arm"))]
#[inline(always)]
fn lane_dots<const I: usize, const R: usize>(w: &[f32], xt: &[Ew; I]) -> [Ew; R] {
    let rows: [&[f32]; R] = core::array::from_fn(|r| &w[r * I..(r + 1) * I]);
    let (xc, xtail) = xt.as_chunks::<LANES>();
    let mut acc = [[Ew::ZERO; LANES]; R];
    for (j, x) in xc.iter().enumerate() {
        for (a, row) in acc.iter_mut().zip(&rows) {
            let wc = &row[j * LANES..(j + 1) * LANES];
            for ((a, &wi), &xi) in a.iter_mut().zip(wc).zip(x) {
                *a += Ew::splat(wi) * xi;
            }
        }
    }
    let m = xc.len() * LANES;
    core::array::from_fn(|r| {
        let mut tail = Ew::ZERO;
        for (&wi, &xi) in rows[r][m..].iter().zip(xtail) {
            tail += Ew::splat(wi) * xi;
        }
        let a = acc[r];
        ((a[0] + a[2]) + (a[1] + a[3])) + tail
    })
}

/// `y[k] += a·x[k]` for every k (an axpy), eight lanes at a time with AVX, else four.
/// Element-wise, so its result does not depend on the vector width.
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let (cy, ty) = y.as_chunks_mut::<EW>();
    let (cx, tx) = x.as_chunks::<EW>();
    let av = Ew::splat(a);
    for (yc, xc) in cy.iter_mut().zip(cx) {
        *yc = (Ew::from(*yc) + av * Ew::from(*xc)).to_array();
    }
    for (yi, &xi) in ty.iter_mut().zip(tx) {
        *yi += a * xi;
    }
}

/// Two axpys sharing `x`: `y0 += a0·x`, `y1 += a1·x`, with `x` read once.
/// Element-wise: the same bits as two [`axpy`] calls.
#[inline(always)]
fn axpy2(y0: &mut [f32], a0: f32, y1: &mut [f32], a1: f32, x: &[f32]) {
    let (c0, t0) = y0.as_chunks_mut::<EW>();
    let (c1, t1) = y1.as_chunks_mut::<EW>();
    let (cx, tx) = x.as_chunks::<EW>();
    let (v0, v1) = (Ew::splat(a0), Ew::splat(a1));
    for ((y0, y1), xc) in c0.iter_mut().zip(c1.iter_mut()).zip(cx) {
        let xv = Ew::from(*xc);
        *y0 = (Ew::from(*y0) + v0 * xv).to_array();
        *y1 = (Ew::from(*y1) + v1 * xv).to_array();
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
    let (cy, ty) = y.as_chunks_mut::<EW>();
    let (c0, t0) = x0.as_chunks::<EW>();
    let (c1, t1) = x1.as_chunks::<EW>();
    let (v0, v1) = (Ew::splat(a0), Ew::splat(a1));
    for ((yc, x0), x1) in cy.iter_mut().zip(c0).zip(c1) {
        let t = Ew::from(*yc) + v0 * Ew::from(*x0);
        *yc = (t + v1 * Ew::from(*x1)).to_array();
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

/// Rows at least this long skip their update when their delta is zero
/// ([`outer_acc`], [`outer_sub`], [`outer_sum`]); shorter rows are cheaper
/// to update than to test.
pub const SKIP_ZERO_ROWS_FROM: usize = 16;

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

/// Terms per block of [`outer_sum`]: one bit each in a row's mask.
const TERMS_PER_BLOCK: usize = 64;

/// Rows whose masks one pass of [`outer_sum`] holds (on the stack).
const MASK_ROWS: usize = 64;

/// The set bits of `m`, lowest first.
#[inline(always)]
fn set_bits(mut m: u64) -> impl Iterator<Item = usize> + Clone {
    core::iter::from_fn(move || {
        let s = m.trailing_zeros() as usize;
        m &= m.wrapping_sub(1);
        (s < 64).then_some(s)
    })
}

/// The weight and bias gradients of a block of rows over a whole batch:
/// row `r` of `gw` (`gw.len() / gb.len()` inputs wide) becomes
/// `Σₛ δₛ[first + r]·xₛ` and `gb[r]` becomes `Σₛ δₛ[first + r]`, summed from
/// zero over `terms = [(δₛ, xₛ), ...]` in order. These are exactly the bits
/// of zeroing both and calling [`outer_acc`] with each sample's
/// `δₛ[first..]` in turn, skipping the same zero deltas, but each tile of a
/// row stays in registers for the whole batch instead of going through
/// memory once per sample.
///
/// Which terms a row skips is a bit mask per row, made for up to 64 rows
/// and 64 terms at a time from the deltas as they lie (sample after
/// sample); a row then walks the set bits of its mask, with no branch on
/// the (unpredictable) zeros. Terms whose `δ` is too short or whose `x` is
/// not one row wide are ignored, as a zip would.
pub fn outer_sum(gw: &mut [f32], gb: &mut [f32], first: usize, terms: &[(&[f32], &[f32])]) {
    let rows = gb.len();
    let Some(n) = gw.len().checked_div(rows) else {
        return;
    };
    let fits = |&(delta, x): &(&[f32], &[f32])| x.len() == n && delta.len() >= first + rows;
    gb.fill(0.0);
    if n == 0 || terms.is_empty() || !terms.iter().all(fits) {
        // The plain way, one sample after another (what this is defined as).
        gw.fill(0.0);
        for &(delta, x) in terms.iter().filter(|t| fits(t)) {
            outer_acc(gw, gb, &delta[first..first + rows], x);
        }
        return;
    }
    // Every delta, zero or not: a sum that starts at +0 is unchanged by ±0.
    for &(delta, _) in terms {
        for (b, &d) in gb.iter_mut().zip(&delta[first..]) {
            *b += d;
        }
    }
    let skip = n >= SKIP_ZERO_ROWS_FROM;
    let mut masks = [0u64; MASK_ROWS];
    for (g, group) in gw.chunks_mut(MASK_ROWS * n).enumerate() {
        let r0 = first + g * MASK_ROWS;
        let masks = &mut masks[..group.len() / n];
        for (k, block) in terms.chunks(TERMS_PER_BLOCK).enumerate() {
            if skip {
                masks.fill(0);
                for (s, &(delta, _)) in block.iter().enumerate() {
                    for (m, &d) in masks.iter_mut().zip(&delta[r0..]) {
                        *m |= u64::from(d != 0.0) << s;
                    }
                }
            } else {
                masks.fill(u64::MAX >> (TERMS_PER_BLOCK - block.len()));
            }
            for (r, (row, &m)) in group.chunks_exact_mut(n).zip(masks.iter()).enumerate() {
                let list = set_bits(m).map(|s| (block[s].0[r0 + r], block[s].1));
                sum_into(row, list, k == 0);
            }
        }
    }
}

/// `row[i] = (fresh ? 0 : row[i]) + Σ d·x[i]` over `list` in order, a tile
/// of the row at a time held in registers: eight vectors of [`EW`] lanes,
/// then what is left in tiles of four, two and one, then lane by lane.
#[inline]
fn sum_into<'a>(
    row: &mut [f32],
    list: impl Iterator<Item = (f32, &'a [f32])> + Clone,
    fresh: bool,
) {
    let n = row.len();
    let mut c = 0;
    while c + 8 * EW <= n {
        sum_tile::<8>(&mut row[c..c + 8 * EW], c, list.clone(), fresh);
        c += 8 * EW;
    }
    if c + 4 * EW <= n {
        sum_tile::<4>(&mut row[c..c + 4 * EW], c, list.clone(), fresh);
        c += 4 * EW;
    }
    if c + 2 * EW <= n {
        sum_tile::<2>(&mut row[c..c + 2 * EW], c, list.clone(), fresh);
        c += 2 * EW;
    }
    if c + EW <= n {
        sum_tile::<1>(&mut row[c..c + EW], c, list.clone(), fresh);
        c += EW;
    }
    for (i, g) in row.iter_mut().enumerate().skip(c) {
        let mut a = if fresh { 0.0 } else { *g };
        for (d, x) in list.clone() {
            a += d * x[i];
        }
        *g = a;
    }
}

/// [`sum_into`] for the `T` vectors of `tile`, which starts at column `c`.
#[inline(always)]
fn sum_tile<'a, const T: usize>(
    tile: &mut [f32],
    c: usize,
    list: impl Iterator<Item = (f32, &'a [f32])>,
    fresh: bool,
) {
    let (out, _) = tile.as_chunks_mut::<EW>();
    let mut acc = [Ew::ZERO; T];
    if !fresh {
        for (a, o) in acc.iter_mut().zip(out.iter()) {
            *a = Ew::from(*o);
        }
    }
    for (d, x) in list {
        let dv = Ew::splat(d);
        let (xs, _) = x[c..c + T * EW].as_chunks::<EW>();
        for (a, xc) in acc.iter_mut().zip(xs) {
            *a += dv * Ew::from(*xc);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = a.to_array();
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
    #[inline(always)]
    pub fn direction(&self, g: &mut [f32], w: &[f32], v: Option<&[f32]>) -> bool {
        // Element-wise arithmetic and a branch-free check (`Finite`).
        let mut check = Finite::ALL;
        match v {
            Some(v) => {
                for ((g, &w), &v) in g.iter_mut().zip(w).zip(v) {
                    let u = self.momentum * v + (*g * self.scale + self.decay * w);
                    *g = u;
                    check = check.and(w - self.lr * u);
                }
            }
            None => {
                for (g, &w) in g.iter_mut().zip(w) {
                    let u = *g * self.scale + self.decay * w;
                    *g = u;
                    check = check.and(w - self.lr * u);
                }
            }
        }
        // A non-finite u makes w − lr·u non-finite too, whatever lr (0·∞ is NaN).
        check.all()
    }

    /// [`Update::direction`] and [`Update::commit`] in one pass, into other
    /// buffers: from the gradient `g`, the weights `w` and, with momentum,
    /// the velocity, `velocity = (v, v_new)`, writes the new weights
    /// `w − lr·u` into `w_new` and u into `v_new`; `g`, `w` and `v` stay as
    /// they were. Returns whether u and every new weight are finite. The bits
    /// are those of the two passes; this is for a trainer that double-buffers
    /// its weights, so that a step it does not commit needs nothing undone.
    #[inline]
    pub fn step_into(
        &self,
        g: &[f32],
        w: &[f32],
        velocity: Option<(&[f32], &mut [f32])>,
        w_new: &mut [f32],
    ) -> bool {
        let mut check = Finite::ALL;
        let neg_lr = -self.lr;
        match velocity {
            Some((v, v_new)) => {
                let old = g.iter().zip(w).zip(v);
                for (((&g, &w), &v), (w_new, v_new)) in old.zip(w_new.iter_mut().zip(v_new)) {
                    let u = self.momentum * v + (g * self.scale + self.decay * w);
                    // w + (−lr)·u rounds exactly as w − lr·u.
                    *w_new = w + neg_lr * u;
                    *v_new = u;
                    check = check.and(*w_new);
                }
            }
            None => {
                for ((&g, &w), w_new) in g.iter().zip(w).zip(w_new.iter_mut()) {
                    let u = g * self.scale + self.decay * w;
                    *w_new = w + neg_lr * u;
                    check = check.and(*w_new);
                }
            }
        }
        // A non-finite u makes its new weight non-finite too.
        check.all()
    }

    /// Commits a direction from [`Update::direction`]: `w −= lr·u` and, with
    /// momentum, `v = u`.
    #[inline(always)]
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
/// times `inv`, and Σ g² summed per row from zero ([`scale_sum_sq`]), the row
/// sums then added in row order. Rows are independent, so threads can
/// compute disjoint rows' sums and add them in order for the same bits.
#[inline]
pub fn mean_sq_rows(w: &mut [f32], inputs: usize, inv: f32) -> f32 {
    let mut acc = 0.0f32;
    for row in w.chunks_exact_mut(inputs.max(1)) {
        acc += scale_sum_sq(row, inv);
    }
    acc
}

/// `v[k] *= s` for every k, then Σ v² in the order of [`dot`]: four
/// interleaved partial sums, combined ((0 + 2) + (1 + 3)), then the tail.
#[inline]
pub fn scale_sum_sq(v: &mut [f32], s: f32) -> f32 {
    let (cv, tv) = v.as_chunks_mut::<LANES>();
    let mut acc = [0.0f32; LANES];
    for c in cv.iter_mut() {
        for (a, x) in acc.iter_mut().zip(c.iter_mut()) {
            *x *= s;
            *a += *x * *x;
        }
    }
    let mut tail = 0.0f32;
    for x in tv.iter_mut() {
        *x *= s;
        tail += *x * *x;
    }
    ((acc[0] + acc[2]) + (acc[1] + acc[3])) + tail
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

/// 1 if `x` is NaN or infinite (all exponent bits set), else 0.
#[cfg(not(target_abi = "eabihf"))]
#[inline(always)]
fn non_finite(x: f32) -> u32 {
    const EXP: u32 = 0x7f80_0000;
    ((x.to_bits() & EXP) == EXP) as u32
}

/// True when every element is finite.
#[inline]
pub fn all_finite(v: &[f32]) -> bool {
    v.iter().fold(Finite::ALL, |acc, &x| acc.and(x)).all()
}

/// A branch-free running check that numbers are finite, in the form each
/// target does best. With a hardware FPU (the `eabihf` Cortex-M targets) a
/// sum of x·0, which is NaN iff some x is NaN or infinite: two FPU
/// instructions per number. Elsewhere an integer OR of "all exponent bits
/// set": no float arithmetic (cheap with soft floats), and it vectorises on
/// hosts, where a chain of float additions would not.
#[derive(Clone, Copy)]
struct Finite(
    #[cfg(target_abi = "eabihf")] f32,
    #[cfg(not(target_abi = "eabihf"))] u32,
);

impl Finite {
    #[cfg(target_abi = "eabihf")]
    const ALL: Self = Finite(0.0);
    #[cfg(not(target_abi = "eabihf"))]
    const ALL: Self = Finite(0);

    /// The check so far, and `x`.
    #[inline(always)]
    fn and(self, x: f32) -> Self {
        #[cfg(target_abi = "eabihf")]
        let acc = Finite(self.0 + x * 0.0);
        #[cfg(not(target_abi = "eabihf"))]
        let acc = Finite(self.0 | non_finite(x));
        acc
    }

    /// Whether every number so far was finite.
    #[inline(always)]
    fn all(self) -> bool {
        #[cfg(target_abi = "eabihf")]
        let all = self.0 == 0.0;
        #[cfg(not(target_abi = "eabihf"))]
        let all = self.0 == 0;
        all
    }
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
    fn matvec_rows_have_the_bits_of_their_own_dot() {
        // Every block size and remainder: full blocks of MATVEC_ROWS (or, for
        // rows shorter than LANES, of one row per lane), pairs, a last row.
        let x: [f32; 37] = core::array::from_fn(|i| (i as f32 * 0.731).sin() * 3.0);
        let w: [f32; 37 * 19] = core::array::from_fn(|k| (k as f32 * 0.173).cos() / 7.0);
        let b: [f32; 19] = core::array::from_fn(|k| k as f32 * 0.01 - 0.05);
        // Zeros of both signs in the inputs and the biases: a lane that
        // added them in another order, or skipped the sum's start from +0,
        // would give the other sign.
        let mut zx = x;
        zx[..3].copy_from_slice(&[-0.0, 0.0, -0.0]);
        let zb: [f32; 19] = core::array::from_fn(|k| if k % 2 == 0 { -0.0 } else { 0.0 });
        for (x, b) in [(&x, &b), (&zx, &zb)] {
            for n in [1usize, 2, 3, 4, 5, 8, 13, 36, 37] {
                for rows in 0..=19 {
                    let mut out = [f32::NAN; 19];
                    matvec(&w[..rows * n], &b[..rows], &x[..n], &mut out[..rows]);
                    for o in 0..rows {
                        let e = b[o] + dot(&w[o * n..(o + 1) * n], &x[..n]);
                        assert_eq!(out[o].to_bits(), e.to_bits(), "n={n} rows={rows} o={o}");
                    }
                }
            }
        }
    }

    /// [`matvec_lanes`] with `I` inputs against [`matvec`], for 0 to 9 rows
    /// (full blocks of rows and the rest). The inputs mix signs and
    /// magnitudes, and sample 1 has zeros of both signs, so that every
    /// lane's sums round, and their signs of zero come out, as its own.
    #[cfg(not(target_arch = "arm"))]
    fn lanes_match<const I: usize>() {
        let x: [[f32; I]; SAMPLE_LANES] = core::array::from_fn(|s| {
            core::array::from_fn(|i| match s {
                1 if i % 2 == 0 => -0.0,
                1 => 0.0,
                _ => ((s * I + i) as f32 * 0.731).sin() * 10f32.powi((i % 5) as i32 - 2),
            })
        });
        let w: [f32; 9 * 64] = core::array::from_fn(|k| (k as f32 * 0.173).cos() / 7.0);
        let b: [f32; 9] = core::array::from_fn(|k| k as f32 * 0.01 - 0.05);
        for rows in 0..=9 {
            let w = &w[..rows * I];
            let mut one = [[f32::NAN; 9]; SAMPLE_LANES];
            for (x, o) in x.iter().zip(&mut one) {
                matvec(w, &b[..rows], x, &mut o[..rows]);
            }
            let mut many = [[f32::NAN; 9]; SAMPLE_LANES];
            let outs = many.each_mut().map(|o| &mut o[..rows]);
            matvec_lanes(w, &b[..rows], x.each_ref(), outs);
            assert_same_outputs(&many, &one, rows, &format!("I={I}"));
        }
    }

    /// The first `rows` outputs of every sample agree to the bit.
    fn assert_same_outputs(got: &[[f32; 9]], want: &[[f32; 9]], rows: usize, case: &str) {
        for (s, (g, w)) in got.iter().zip(want).enumerate() {
            for o in 0..rows {
                assert_eq!(
                    g[o].to_bits(),
                    w[o].to_bits(),
                    "{case} rows={rows} s={s} o={o}"
                );
            }
        }
    }

    #[test]
    #[cfg(not(target_arch = "arm"))]
    fn matvec_lanes_has_the_bits_of_single_matvecs() {
        lanes_match::<1>();
        lanes_match::<3>();
        lanes_match::<4>();
        lanes_match::<5>();
        lanes_match::<8>();
        lanes_match::<13>();
        lanes_match::<37>();
        lanes_match::<64>();
    }

    #[test]
    fn matvec_batch_has_the_bits_of_single_matvecs() {
        let x: [[f32; 37]; 3] = core::array::from_fn(|s| {
            core::array::from_fn(|i| ((s * 37 + i) as f32 * 0.731).sin() * 3.0)
        });
        let w: [f32; 37 * 9] = core::array::from_fn(|k| (k as f32 * 0.173).cos() / 7.0);
        let b: [f32; 9] = core::array::from_fn(|k| k as f32 * 0.01 - 0.05);
        for n in [2usize, 4, 5, 8, 13, 36, 37] {
            for rows in 0..=9 {
                let mut one = [[f32::NAN; 9]; 3];
                for s in 0..3 {
                    matvec(&w[..rows * n], &b[..rows], &x[s][..n], &mut one[s][..rows]);
                }
                let mut many = [[f32::NAN; 9]; 3];
                let [m0, m1, m2] = &mut many;
                let xs = [&x[0][..n], &x[1][..n], &x[2][..n]];
                matvec_batch(
                    &w[..rows * n],
                    &b[..rows],
                    xs,
                    [&mut m0[..rows], &mut m1[..rows], &mut m2[..rows]],
                );
                assert_same_outputs(&many, &one, rows, &format!("n={n}"));
            }
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
    fn direction_is_elementwise_and_flags_any_non_finite_element() {
        let rule = Update {
            scale: 0.5,
            decay: 1e-3,
            momentum: 0.9,
            lr: 0.1,
        };
        let w: [f32; 11] = core::array::from_fn(|k| (k as f32 * 0.37).sin());
        let v: [f32; 11] = core::array::from_fn(|k| (k as f32 * 0.91).cos());
        let g0: [f32; 11] = core::array::from_fn(|k| k as f32 - 5.0);
        for vel in [None, Some(&v[..])] {
            let mut g = g0;
            assert!(rule.direction(&mut g, &w, vel));
            for k in 0..11 {
                let m = vel.map_or(0.0, |v| rule.momentum * v[k]);
                let plain = g0[k] * rule.scale + rule.decay * w[k];
                let e = if vel.is_some() { m + plain } else { plain };
                assert_eq!(g[k].to_bits(), e.to_bits(), "k={k}");
            }
            // A non-finite gradient is caught wherever it is.
            for bad in [0usize, 5, 8, 10] {
                for x in [f32::NAN, f32::INFINITY] {
                    let mut g = g0;
                    g[bad] = x;
                    assert!(!rule.direction(&mut g, &w, vel), "bad={bad}");
                }
            }
            // So is an update that overflows the new weight.
            let mut g = g0;
            g[9] = 3e38;
            let big = [-3.3e38f32; 11];
            assert!(!rule.direction(&mut g, &big, vel));
        }
    }

    #[test]
    fn step_into_has_the_bits_of_direction_then_commit() {
        let rule = Update {
            scale: 0.75,
            decay: 1e-3,
            momentum: 0.9,
            lr: 0.05,
        };
        let w: [f32; 13] = core::array::from_fn(|k| (k as f32 * 0.37).sin());
        let v: [f32; 13] = core::array::from_fn(|k| (k as f32 * 0.91).cos());
        let g: [f32; 13] = core::array::from_fn(|k| (k as f32 - 6.0) * 0.3);
        for momentum in [false, true] {
            for bad in [None, Some(f32::NAN), Some(f32::INFINITY)] {
                let mut g = g;
                if let Some(x) = bad {
                    g[11] = x;
                }
                // Two passes, in place.
                let (mut u, mut w2, mut v2) = (g, w, v);
                let ok2 = rule.direction(&mut u, &w, momentum.then_some(&v[..]));
                rule.commit(&mut w2, &u, momentum.then_some(&mut v2[..]));
                // One pass, into other buffers.
                let (mut w1, mut v1) = ([7.0f32; 13], [7.0f32; 13]);
                let ok1 = rule.step_into(&g, &w, momentum.then(|| (&v[..], &mut v1[..])), &mut w1);
                assert_eq!(ok1, ok2);
                assert_eq!(ok1, bad.is_none());
                assert_eq!(w1.map(f32::to_bits), w2.map(f32::to_bits));
                if momentum {
                    assert_eq!(v1.map(f32::to_bits), v2.map(f32::to_bits));
                }
            }
        }
    }

    #[test]
    fn scale_sum_sq_sums_like_dot() {
        for n in [0usize, 3, 4, 9, 16, 23] {
            let v: [f32; 23] = core::array::from_fn(|k| (k as f32 * 0.57).sin());
            let mut a = v;
            let s = scale_sum_sq(&mut a[..n], 0.25);
            let scaled: [f32; 23] = core::array::from_fn(|k| v[k] * 0.25);
            assert_eq!(&a[..n], &scaled[..n]);
            assert_eq!(
                s.to_bits(),
                dot(&scaled[..n], &scaled[..n]).to_bits(),
                "n={n}"
            );
        }
    }

    #[test]
    fn outer_sum_has_the_bits_of_outer_acc_sample_after_sample() {
        const W: usize = 127;
        const R: usize = 67;
        // Widths that take every tile size (8, 4, 2 and 1 vectors) and a
        // lane-by-lane tail, with four lanes and with eight; batches of one
        // block of terms and of two; rows in one group of masks and in two.
        let mut xs = [[0.0f32; W]; 70];
        let mut ds = [[0.0f32; R + 2]; 70];
        for (s, (x, d)) in xs.iter_mut().zip(&mut ds).enumerate() {
            for (i, v) in x.iter_mut().enumerate() {
                *v = ((s * W + i) as f32 * 0.61).sin() * 1e3;
            }
            // Zero deltas (skipped on wide rows), a NaN delta and tiny ones.
            for (o, v) in d.iter_mut().enumerate() {
                *v = match (s + o) % 4 {
                    0 if s % 2 == 0 => 0.0,
                    0 => -0.0,
                    _ if s == 5 && o == 3 => f32::NAN,
                    k => ((s * 8 + o) as f32 * 0.29).cos() * 10f32.powi(-(k as i32) * 10),
                };
            }
        }
        let first = 2;
        for batch in [0usize, 1, 9, 64, 70] {
            for n in [3usize, 9, 16, 37, 70, 100, 127] {
                for rows in [1usize, 4, R] {
                    let terms: [(&[f32], &[f32]); 70] =
                        core::array::from_fn(|s| (&ds[s][..], &xs[s][..n]));
                    let terms = &terms[..batch];
                    let mut gw = [0.0f32; R * W];
                    let mut gb = [0.0f32; R];
                    for &(d, x) in terms {
                        outer_acc(
                            &mut gw[..rows * n],
                            &mut gb[..rows],
                            &d[first..first + rows],
                            x,
                        );
                    }
                    let mut sw = [7.0f32; R * W];
                    let mut sb = [7.0f32; R];
                    outer_sum(&mut sw[..rows * n], &mut sb[..rows], first, terms);
                    for k in 0..rows * n {
                        assert_eq!(
                            sw[k].to_bits(),
                            gw[k].to_bits(),
                            "batch={batch} n={n} rows={rows} k={k}"
                        );
                    }
                    for r in 0..rows {
                        assert_eq!(sb[r].to_bits(), gb[r].to_bits(), "bias {r}");
                    }
                }
            }
        }
    }

    #[test]
    fn finiteness() {
        assert!(all_finite(&[0.0, 1.0, -3e38]));
        assert!(!all_finite(&[0.0, f32::NAN]));
        assert!(!all_finite(&[f32::INFINITY, 0.0]));
        assert!(!all_finite(&[f32::NEG_INFINITY]));
    }
}
