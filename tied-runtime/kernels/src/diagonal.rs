//! Diagonal weights, `W[i, i] = v[i]` on a square `N`×`N` weight: `y = x ⊙ v (+ b)` in one pass
//! over `x` forward and one over `dy` and `x` backward, rows split over threads with per-chunk
//! partial sums of `dv` and `db` (summed in chunk order: the same result on every run with the
//! same thread count). `W` is its own transpose, so the transposed use is the same kernel.

use crate::fold::add;
use crate::par;
use crate::{Backward, Forward, KernelDtype, LinearKernel};

/// `x·diag(v)` for `n` features (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagonalKernel {
    n: usize,
}

impl DiagonalKernel {
    /// The kernel of an `n`×`n` diagonal weight (`n` stored values).
    pub fn new(n: usize) -> Self {
        Self { n }
    }
}

impl LinearKernel for DiagonalKernel {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        let n = self.n;
        assert!(
            a.w.len() == n && a.x.len() == a.n * n && a.y.len() == a.n * n,
            "diagonal kernel: sizes"
        );
        let (x, v, bias) = (a.x, a.w, a.bias);
        let chunks = par::chunks(a.n, 2 * n);
        par::for_rows(a.y, n, a.n, chunks, |rows, y| {
            for (row, y) in rows.zip(y.chunks_exact_mut(n.max(1))) {
                let x = &x[row * n..(row + 1) * n];
                match bias {
                    Some(b) => {
                        for (((y, &x), &v), &b) in y.iter_mut().zip(x).zip(v).zip(b) {
                            *y = x * v + b;
                        }
                    }
                    None => {
                        for ((y, &x), &v) in y.iter_mut().zip(x).zip(v) {
                            *y = x * v;
                        }
                    }
                }
            }
        });
    }

    fn backward<F: KernelDtype>(&self, a: Backward<'_, F>) {
        let n = self.n;
        assert!(
            a.w.len() == n && a.x.len() == a.n * n && a.dy.len() == a.n * n,
            "diagonal kernel: sizes"
        );
        let (x, v, dy, with_bias) = (a.x, a.w, a.dy, a.db.is_some());
        let chunks = par::chunks(a.n, 4 * n);
        let partials = par::for_rows(a.dx, n, a.n, chunks, |rows, dx| {
            let mut dv = vec![F::zero(); n];
            let mut db = vec![F::zero(); if with_bias { n } else { 0 }];
            for (row, dx) in rows.zip(dx.chunks_exact_mut(n.max(1))) {
                let (x, dy) = (&x[row * n..(row + 1) * n], &dy[row * n..(row + 1) * n]);
                for ((((dx, dv), &v), &x), &g) in dx.iter_mut().zip(&mut dv).zip(v).zip(x).zip(dy) {
                    *dx += g * v;
                    *dv += g * x;
                }
                if with_bias {
                    for (db, &g) in db.iter_mut().zip(dy) {
                        *db += g;
                    }
                }
            }
            (dv, db)
        });
        let mut db = a.db;
        for (dv, db_part) in partials {
            add(&dv, a.dw);
            if let Some(db) = db.as_deref_mut() {
                add(&db_part, db);
            }
        }
    }
}
