//! The packed-triangle CPU kernel: `symmetric`, `skew`, `upper_triangular`, `lower_triangular`
//! and their transposes (N×N, a triangle `U` stored row by row, [`Packing`]: `W[i, j]` is
//! `above·U[i, j]` above the diagonal, `below·U[j, i]` below it), used in square blocks, never as
//! a whole N×N matrix.
//!
//! `W` is cut into `bs`×`bs` blocks; only the upper blocks `U_IJ` (`I ≤ J`) are ever written out,
//! each row of one being a contiguous run of the stored values (times its sign), into a small
//! buffer that stays in cache; the lower block `W_JI` is `below·U_IJᵀ`, which the multiply reads
//! through transposed strides. A block whose sign is 0 (a triangular weight's other half) is
//! skipped: half the multiply-adds of a dense layer.
//!
//! - forward `y = x·W`: task `(rows, J)` sums `x[rows, I]·W_IJ` over `I` into `y[rows, J]`;
//! - input gradient `dx += dy·Wᵀ`: the forward of the transposed packing (signs swapped), with
//!   `dy` for `x`;
//! - stored values' gradient: `dW = xᵀ·dy`, an upper block at a time (`above·x_Iᵀ·dy_J +
//!   below·(x_Jᵀ·dy_I)ᵀ` off the diagonal, both entries of a pair going to one stored value),
//!   added into the stored values' rows `I`, which task `I` alone writes.
//!
//! So a symmetric or skew step makes the same multiply-adds as a dense layer and a triangular one
//! half, and each holds one block per thread; the block buffers are kept per thread and reused
//! (`with_scratch`), so a warm step allocates nothing here (what dfdx's cache saves for a dense
//! layer's buffers).

use core::any::Any;
use core::cell::RefCell;
use std::thread::LocalKey;

use rayon::prelude::*;
use tied_patterns::{Packing, Sign};

use crate::matmul::{
    cols_of, matmul_raw, matmul_raw_scaled, matmul_scaled_into, rows_of, Mat, Par,
};
use crate::util::{add_bias, add_bias_grad, axpy};
use crate::{Backward, Forward, KernelDtype, LinearKernel};

/// `y = x·W (+ b)` for a packed-triangle `W` of side `n`: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymmetricBlocks {
    n: usize,
    block: usize,
    packing: Packing,
}

/// The block side: a `bs`×`bs` f32 block is 64 KiB, inside a core's L2 with the multiply's packing.
pub const SYMMETRIC_BLOCK: usize = 128;

/// Rows of the input per task when there are too few column blocks to keep every thread busy.
const MIN_TASK_ROWS: usize = 32;

/// `sign` as a value: 1, −1 or 0.
fn value<E: KernelDtype>(sign: Sign) -> E {
    match sign {
        Sign::Plus => E::one(),
        Sign::Minus => -E::one(),
        Sign::Zero => E::zero(),
    }
}

impl SymmetricBlocks {
    /// The kernel for a symmetric `n`×`n` weight, in blocks of [`SYMMETRIC_BLOCK`].
    pub fn new(n: usize) -> Self {
        Self::packed(n, Packing::SYMMETRIC)
    }

    /// The kernel for an `n`×`n` weight packed as `packing` (skew, triangular, transposed).
    pub fn packed(n: usize, packing: Packing) -> Self {
        Self {
            n,
            block: SYMMETRIC_BLOCK,
            packing,
        }
    }

    /// The kernel of `Wᵀ` on the same stored values.
    pub fn transposed(self) -> Self {
        Self {
            packing: self.packing.transposed(),
            ..self
        }
    }

    /// Blocks of side `block` (at least 1) instead.
    pub fn with_block(self, block: usize) -> Self {
        Self {
            block: block.max(1),
            ..self
        }
    }

    /// The side of `W`.
    pub fn side(&self) -> usize {
        self.n
    }

    /// The number of stored values, `n(n + 1)/2` (`n(n − 1)/2` without the diagonal).
    pub fn stored_len(&self) -> usize {
        self.packing.stored_len(self.n).unwrap_or(usize::MAX)
    }

    /// Where row `a` of the stored triangle starts in the stored values.
    #[inline]
    fn row_start(&self, a: usize) -> usize {
        self.packing.row_start(a, self.n)
    }

    /// The blocks along one side: `(first, len)`.
    fn blocks(&self) -> Vec<(usize, usize)> {
        (0..self.n)
            .step_by(self.block)
            .map(|a| (a, self.block.min(self.n - a)))
            .collect()
    }

    /// Writes `sign·U[rows, cols]` (row-major, `cols.1` values per row) into `buf`, for block
    /// rows `rows` strictly above the block columns `cols` (`rows.0 < cols.0`).
    fn upper_block<E: KernelDtype>(
        &self,
        v: &[E],
        (r0, rl): (usize, usize),
        (c0, cl): (usize, usize),
        sign: Sign,
        buf: &mut [E],
    ) {
        debug_assert!(r0 < c0);
        // Every entry is above the diagonal: row `a` is a run of `cl` stored values.
        for (a, row) in (r0..r0 + rl).zip(buf.chunks_exact_mut(cl)) {
            let start = self.packing.at(a, c0, self.n);
            let run = &v[start..start + cl];
            match sign {
                Sign::Minus => {
                    for (w, &u) in row.iter_mut().zip(run) {
                        *w = -u;
                    }
                }
                _ => row.copy_from_slice(run),
            }
        }
    }

    /// Writes the diagonal block `W[rows, rows]` (row-major, `rl`×`rl`) into `buf`: `U` above
    /// the diagonal times its sign, the diagonal (or 0), `U` mirrored times the other sign below.
    fn diagonal_block<E: KernelDtype>(&self, v: &[E], (r0, rl): (usize, usize), buf: &mut [E]) {
        let p = self.packing;
        for r in 0..rl {
            let a = r0 + r;
            let row = &mut buf[r * rl..(r + 1) * rl];
            if p.diagonal {
                let start = p.at(a, a, self.n);
                row[r..].copy_from_slice(&v[start..start + rl - r]);
            } else {
                row[r] = E::zero();
                if r + 1 < rl {
                    let start = p.at(a, a + 1, self.n);
                    row[r + 1..].copy_from_slice(&v[start..start + rl - r - 1]);
                }
            }
        }
        let (above, below) = (value::<E>(p.above), value::<E>(p.below));
        for r in 1..rl {
            for c in 0..r {
                buf[r * rl + c] = below * buf[c * rl + r];
            }
        }
        if p.above != Sign::Plus {
            for r in 0..rl {
                for c in r + 1..rl {
                    buf[r * rl + c] = above * buf[r * rl + c];
                }
            }
        }
    }

    /// `out (+)= inp·W` for the rows of `inp` (`n` values each; `out` likewise): `+=` when
    /// `accumulate`. The forward, and (on the transposed kernel, with `dy` for `inp`) the input's
    /// gradient.
    pub fn multiply<E: KernelDtype>(&self, v: &[E], inp: &[E], out: &mut [E], accumulate: bool) {
        let n = self.n;
        assert_eq!(v.len(), self.stored_len(), "packed triangle: stored values");
        assert_eq!(inp.len(), out.len(), "packed triangle: output rows");
        if n == 0 || inp.is_empty() {
            return;
        }
        let m = inp.len() / n;
        assert_eq!(inp.len(), m * n, "packed triangle: input rows");
        let blocks = self.blocks();
        let threads = rayon::current_num_threads();
        // Enough tasks for every thread: the column blocks, split by rows when they are few.
        let row_parts = (4 * threads)
            .div_ceil(blocks.len())
            .min(m.div_ceil(MIN_TASK_ROWS))
            .max(1);
        let per_part = m.div_ceil(row_parts);
        let mut tasks: Vec<((usize, usize), (usize, usize))> = (0..m)
            .step_by(per_part)
            .flat_map(|r| blocks.iter().map(move |&j| ((r, per_part.min(m - r)), j)))
            .collect();
        if self.packing.below == Sign::Zero {
            // An upper triangle's last column blocks are its longest panels: start with them,
            // so that the short ones fill in at the end.
            tasks.reverse();
        }
        let out_at = OutPtr(out.as_mut_ptr(), out.len());
        let (above, below) = (self.packing.above, self.packing.below);
        let task = |&((r0, rows), (c0, cl)): &((usize, usize), (usize, usize)), par: Par| {
            if above == Sign::Zero || below == Sign::Zero {
                return self.triangular_task(v, inp, out_at, accumulate, (r0, rows), (c0, cl), par);
            }
            with_scratch::<E, _>(self.block * self.block, |buf| {
                // The diagonal block is always multiplied, so every task writes its rectangle.
                let mut first = true;
                for &(i0, il) in &blocks {
                    let rhs = if i0 == c0 {
                        self.diagonal_block(v, (i0, il), &mut buf[..il * cl]);
                        rows_of(&buf[..il * cl], cl)
                    } else if i0 < c0 {
                        self.upper_block(v, (i0, il), (c0, cl), above, &mut buf[..il * cl]);
                        rows_of(&buf[..il * cl], cl)
                    } else {
                        // W_IJ = below·U_JIᵀ: U_JI is cl×il row-major, read by columns.
                        self.upper_block(v, (c0, cl), (i0, il), below, &mut buf[..il * cl]);
                        cols_of(&buf[..il * cl], il)
                    };
                    let lhs = rows_of(&inp[r0 * n + i0..], n);
                    let dst = out_at.rows_from(r0 * n + c0, n);
                    // SAFETY: `out` is borrowed mutably for the whole parallel section, and each
                    // task writes its own rectangle `out[r0..r0 + rows, c0..c0 + cl]`.
                    unsafe { matmul_raw(dst, (rows, cl, il), lhs, rhs, accumulate || !first, par) };
                    first = false;
                }
            })
        };
        if tasks.len() == 1 {
            task(&tasks[0], Par::rayon(threads));
        } else {
            tasks.par_iter().for_each(|t| task(t, Par::Seq));
        }
    }

    /// One task of [`SymmetricBlocks::multiply`] for a triangular packing (one sign 0): the
    /// nonzero side of column block `J` as one panel (all its rows above the diagonal block, or
    /// all below it), then the diagonal block: two products instead of one per block, each as
    /// large as the triangle allows (at N = 4096, B = 64 the per-block products ran at a third
    /// of the dense product's rate). The panel is up to `n`×`bs` values per thread.
    #[allow(clippy::too_many_arguments)]
    fn triangular_task<E: KernelDtype>(
        &self,
        v: &[E],
        inp: &[E],
        out_at: OutPtr<E>,
        accumulate: bool,
        (r0, rows): (usize, usize),
        (c0, cl): (usize, usize),
        par: Par,
    ) {
        let (n, p) = (self.n, self.packing);
        let below0 = c0 + cl;
        with_scratch::<E, _>(n.max(cl) * cl, |buf| {
            let dst = || out_at.rows_from(r0 * n + c0, n);
            // The diagonal block first: it always runs, so it decides `=` or `+=`.
            self.diagonal_block(v, (c0, cl), &mut buf[..cl * cl]);
            let lhs = rows_of(&inp[r0 * n + c0..], n);
            let rhs = rows_of(&buf[..cl * cl], cl);
            // SAFETY: as in `multiply`: this task's rectangle of `out` is its own.
            unsafe { matmul_raw(dst(), (rows, cl, cl), lhs, rhs, accumulate, par) };
            if p.above != Sign::Zero && c0 > 0 {
                // W[0..c0, J] = U[0..c0, J]: row `a` a run of `cl` stored values.
                let panel = &mut buf[..c0 * cl];
                for (a, row) in panel.chunks_exact_mut(cl).enumerate() {
                    let start = p.at(a, c0, n);
                    row.copy_from_slice(&v[start..start + cl]);
                }
                let lhs = rows_of(&inp[r0 * n..], n);
                let s = value::<E>(p.above);
                let rhs = rows_of(&buf[..c0 * cl], cl);
                // SAFETY: as above.
                unsafe { matmul_raw_scaled(dst(), (rows, cl, c0), lhs, rhs, true, s, par) };
            }
            if p.below != Sign::Zero && below0 < n {
                // W[below0.., J] = U[J, below0..]ᵀ: row `a` of U a run of `n − below0` values.
                let rest = n - below0;
                let panel = &mut buf[..cl * rest];
                for (r, row) in panel.chunks_exact_mut(rest).enumerate() {
                    let start = p.at(c0 + r, below0, n);
                    row.copy_from_slice(&v[start..start + rest]);
                }
                let lhs = rows_of(&inp[r0 * n + below0..], n);
                let s = value::<E>(p.below);
                let rhs = cols_of(&buf[..cl * rest], rest);
                // SAFETY: as above.
                unsafe { matmul_raw_scaled(dst(), (rows, cl, rest), lhs, rhs, true, s, par) };
            }
        });
    }

    /// Adds the stored values' gradient for `y = x·W` with output gradient `g` into `grad`.
    pub fn weight_grad<E: KernelDtype>(&self, x: &[E], g: &[E], grad: &mut [E]) {
        let n = self.n;
        assert_eq!(
            grad.len(),
            self.stored_len(),
            "packed triangle: stored values"
        );
        assert_eq!(x.len(), g.len(), "packed triangle: gradient rows");
        if n == 0 || x.is_empty() {
            return;
        }
        let m = x.len() / n;
        assert_eq!(x.len(), m * n, "packed triangle: input rows");
        let blocks = self.blocks();
        let p = self.packing;
        let (above, below) = (value::<E>(p.above), value::<E>(p.below));
        // Block row I owns the stored rows I (a contiguous range): one task each.
        let mut pieces = Vec::with_capacity(blocks.len());
        let mut rest = grad;
        for &(i0, il) in &blocks {
            let len = self.row_start(i0 + il) - self.row_start(i0);
            let (piece, tail) = core::mem::take(&mut rest).split_at_mut(len);
            pieces.push(((i0, il), piece));
            rest = tail;
        }
        let task = |((i0, il), piece): ((usize, usize), &mut [E]), par: Par| {
            let base = self.row_start(i0);
            with_scratch::<E, _>(self.block * self.block, |buf| {
                for &(j0, jl) in blocks.iter().filter(|&&(j0, _)| j0 >= i0) {
                    let d = &mut buf[..il * jl];
                    if i0 < j0 {
                        // D = above·x_Iᵀ·g_J + below·g_Iᵀ·x_J (the lower block's transpose).
                        let mut first = true;
                        for (sign, (l, r)) in [(p.above, (x, g)), (p.below, (g, x))] {
                            if sign == Sign::Zero {
                                continue;
                            }
                            let (li, rj) = (cols_of(&l[i0..], n), rows_of(&r[j0..], n));
                            let s = value::<E>(sign);
                            let dst = rows_of(&mut *d, jl);
                            matmul_scaled_into(dst, (il, jl, m), li, rj, !first, s, par);
                            first = false;
                        }
                        if first {
                            continue;
                        }
                        for (r, row) in d.chunks_exact(jl).enumerate() {
                            let a = i0 + r;
                            let at = p.at(a, j0, n) - base;
                            axpy(E::one(), row, &mut piece[at..at + jl]);
                        }
                    } else {
                        // D = x_Iᵀ·g_I; stored (a, b), a < b, is above·dW[a, b] + below·dW[b, a],
                        // and (a, a) is dW[a, a] where the diagonal is stored.
                        let (xi, gi) = (cols_of(&x[i0..], n), rows_of(&g[i0..], n));
                        let dst = rows_of(&mut *d, jl);
                        matmul_scaled_into(dst, (il, jl, m), xi, gi, false, E::one(), par);
                        for r in 0..il {
                            let a = i0 + r;
                            if p.diagonal {
                                piece[p.at(a, a, n) - base] += d[r * jl + r];
                            }
                            for c in r + 1..il {
                                let at = p.at(a, i0 + c, n) - base;
                                piece[at] += above * d[r * jl + c] + below * d[c * jl + r];
                            }
                        }
                    }
                }
            })
        };
        if pieces.len() == 1 {
            let threads = rayon::current_num_threads();
            pieces
                .into_iter()
                .for_each(|p| task(p, Par::rayon(threads)));
        } else {
            pieces.into_par_iter().for_each(|p| task(p, Par::Seq));
        }
    }
}

impl LinearKernel for SymmetricBlocks {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        self.multiply(a.w, a.x, a.y, false);
        add_bias(a.y, a.bias);
    }

    fn backward<F: KernelDtype>(&self, a: Backward<'_, F>) {
        // dy·Wᵀ: the forward of the transposed packing (the same one for `symmetric`).
        self.transposed().multiply(a.w, a.dy, a.dx, true);
        self.weight_grad(a.x, a.dy, a.dw);
        add_bias_grad(a.dy, a.db);
    }
}

/// An output buffer that parallel tasks write disjoint rectangles of through [`matmul_raw`] (never
/// as overlapping `&mut` slices).
#[derive(Clone, Copy)]
struct OutPtr<E>(*mut E, usize);

// SAFETY: only used to hand the multiply disjoint rectangles of one buffer from several threads.
unsafe impl<E: Send> Send for OutPtr<E> {}
// SAFETY: as above.
unsafe impl<E: Send> Sync for OutPtr<E> {}

impl<E> OutPtr<E> {
    /// The buffer from `offset` on, as rows of `stride` values (for [`matmul_raw`]).
    fn rows_from(self, offset: usize, stride: usize) -> Mat<(*mut E, usize)> {
        assert!(offset <= self.1, "packed triangle: output offset");
        rows_of((self.0.wrapping_add(offset), self.1 - offset), stride)
    }
}

thread_local! {
    static SCRATCH_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` values of this thread's scratch buffer for `E`, kept between calls (so a
/// warm step allocates nothing; it holds the largest block a thread used, one per thread and
/// dtype), or on a fresh buffer when this thread's is in use.
fn with_scratch<E: KernelDtype, R>(len: usize, f: impl FnOnce(&mut [E]) -> R) -> R {
    let mut f = Some(f);
    lend(&SCRATCH_F32, len, &mut f)
        .or_else(|| lend(&SCRATCH_F64, len, &mut f))
        .unwrap_or_else(|| {
            let f = f.take().expect("not run yet");
            f(&mut vec![E::zero(); len])
        })
}

/// `f` on `key`'s buffer when it holds `E`s and is free.
fn lend<T: 'static, E: KernelDtype, R>(
    key: &'static LocalKey<RefCell<Vec<T>>>,
    len: usize,
    f: &mut Option<impl FnOnce(&mut [E]) -> R>,
) -> Option<R> {
    key.with(|cell| {
        let mut buf = cell.try_borrow_mut().ok()?;
        let buf = (&mut *buf as &mut dyn Any).downcast_mut::<Vec<E>>()?;
        if buf.len() < len {
            buf.resize(len, E::zero());
        }
        Some(f.take()?(&mut buf[..len]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every packing, forward and both gradients, against the dense f64 product of its `W`, on
    /// sizes around the block side.
    #[test]
    fn every_packing_matches_the_dense_product() {
        let packings = [
            Packing::SYMMETRIC,
            Packing::SKEW,
            Packing::UPPER,
            Packing::LOWER,
        ];
        for packing in packings {
            for n in [1, 2, 5, 7, 13] {
                for bs in [1, 3, 4, 128] {
                    let k = SymmetricBlocks::packed(n, packing).with_block(bs);
                    let len = k.stored_len();
                    let v: Vec<f64> = (0..len).map(|t| (t as f64 * 0.37).sin() + 0.5).collect();
                    let w = |i: usize, j: usize| match packing.entry(n, i, j) {
                        Some((t, s)) => f64::from(s.value()) * v[t],
                        None => 0.0,
                    };
                    let m = 3;
                    let x: Vec<f64> = (0..m * n).map(|t| (t as f64 * 0.71).cos()).collect();
                    let g: Vec<f64> = (0..m * n).map(|t| (t as f64 * 0.13).sin()).collect();
                    let mut y = vec![0.0; m * n];
                    k.multiply(&v, &x, &mut y, false);
                    let mut dx = vec![0.0; m * n];
                    k.transposed().multiply(&v, &g, &mut dx, true);
                    let mut dv = vec![0.0; len];
                    k.weight_grad(&x, &g, &mut dv);
                    let mut want_dv = vec![0.0; len];
                    for r in 0..m {
                        for j in 0..n {
                            let want: f64 = (0..n).map(|i| x[r * n + i] * w(i, j)).sum();
                            assert!(
                                (y[r * n + j] - want).abs() < 1e-12,
                                "{packing:?} n {n} bs {bs}"
                            );
                            let want: f64 = (0..n).map(|i| g[r * n + i] * w(j, i)).sum();
                            assert!((dx[r * n + j] - want).abs() < 1e-12, "{packing:?} dx");
                        }
                    }
                    for i in 0..n {
                        for j in 0..n {
                            if let Some((t, s)) = packing.entry(n, i, j) {
                                let gij: f64 = (0..m).map(|r| x[r * n + i] * g[r * n + j]).sum();
                                want_dv[t] += f64::from(s.value()) * gij;
                            }
                        }
                    }
                    for (got, want) in dv.iter().zip(&want_dv) {
                        assert!((got - want).abs() < 1e-12, "{packing:?} n {n} bs {bs} dv");
                    }
                }
            }
        }
    }
}
