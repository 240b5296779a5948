//! Banded weights: `x·W` for `W[i, j] = v[i − j + lo]` where `0 ≤ i − j + lo < K` (and a
//! structural zero elsewhere), directly in O(rows·N·K): one vectorized AXPY per stored value and
//! row, forward and backward. A band this narrow gains nothing from an FFT.

use crate::util::{add_bias, add_bias_grad, add_partials, axpy, dot, map_row_tasks, rows_per_task};
use crate::{Backward, Forward, KernelDtype, LinearKernel};

/// `x·W` for a banded `W` (rows×cols) with `k` stored values, `W[i, j] = v[i − j + lo]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandKernel {
    rows: usize,
    cols: usize,
    k: usize,
    lo: usize,
    /// `Wᵀ` is computed, reading `v` backwards (see [`BandKernel::transposed`]).
    flipped: bool,
}

impl BandKernel {
    /// `banded`'s weight: `W[i, j] = v[i − j + k/2]`, rows×cols, `k` values.
    pub fn banded(rows: usize, cols: usize, k: usize) -> Self {
        Self {
            rows,
            cols,
            k,
            lo: k / 2,
            flipped: false,
        }
    }

    /// The kernel of `Wᵀ` on the same values: `Wᵀ[j, i] = v[i − j + lo]`, which is a band of the
    /// transposed shape on `v` read backwards, `v'[t] = v[k − 1 − t]`, with `lo' = k − 1 − lo`.
    pub fn transposed(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            k: self.k,
            lo: self.k - 1 - self.lo,
            flipped: !self.flipped,
        }
    }

    /// The stored value `t` of the (possibly flipped) band.
    fn value<E: KernelDtype>(&self, v: &[E], t: usize) -> E {
        v[if self.flipped { self.k - 1 - t } else { t }]
    }

    /// The outputs `j` that value `t` reaches, with `i = j + t − lo` in range.
    fn outputs(&self, t: usize) -> core::ops::Range<usize> {
        let first = self.lo.saturating_sub(t);
        let end = (self.rows + self.lo).saturating_sub(t).min(self.cols);
        first..end.max(first)
    }

    fn check<E>(&self, v: &[E], x: &[E], y: &[E]) -> usize {
        assert_eq!(v.len(), self.k, "band kernel: stored values");
        let rows = x.len().checked_div(self.rows).unwrap_or(0);
        assert_eq!(x.len(), rows * self.rows, "band kernel: input rows");
        assert_eq!(y.len(), rows * self.cols, "band kernel: output rows");
        rows
    }

    /// `y = x·W` for `x.len() / rows` rows.
    pub fn forward<E: KernelDtype>(&self, v: &[E], x: &[E], y: &mut [E]) {
        let n = self.check(v, x, y);
        if n == 0 || self.cols == 0 {
            return;
        }
        let per_task = rows_per_task(n, self.k * self.cols);
        map_row_tasks(n, per_task, Some(y), self.cols, |first, count, y| {
            y.fill(E::zero());
            for r in 0..count {
                let x = &x[(first + r) * self.rows..][..self.rows];
                let y = &mut y[r * self.cols..][..self.cols];
                for t in 0..self.k {
                    let js = self.outputs(t);
                    if !js.is_empty() {
                        let i0 = js.start + t - self.lo;
                        axpy(self.value(v, t), &x[i0..i0 + js.len()], &mut y[js]);
                    }
                }
            }
        });
    }

    /// Adds `g·Wᵀ` into `grad_x` and the values' gradient into `grad_v`.
    pub fn backward<E: KernelDtype>(
        &self,
        v: &[E],
        x: &[E],
        g: &[E],
        grad_x: Option<&mut [E]>,
        grad_v: Option<&mut [E]>,
    ) {
        let n = self.check(v, x, g);
        if let Some(gx) = &grad_x {
            assert_eq!(gx.len(), x.len(), "band kernel: input gradient");
        }
        if n == 0 || self.cols == 0 || self.rows == 0 {
            return;
        }
        let want_x = grad_x.is_some();
        let want_v = grad_v.is_some();
        let per_task = rows_per_task(n, 2 * self.k * self.cols);
        let partials = map_row_tasks(n, per_task, grad_x, self.rows, |first, count, gx| {
            let mut gv = vec![E::zero(); self.k];
            for r in 0..count {
                let x = &x[(first + r) * self.rows..][..self.rows];
                let g = &g[(first + r) * self.cols..][..self.cols];
                for (t, gvt) in gv.iter_mut().enumerate() {
                    let js = self.outputs(t);
                    if js.is_empty() {
                        continue;
                    }
                    let i0 = js.start + t - self.lo;
                    let is = i0..i0 + js.len();
                    if want_x {
                        axpy(
                            self.value(v, t),
                            &g[js.clone()],
                            &mut gx[r * self.rows..][is.clone()],
                        );
                    }
                    if want_v {
                        *gvt += dot(&g[js], &x[is]);
                    }
                }
            }
            gv
        });
        if let Some(grad_v) = grad_v {
            assert_eq!(grad_v.len(), self.k, "band kernel: values' gradient");
            let mut gv = vec![E::zero(); self.k];
            add_partials(&partials, &mut gv);
            for (t, g) in gv.into_iter().enumerate() {
                let s = if self.flipped { self.k - 1 - t } else { t };
                grad_v[s] += g;
            }
        }
    }
}

impl LinearKernel for BandKernel {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        BandKernel::forward(self, a.w, a.x, a.y);
        add_bias(a.y, a.bias);
    }

    fn backward<F: KernelDtype>(&self, a: Backward<'_, F>) {
        BandKernel::backward(self, a.w, a.x, a.dy, Some(a.dx), Some(a.dw));
        add_bias_grad(a.dy, a.db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_dense_band() {
        for (rows, cols, k) in [
            (1, 1, 1),
            (5, 5, 3),
            (7, 4, 5),
            (4, 7, 5),
            (9, 9, 17),
            (3, 8, 2),
            (40, 33, 9),
        ] {
            for transposed in [false, true] {
                let base = BandKernel::banded(rows, cols, k);
                let kern = if transposed { base.transposed() } else { base };
                let (fi, fo) = if transposed {
                    (cols, rows)
                } else {
                    (rows, cols)
                };
                let v: Vec<f64> = (0..k).map(|t| 1.0 + t as f64 * 0.5).collect();
                let w = |i: usize, j: usize| -> Option<usize> {
                    let (a, b) = if transposed { (j, i) } else { (i, j) };
                    let t = (a + k / 2).checked_sub(b)?;
                    (t < k).then_some(t)
                };
                let n = 3;
                let x: Vec<f64> = (0..n * fi).map(|t| (t as f64 * 0.3).sin()).collect();
                let g: Vec<f64> = (0..n * fo).map(|t| (t as f64 * 0.7).cos()).collect();
                let mut y_ref = vec![0.0; n * fo];
                let mut gx_ref = vec![1.0; n * fi];
                let mut gv_ref = vec![1.0; k];
                for r in 0..n {
                    for i in 0..fi {
                        for j in 0..fo {
                            if let Some(t) = w(i, j) {
                                y_ref[r * fo + j] += x[r * fi + i] * v[t];
                                gx_ref[r * fi + i] += g[r * fo + j] * v[t];
                                gv_ref[t] += x[r * fi + i] * g[r * fo + j];
                            }
                        }
                    }
                }
                let mut y = vec![f64::NAN; n * fo];
                kern.forward(&v, &x, &mut y);
                let mut gx = vec![1.0; n * fi];
                let mut gv = vec![1.0; k];
                kern.backward(&v, &x, &g, Some(&mut gx), Some(&mut gv));
                let close =
                    |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-12);
                let what = format!("{rows}x{cols} k={k} t={transposed}");
                assert!(close(&y, &y_ref), "{what}: y {y:?} vs {y_ref:?}");
                assert!(close(&gx, &gx_ref), "{what}: gx");
                assert!(close(&gv, &gv_ref), "{what}: gv {gv:?} vs {gv_ref:?}");
            }
        }
    }
}
