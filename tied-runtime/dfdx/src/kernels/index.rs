//! Slice kernels of the index family without a faster structure: any pattern without a kernel of
//! its own, through a compact `u32` index table, built once per pattern type and size and shared:
//! `W` materialized on all cores and multiplied, `dW` folded back into the stored values without a
//! second I×O buffer. The numeric helpers and matrix products are `tied-kernels`'.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tied_kernels::matmul::{all_cores, cols_of, matmul_into, rows_of};
use tied_kernels::util::{add_bias, add_bias_grad, add_partials, map_row_tasks, rows_per_task};

use super::{enabled, Backward, Forward, KernelDtype, LinearKernel, MapKernel, OnCpu};

/// Rows of `W` per parallel task when materializing or folding an I×O weight.
fn weight_rows_per_task(rows: usize, cols: usize) -> usize {
    rows_per_task(rows, cols)
}

/// A weight materialized from its stored values and folded back, a block of rows at a time (a
/// shared [`IndexTable`]).
pub trait WeightSource: Send + Sync + 'static {
    /// `W`'s rows (inputs) and columns (outputs).
    fn shape(&self) -> (usize, usize);
    /// Writes rows `first..` of `W` (as many as `w` holds, row-major) from the stored values.
    fn materialize_rows<E: KernelDtype>(&self, v: &[E], first: usize, w: &mut [E]);
    /// Adds rows `first..` of `dW` (as many as `dw` holds) into the stored values' gradient.
    fn fold_rows<E: KernelDtype>(&self, first: usize, dw: &[E], grad: &mut [E]);
}

/// The shared index table of pattern `P` (I×O), where a fused CPU kernel would run (a CPU f32/f64
/// device, kernels on) and the positions fit in `u32`; `None` otherwise, so the table is only
/// built when it is used.
pub(crate) fn table_of<P, const I: usize, const O: usize, E, D>() -> Option<Arc<IndexTable>>
where
    P: crate::Tie<I, O>,
    E: dfdx::shapes::Dtype,
    D: dfdx::tensor::Storage<E>,
{
    let on_cpu = OnCpu::<E, D, f32>::new().is_some() || OnCpu::<E, D, f64>::new().is_some();
    // The table holds positions only: a signed tie (`skew`) gathers with its signs instead.
    if !(enabled() && on_cpu) || P::SIGNED {
        return None;
    }
    let stored = <P::Stored as dfdx::shapes::ConstShape>::NUMEL;
    IndexTable::of(TypeId::of::<P>(), I, O, stored, P::index)
}

/// The table kernel of pattern `P` (I×O), for [`crate::Tie::try_apply_fused`]'s provided version:
/// [`table_of`], and `None` for a pattern that ties nothing (a value per entry: dense, a
/// permutation), which gains nothing from it.
pub(crate) fn table_kernel<P, const I: usize, const O: usize, E, D>(
) -> Option<MaterializedKernel<Arc<IndexTable>>>
where
    P: crate::Tie<I, O>,
    E: dfdx::shapes::Dtype,
    D: dfdx::tensor::Storage<E>,
{
    let stored = <P::Stored as dfdx::shapes::ConstShape>::NUMEL;
    if stored >= I.saturating_mul(O) {
        return None;
    }
    table_of::<P, I, O, E, D>().map(MaterializedKernel::new)
}

/// The whole `W` of a [`WeightSource`] as a tape op ([`MapKernel`]): stored values in, `W` out,
/// `dW` folded back in the backward. What [`crate::gather_effective`] runs on the CPU.
pub struct WholeWeight<S>(pub S);

impl<S: WeightSource> MapKernel for WholeWeight<S> {
    fn forward<F: KernelDtype>(&self, input: &[F], out: &mut [F]) {
        self.0.materialize_rows(input, 0, out);
    }

    fn backward<F: KernelDtype>(&self, _input: &[F], d_out: &[F], d_input: &mut [F]) {
        self.0.fold_rows(0, d_out, d_input);
    }
}

/// A pattern's `index` as a compact table: `W[i, j]`'s stored value, or [`IndexTable::ZERO`] for
/// a structural zero. Built once per pattern type and size ([`IndexTable::of`]) and shared.
#[derive(Debug)]
pub struct IndexTable {
    rows: usize,
    cols: usize,
    stored: usize,
    index: Vec<u32>,
}

impl IndexTable {
    /// The entry of a structural zero (and of an index past the stored values).
    pub const ZERO: u32 = u32::MAX;

    /// Builds the table of `index` for a `rows`×`cols` weight on `stored` values, on all cores;
    /// `None` when the positions do not fit in `u32`.
    pub fn build(
        rows: usize,
        cols: usize,
        stored: usize,
        index: impl Fn(usize, usize) -> Option<usize> + Sync,
    ) -> Option<Self> {
        if stored >= Self::ZERO as usize || rows.checked_mul(cols)? >= Self::ZERO as usize {
            return None;
        }
        let mut table = vec![Self::ZERO; rows * cols];
        let out_of_range = core::sync::atomic::AtomicBool::new(false);
        if cols > 0 {
            let per_task = weight_rows_per_task(rows, cols);
            map_row_tasks(rows, per_task, Some(&mut table), cols, |first, n, t| {
                for r in 0..n {
                    for (j, e) in t[r * cols..(r + 1) * cols].iter_mut().enumerate() {
                        match index(first + r, j) {
                            Some(k) if k < stored => *e = k as u32,
                            Some(_) => {
                                out_of_range.store(true, core::sync::atomic::Ordering::Relaxed)
                            }
                            None => {}
                        }
                    }
                }
            });
        }
        // An index past the stored values is never a silent zero: no table, so the caller takes
        // the reference path, which reports the pattern's error (generated layers refuse such
        // patterns when built, so only a pattern used outside one gets here).
        if out_of_range.into_inner() {
            return None;
        }
        Some(Self {
            rows,
            cols,
            stored,
            index: table,
        })
    }

    /// The shared table of pattern `key` (a type) for a `rows`×`cols` weight, built on first use.
    pub fn of(
        key: TypeId,
        rows: usize,
        cols: usize,
        stored: usize,
        index: impl Fn(usize, usize) -> Option<usize> + Sync,
    ) -> Option<Arc<Self>> {
        let cache = table_cache();
        let found = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(key, rows, cols))
            .cloned();
        if let Some(table) = found {
            return Some(table);
        }
        // Built outside the lock: another thread may build the same table meanwhile; the first
        // one stored wins and both are equal.
        let built = Arc::new(Self::build(rows, cols, stored, index)?);
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        Some(cache.entry((key, rows, cols)).or_insert(built).clone())
    }
}

type TableCache = HashMap<(TypeId, usize, usize), Arc<IndexTable>>;

/// The process-wide tables of [`IndexTable::of`].
fn table_cache() -> &'static Mutex<TableCache> {
    static CACHE: OnceLock<Mutex<TableCache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Drops every cached index table: the next forward of each pattern rebuilds its table from
/// [`Tie::index`](crate::Tie::index).
///
/// `index` is meant to be a pure function of `(i, j)`, and the CPU kernels build its table once per
/// (pattern type, I, O). Only a pattern whose `index` reads state that changes at run time (a test
/// drawing random tables, say) needs this, after each change.
pub fn forget_index_tables() {
    table_cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}

impl WeightSource for Arc<IndexTable> {
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Writes rows of `W` from the stored values `v`, on all cores.
    fn materialize_rows<E: KernelDtype>(&self, v: &[E], first: usize, w: &mut [E]) {
        assert_eq!(v.len(), self.stored, "index table: stored values");
        let cols = self.cols;
        if cols == 0 {
            return;
        }
        let rows = w.len() / cols;
        let table = &self.index[first * cols..(first + rows) * cols];
        let per_task = weight_rows_per_task(rows, cols);
        map_row_tasks(rows, per_task, Some(w), cols, |task_first, _, w| {
            let t = &table[task_first * cols..task_first * cols + w.len()];
            for (w, &k) in w.iter_mut().zip(t) {
                *w = if k == IndexTable::ZERO {
                    E::zero()
                } else {
                    v[k as usize]
                };
            }
        });
    }

    /// Adds rows of `dW` into the stored values' gradient. Tasks over rows keep their own
    /// partial gradient when that is cheaper than the pass over `dW` (few stored values);
    /// otherwise one pass adds in place.
    fn fold_rows<E: KernelDtype>(&self, first: usize, dw: &[E], grad: &mut [E]) {
        assert_eq!(grad.len(), self.stored, "index table: stored values");
        let cols = self.cols;
        if cols == 0 {
            return;
        }
        let rows = dw.len() / cols;
        let table = &self.index[first * cols..(first + rows) * cols];
        let add = |t: &[u32], dw: &[E], g: &mut [E]| {
            for (&k, &d) in t.iter().zip(dw) {
                if k != IndexTable::ZERO {
                    g[k as usize] += d;
                }
            }
        };
        let per_task = weight_rows_per_task(rows, cols);
        let tasks = rows.div_ceil(per_task);
        if tasks <= 1 || self.stored * tasks > table.len() {
            add(table, dw, grad);
            return;
        }
        let partials = map_row_tasks::<E, _, _>(rows, per_task, None, 0, |task_first, n, _| {
            let span = task_first * cols..(task_first + n) * cols;
            let mut g = vec![E::zero(); self.stored];
            add(&table[span.clone()], &dw[span], &mut g);
            g
        });
        add_partials(&partials, grad);
    }
}

/// `x·W` (or `x·Wᵀ`) for a weight from a [`WeightSource`], a block of `W`'s rows at a time: each
/// block is materialized on all cores and multiplied by [`matmul`](tied_kernels::matmul) (faer); the backward materializes the block again for the input's gradient, then overwrites
/// the same buffer with that block of `dW` and folds it into the stored values. So a step holds
/// one block (about [`BLOCK_ENTRIES`] values), never the whole I×O weight or its gradient.
#[derive(Debug, Clone)]
pub struct MaterializedKernel<S> {
    source: S,
    transposed: bool,
    block_entries: usize,
}

/// Entries of `W` materialized at a time (4 MiB of f32): large enough that each block's
/// multiply runs at full speed, small against a dense layer's weight gradient.
pub const BLOCK_ENTRIES: usize = 1 << 20;

impl<S: WeightSource> MaterializedKernel<S> {
    /// `x·W` for the source's `W`.
    pub fn new(source: S) -> Self {
        Self {
            source,
            transposed: false,
            block_entries: BLOCK_ENTRIES,
        }
    }

    /// Materializes about `entries` values of `W` at a time instead of [`BLOCK_ENTRIES`].
    pub fn with_block_entries(self, entries: usize) -> Self {
        Self {
            block_entries: entries,
            ..self
        }
    }

    /// `x·Wᵀ` instead.
    pub fn transposed(self) -> Self {
        Self {
            transposed: !self.transposed,
            ..self
        }
    }

    /// Inputs and outputs per row.
    pub fn features(&self) -> (usize, usize) {
        let (r, c) = self.source.shape();
        if self.transposed {
            (c, r)
        } else {
            (r, c)
        }
    }

    /// The blocks of `W`'s rows, and a buffer for the largest.
    fn blocks<E: KernelDtype>(&self) -> (Vec<(usize, usize)>, Vec<E>) {
        let (r, c) = self.source.shape();
        let per = (self.block_entries / c.max(1)).clamp(1, r.max(1));
        let blocks = (0..r).step_by(per).map(|a| (a, per.min(r - a))).collect();
        (blocks, vec![E::zero(); per * c])
    }

    /// `y = x·W` (or `x·Wᵀ`) for `x.len() / inputs` rows.
    pub fn forward<E: KernelDtype>(&self, v: &[E], x: &[E], y: &mut [E]) {
        let (fi, fo) = self.features();
        let (r, c) = self.source.shape();
        let n = x.len().checked_div(fi).unwrap_or(0);
        assert_eq!(y.len(), n * fo, "materialized kernel: output rows");
        if n == 0 || fo == 0 {
            return;
        }
        let (blocks, mut buf) = self.blocks::<E>();
        if blocks.is_empty() {
            y.fill(E::zero());
        }
        for (k, &(a, len)) in blocks.iter().enumerate() {
            let w = &mut buf[..len * c];
            self.source.materialize_rows(v, a, w);
            if self.transposed {
                // y[:, a..a+len] = x · W[a.., :]ᵀ
                let dst = rows_of(&mut y[a..], r);
                matmul_into(
                    dst,
                    (n, len, c),
                    rows_of(x, c),
                    cols_of(&*w, c),
                    false,
                    all_cores(),
                );
            } else {
                // y += x[:, a..a+len] · W[a.., :]
                let lhs = rows_of(&x[a..], r);
                matmul_into(
                    rows_of(&mut *y, c),
                    (n, c, len),
                    lhs,
                    rows_of(&*w, c),
                    k > 0,
                    all_cores(),
                );
            }
        }
    }

    /// Adds `g·Wᵀ` (or `g·W`) into `grad_x` and the stored values' gradient into `grad_v`.
    pub fn backward<E: KernelDtype>(
        &self,
        v: &[E],
        x: &[E],
        g: &[E],
        mut grad_x: Option<&mut [E]>,
        mut grad_v: Option<&mut [E]>,
    ) {
        let (fi, fo) = self.features();
        let (r, c) = self.source.shape();
        let n = x.len().checked_div(fi).unwrap_or(0);
        assert_eq!(g.len(), n * fo, "materialized kernel: output gradient rows");
        if n == 0 || fi == 0 || fo == 0 || (grad_x.is_none() && grad_v.is_none()) {
            return;
        }
        let (blocks, mut buf) = self.blocks::<E>();
        for &(a, len) in &blocks {
            let w = &mut buf[..len * c];
            if let Some(gx) = grad_x.as_deref_mut() {
                self.source.materialize_rows(v, a, w);
                if self.transposed {
                    // dx += g[:, a..a+len] · W[a.., :]
                    let lhs = rows_of(&g[a..], r);
                    matmul_into(
                        rows_of(gx, c),
                        (n, c, len),
                        lhs,
                        rows_of(&*w, c),
                        true,
                        all_cores(),
                    );
                } else {
                    // dx[:, a..a+len] += g · W[a.., :]ᵀ
                    let dst = rows_of(&mut gx[a..], r);
                    matmul_into(
                        dst,
                        (n, len, c),
                        rows_of(g, c),
                        cols_of(&*w, c),
                        true,
                        all_cores(),
                    );
                }
            }
            if let Some(gv) = grad_v.as_deref_mut() {
                // dW[a.., :] = x[:, a..]ᵀ·g (or g[:, a..]ᵀ·x for the transpose), into the buffer.
                let (rows_side, other) = if self.transposed { (g, x) } else { (x, g) };
                let lhs = cols_of(&rows_side[a..], r);
                matmul_into(
                    rows_of(&mut *w, c),
                    (len, c, n),
                    lhs,
                    rows_of(other, c),
                    false,
                    all_cores(),
                );
                self.source.fold_rows(a, w, gv);
            }
        }
    }
}

impl<S: WeightSource> LinearKernel for MaterializedKernel<S> {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        MaterializedKernel::forward(self, a.w, a.x, a.y);
        add_bias(a.y, a.bias);
    }

    fn backward<F: KernelDtype>(&self, a: Backward<'_, F>) {
        MaterializedKernel::backward(self, a.w, a.x, a.dy, Some(a.dx), Some(a.dw));
        add_bias_grad(a.dy, a.db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_materialize_and_fold_match_the_index() {
        let index = |i: usize, j: usize| (i != j).then_some((i * 3 + j) % 7);
        for (rows, cols) in [(1, 1), (3, 5), (64, 9), (300, 200)] {
            let table = Arc::new(IndexTable::build(rows, cols, 7, index).unwrap());
            let v: Vec<f64> = (0..7).map(|t| t as f64 + 1.0).collect();
            let mut w = vec![f64::NAN; rows * cols];
            table.materialize_rows(&v, 0, &mut w);
            let dw: Vec<f64> = (0..rows * cols).map(|p| (p % 13) as f64).collect();
            let mut grad = vec![0.5; 7];
            table.fold_rows(0, &dw, &mut grad);
            let mut expect = vec![0.5; 7];
            for i in 0..rows {
                for j in 0..cols {
                    let p = i * cols + j;
                    match index(i, j) {
                        Some(k) => {
                            assert_eq!(w[p], v[k]);
                            expect[k] += dw[p];
                        }
                        None => assert_eq!(w[p], 0.0),
                    }
                }
            }
            assert_eq!(grad, expect);
        }
    }

    #[test]
    fn materialized_kernel_matches_the_dense_product() {
        let index = |i: usize, j: usize| (i + 2 * j != 5).then_some((i * 5 + j) % 11);
        let table = Arc::new(IndexTable::build(6, 4, 11, index).unwrap());
        let v: Vec<f64> = (0..11).map(|t| t as f64 * 0.25 - 1.0).collect();
        for (transposed, block) in [(false, 1 << 20), (true, 1 << 20), (false, 9), (true, 4)] {
            let mut k = MaterializedKernel::new(table.clone()).with_block_entries(block);
            if transposed {
                k = k.transposed();
            }
            let (fi, fo) = k.features();
            let w = |a: usize, b: usize| {
                let (i, j) = if transposed { (b, a) } else { (a, b) };
                index(i, j).map_or((0.0, None), |t| (v[t], Some(t)))
            };
            let n = 5;
            let x: Vec<f64> = (0..n * fi).map(|t| (t as f64 * 0.3).sin()).collect();
            let g: Vec<f64> = (0..n * fo).map(|t| (t as f64 * 0.7).cos()).collect();
            let mut y = vec![f64::NAN; n * fo];
            k.forward(&v, &x, &mut y);
            let mut gx = vec![1.0; n * fi];
            let mut gv = vec![1.0; 11];
            k.backward(&v, &x, &g, Some(&mut gx), Some(&mut gv));
            let mut gv_ref = vec![1.0; 11];
            for r in 0..n {
                for a in 0..fi {
                    for b in 0..fo {
                        if let (_, Some(t)) = w(a, b) {
                            gv_ref[t] += x[r * fi + a] * g[r * fo + b];
                        }
                    }
                }
                for b in 0..fo {
                    let y_ref: f64 = (0..fi).map(|a| x[r * fi + a] * w(a, b).0).sum();
                    assert!((y[r * fo + b] - y_ref).abs() < 1e-12, "t={transposed} y");
                }
                for a in 0..fi {
                    let gx_ref: f64 = 1.0 + (0..fo).map(|b| g[r * fo + b] * w(a, b).0).sum::<f64>();
                    assert!((gx[r * fi + a] - gx_ref).abs() < 1e-12, "t={transposed} gx");
                }
            }
            for (a, b) in gv.iter().zip(&gv_ref) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "t={transposed} gv {gv:?} vs {gv_ref:?}"
                );
            }
        }
    }
}
