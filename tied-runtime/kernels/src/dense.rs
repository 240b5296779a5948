//! Dense weights: `y = x·W + b` and `y = x·Wᵀ + b` for a weight stored whole (I×O, row-major),
//! as one op on the tape, on [`matmul`](super::matmul)'s multiply (faer).
//!
//! This is the lowering of every field without a pattern and of every `transpose_of`/`same_as` use
//! of one: a tied autoencoder's encoder and decoder, an LM head tied to its embedding. Against
//! dfdx's `matmul` followed by a broadcast bias add (the reference lowering, kept for other devices
//! and dtypes and as what this kernel is tested against), it runs faer's multiply, starts `y`
//! at the bias so the product accumulates onto it (no second pass over `y`), and records one
//! backward: `dx += dy·Wᵀ`, `dW += xᵀ·dy` (or `dyᵀ·x` for the transpose, written straight into
//! the stored layout), and the bias's column sums of `dy`. The transpose is read through the multiply's
//! strides: nothing is copied or permuted.

use crate::matmul::{all_cores, cols_of, matmul_into, rows_of};
use crate::util::{add_bias, add_bias_grad};
use crate::{Backward, Forward, KernelDtype, LinearKernel};

/// `x·W` (or `x·Wᵀ`) for a dense `rows`×`cols` weight stored row-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseKernel {
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl DenseKernel {
    /// `x·W` for a `rows`×`cols` weight: `rows` inputs, `cols` outputs.
    pub fn new(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            transposed: false,
        }
    }

    /// `x·Wᵀ` instead: `cols` inputs, `rows` outputs, on the same stored values.
    pub fn transposed(self) -> Self {
        Self {
            transposed: !self.transposed,
            ..self
        }
    }

    /// Inputs and outputs per row.
    pub fn features(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }
}

impl LinearKernel for DenseKernel {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        let (fi, fo) = self.features();
        // The product's right operand, fi×fo: W itself, or W read by columns.
        let w = if self.transposed {
            cols_of(a.w, self.cols)
        } else {
            rows_of(a.w, self.cols)
        };
        // `y` arrives zeroed: start it at the bias and accumulate the product onto it.
        add_bias(a.y, a.bias);
        let accumulate = a.bias.is_some_and(|b| !b.is_empty());
        matmul_into(
            rows_of(a.y, fo),
            (a.n, fo, fi),
            rows_of(a.x, fi),
            w,
            accumulate,
            all_cores(),
        );
    }

    fn backward<F: KernelDtype>(&self, a: Backward<'_, F>) {
        let (fi, fo) = self.features();
        // dx (n×fi) += dy (n×fo) · (the product's operand)ᵀ (fo×fi).
        let wt = if self.transposed {
            rows_of(a.w, self.cols)
        } else {
            cols_of(a.w, self.cols)
        };
        matmul_into(
            rows_of(a.dx, fi),
            (a.n, fi, fo),
            rows_of(a.dy, fo),
            wt,
            true,
            all_cores(),
        );
        // dW (rows×cols, the stored layout) += xᵀ·dy, or dyᵀ·x when the weight is used transposed.
        let (lhs, lhs_width, rhs) = if self.transposed {
            (a.dy, fo, a.x)
        } else {
            (a.x, fi, a.dy)
        };
        matmul_into(
            rows_of(&mut a.dw[..self.rows * self.cols], self.cols),
            (self.rows, self.cols, a.n),
            cols_of(lhs, lhs_width),
            rows_of(rhs, self.cols),
            true,
            all_cores(),
        );
        add_bias_grad(a.dy, a.db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x·W` by definition, in f64.
    fn reference(x: &[f64], w: &[f64], (n, r, c): (usize, usize, usize), t: bool) -> Vec<f64> {
        let (fi, fo) = if t { (c, r) } else { (r, c) };
        let at = |p: usize, q: usize| if t { w[q * c + p] } else { w[p * c + q] };
        (0..n * fo)
            .map(|k| (0..fi).map(|p| x[k / fo * fi + p] * at(p, k % fo)).sum())
            .collect()
    }

    #[test]
    fn forward_and_backward_match_the_definition_both_ways() {
        let (n, r, c) = (3, 5, 4);
        let w: Vec<f64> = (0..r * c).map(|k| (k as f64 * 0.37).sin()).collect();
        for t in [false, true] {
            let kernel = if t {
                DenseKernel::new(r, c).transposed()
            } else {
                DenseKernel::new(r, c)
            };
            let (fi, fo) = kernel.features();
            let x: Vec<f64> = (0..n * fi).map(|k| (k as f64 * 0.71).cos()).collect();
            let bias: Vec<f64> = (0..fo).map(|j| j as f64 - 1.5).collect();
            let mut y = vec![0.0; n * fo];
            kernel.forward(Forward {
                n,
                x: &x,
                w: &w,
                bias: Some(&bias),
                y: &mut y,
            });
            let want = reference(&x, &w, (n, r, c), t);
            for (k, (&got, &want)) in y.iter().zip(&want).enumerate() {
                assert!((got - want - bias[k % fo]).abs() < 1e-12, "y[{k}] ({t})");
            }
            // d(sum(y ⊙ g))/dW[p, q] = Σ_n x[n, p]·g[n, q] (transposed: x[n, q]·g[n, p]).
            let g: Vec<f64> = (0..n * fo).map(|k| 0.5 - k as f64 * 0.1).collect();
            let (mut dx, mut dw, mut db) = (vec![1.0; n * fi], vec![2.0; r * c], vec![0.0; fo]);
            kernel.backward(Backward {
                n,
                x: &x,
                w: &w,
                dy: &g,
                dx: &mut dx,
                dw: &mut dw,
                db: Some(&mut db),
            });
            for p in 0..r {
                for q in 0..c {
                    let want: f64 = (0..n)
                        .map(|m| {
                            if t {
                                x[m * fi + q] * g[m * fo + p]
                            } else {
                                x[m * fi + p] * g[m * fo + q]
                            }
                        })
                        .sum();
                    assert!((dw[p * c + q] - 2.0 - want).abs() < 1e-12, "dW ({t})");
                }
            }
            let wt_dx = reference(&g, &w, (n, r, c), !t);
            for (got, want) in dx.iter().zip(&wt_dx) {
                assert!((got - 1.0 - want).abs() < 1e-12, "dx ({t})");
            }
            for (j, got) in db.iter().enumerate() {
                let want: f64 = (0..n).map(|m| g[m * fo + j]).sum();
                assert!((got - want).abs() < 1e-12, "db ({t})");
            }
        }
    }
}
