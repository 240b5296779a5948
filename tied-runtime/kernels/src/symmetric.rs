//! The symmetric pattern's CPU kernel: `W = Wᵀ` (N×N, the upper triangle stored row by row) used
//! in square blocks, never as a whole N×N matrix.
//!
//! `W` is cut into `bs`×`bs` blocks; only the upper blocks `U_IJ` (`I ≤ J`) are ever written out,
//! each row of one being a contiguous run of the stored values, into a small buffer that stays in
//! cache; the lower block `W_JI` is `U_IJᵀ`, which the multiply reads through transposed strides.
//!
//! - forward `y = x·W`: task `(rows, J)` sums `x[rows, I]·W_IJ` over `I` into `y[rows, J]`;
//! - input gradient `dx += dy·Wᵀ = dy·W`: the forward again, with `dy` for `x`;
//! - stored values' gradient: `dW = xᵀ·dy`, an upper block at a time (`x_Iᵀ·dy_J + (x_Jᵀ·dy_I)ᵀ`
//!   off the diagonal, both entries of a pair going to one stored value), added into the stored
//!   values' rows `I`, which task `I` alone writes.
//!
//! So a step makes the same multiply-adds as a dense layer and holds one block per thread; the
//! block buffers are kept per thread and reused (`with_scratch`), so a warm step allocates
//! nothing here (what dfdx's cache saves for a dense layer's buffers).

use core::any::Any;
use core::cell::RefCell;
use std::thread::LocalKey;

use rayon::prelude::*;

use crate::matmul::{cols_of, matmul_into, matmul_raw, rows_of, Mat, Par};
use crate::util::{add_bias, add_bias_grad, axpy};
use crate::{Backward, Forward, KernelDtype, LinearKernel};

/// `y = x·W (+ b)` for a symmetric `W` of side `n`: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymmetricBlocks {
    n: usize,
    block: usize,
}

/// The block side: a `bs`×`bs` f32 block is 64 KiB, inside a core's L2 with the multiply's packing.
pub const SYMMETRIC_BLOCK: usize = 128;

/// Rows of the input per task when there are too few column blocks to keep every thread busy.
const MIN_TASK_ROWS: usize = 32;

impl SymmetricBlocks {
    /// The kernel for a symmetric `n`×`n` weight, in blocks of [`SYMMETRIC_BLOCK`].
    pub fn new(n: usize) -> Self {
        Self {
            n,
            block: SYMMETRIC_BLOCK,
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

    /// The number of stored values, `n(n + 1)/2`.
    pub fn stored_len(&self) -> usize {
        self.n * (self.n + 1) / 2
    }

    /// Where row `a` of the upper triangle starts in the stored values.
    #[inline]
    fn row_start(&self, a: usize) -> usize {
        a * self.n - a * a.saturating_sub(1) / 2
    }

    /// The blocks along one side: `(first, len)`.
    fn blocks(&self) -> Vec<(usize, usize)> {
        (0..self.n)
            .step_by(self.block)
            .map(|a| (a, self.block.min(self.n - a)))
            .collect()
    }

    /// Writes `W[rows, cols]` (row-major, `cols.1` values per row) into `buf`, for the block rows
    /// `rows` above or on the diagonal of the block columns `cols` (`rows.0 ≤ cols.0`).
    fn upper_block<E: KernelDtype>(
        &self,
        v: &[E],
        (r0, rl): (usize, usize),
        (c0, cl): (usize, usize),
        buf: &mut [E],
    ) {
        if r0 < c0 {
            // Every entry is above the diagonal: row `a` is `v[row_start(a) + c0 − a..][..cl]`.
            for (a, row) in (r0..r0 + rl).zip(buf.chunks_exact_mut(cl)) {
                let start = self.row_start(a) + c0 - a;
                row.copy_from_slice(&v[start..start + cl]);
            }
            return;
        }
        // A diagonal block: the upper part from the rows, the lower part mirrored.
        for r in 0..rl {
            let start = self.row_start(r0 + r);
            buf[r * cl + r..(r + 1) * cl].copy_from_slice(&v[start..start + rl - r]);
        }
        for r in 1..rl {
            for c in 0..r {
                buf[r * cl + c] = buf[c * cl + r];
            }
        }
    }

    /// `out (+)= inp·W` for the rows of `inp` (`n` values each; `out` likewise): `+=` when
    /// `accumulate`. The forward, and (with `dy` for `inp`) the input's gradient.
    pub fn multiply<E: KernelDtype>(&self, v: &[E], inp: &[E], out: &mut [E], accumulate: bool) {
        let n = self.n;
        assert_eq!(v.len(), self.stored_len(), "symmetric: stored values");
        assert_eq!(inp.len(), out.len(), "symmetric: output rows");
        if n == 0 || inp.is_empty() {
            return;
        }
        let m = inp.len() / n;
        assert_eq!(inp.len(), m * n, "symmetric: input rows");
        let blocks = self.blocks();
        let threads = rayon::current_num_threads();
        // Enough tasks for every thread: the column blocks, split by rows when they are few.
        let row_parts = (4 * threads)
            .div_ceil(blocks.len())
            .min(m.div_ceil(MIN_TASK_ROWS))
            .max(1);
        let per_part = m.div_ceil(row_parts);
        let tasks: Vec<((usize, usize), (usize, usize))> = (0..m)
            .step_by(per_part)
            .flat_map(|r| blocks.iter().map(move |&j| ((r, per_part.min(m - r)), j)))
            .collect();
        let out_at = OutPtr(out.as_mut_ptr(), out.len());
        let task = |&((r0, rows), (c0, cl)): &((usize, usize), (usize, usize)), par: Par| {
            with_scratch::<E, _>(self.block * self.block, |buf| {
                for (k, &(i0, il)) in blocks.iter().enumerate() {
                    let rhs = if i0 <= c0 {
                        self.upper_block(v, (i0, il), (c0, cl), &mut buf[..il * cl]);
                        rows_of(&buf[..il * cl], cl)
                    } else {
                        // W_IJ = U_JIᵀ: U_JI is cl×il row-major, read by columns.
                        self.upper_block(v, (c0, cl), (i0, il), &mut buf[..il * cl]);
                        cols_of(&buf[..il * cl], il)
                    };
                    let lhs = rows_of(&inp[r0 * n + i0..], n);
                    let dst = out_at.rows_from(r0 * n + c0, n);
                    // SAFETY: `out` is borrowed mutably for the whole parallel section, and each
                    // task writes its own rectangle `out[r0..r0 + rows, c0..c0 + cl]`.
                    unsafe { matmul_raw(dst, (rows, cl, il), lhs, rhs, accumulate || k > 0, par) };
                }
            })
        };
        if tasks.len() == 1 {
            task(&tasks[0], Par::rayon(threads));
        } else {
            tasks.par_iter().for_each(|t| task(t, Par::Seq));
        }
    }

    /// Adds the stored values' gradient for `y = x·W` with output gradient `g` into `grad`.
    pub fn weight_grad<E: KernelDtype>(&self, x: &[E], g: &[E], grad: &mut [E]) {
        let n = self.n;
        assert_eq!(grad.len(), self.stored_len(), "symmetric: stored values");
        assert_eq!(x.len(), g.len(), "symmetric: gradient rows");
        if n == 0 || x.is_empty() {
            return;
        }
        let m = x.len() / n;
        assert_eq!(x.len(), m * n, "symmetric: input rows");
        let blocks = self.blocks();
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
                    // D = x_Iᵀ·g_J (+ g_Iᵀ·x_J, the lower block's transpose).
                    let (xi, gj) = (cols_of(&x[i0..], n), rows_of(&g[j0..], n));
                    matmul_into(rows_of(&mut *d, jl), (il, jl, m), xi, gj, false, par);
                    if i0 < j0 {
                        let (gi, xj) = (cols_of(&g[i0..], n), rows_of(&x[j0..], n));
                        matmul_into(rows_of(&mut *d, jl), (il, jl, m), gi, xj, true, par);
                        for (r, row) in d.chunks_exact(jl).enumerate() {
                            let a = i0 + r;
                            let at = self.row_start(a) - base + j0 - a;
                            axpy(E::one(), row, &mut piece[at..at + jl]);
                        }
                    } else {
                        // Stored (a, b), a ≤ b, is dW[a, b] + dW[b, a] (once on the diagonal).
                        for r in 0..il {
                            let at = self.row_start(i0 + r) - base;
                            let dst = &mut piece[at..at + il - r];
                            dst[0] += d[r * jl + r];
                            for c in r + 1..il {
                                dst[c - r] += d[r * jl + c] + d[c * jl + r];
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
        // W = Wᵀ: dy·Wᵀ is the forward's product.
        self.multiply(a.w, a.dy, a.dx, true);
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
        assert!(offset <= self.1, "symmetric: output offset");
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
