//! Numeric helpers the kernels share: vector arithmetic, rows per parallel task, bias rows.

use rayon::prelude::*;

use crate::KernelDtype;

/// `y += a·x`, element by element (vectorizes: every lane is independent).
#[inline]
pub fn axpy<E: KernelDtype>(a: E, x: &[E], y: &mut [E]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `Σ x·y` with eight partial sums, so the loop vectorizes without reordering one sum.
#[inline]
pub fn dot<E: KernelDtype>(x: &[E], y: &[E]) -> E {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut lanes = [E::zero(); 8];
    let mut xc = x.chunks_exact(8);
    let mut yc = y.chunks_exact(8);
    for (xs, ys) in (&mut xc).zip(&mut yc) {
        for l in 0..8 {
            lanes[l] += xs[l] * ys[l];
        }
    }
    let mut tail = E::zero();
    for (&a, &b) in xc.remainder().iter().zip(yc.remainder()) {
        tail += a * b;
    }
    let half = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (half[0] + half[2]) + (half[1] + half[3]) + tail
}

/// Work (multiply-adds, roughly) below which a task is not worth handing to another thread.
const TASK_WORK: usize = 1 << 15;

/// Rows per parallel task for `rows` rows costing `row_work` each: enough work per task to pay
/// for the hand-off, and a few tasks per thread to balance the load.
pub fn rows_per_task(rows: usize, row_work: usize) -> usize {
    let by_work = TASK_WORK.div_ceil(row_work.max(1));
    let by_threads = rows.div_ceil(4 * rayon::current_num_threads());
    by_work.max(by_threads).max(1)
}

/// Runs `task(first_row, rows, out_rows)` over `rows` rows split in tasks of `per_task` rows, in
/// parallel when there is more than one task, and returns each task's result in row order (so a
/// reduction over them is the same on every run with the same thread count).
///
/// `out` holds `out_width` values per row (an output or an input gradient); `None` gives each task
/// an empty slice.
pub fn map_row_tasks<E, R, F>(
    rows: usize,
    per_task: usize,
    out: Option<&mut [E]>,
    out_width: usize,
    task: F,
) -> Vec<R>
where
    E: Send,
    R: Send,
    F: Fn(usize, usize, &mut [E]) -> R + Sync + Send,
{
    let tasks = rows.div_ceil(per_task);
    let mut outs: Vec<&mut [E]> = match out {
        Some(out) if out_width > 0 => out.chunks_mut(per_task * out_width).collect(),
        _ => (0..tasks).map(|_| <&mut [E]>::default()).collect(),
    };
    let run = |(t, out): (usize, &mut &mut [E])| {
        let first = t * per_task;
        task(first, per_task.min(rows - first), out)
    };
    if tasks <= 1 {
        outs.iter_mut().enumerate().map(run).collect()
    } else {
        outs.par_iter_mut().enumerate().map(run).collect()
    }
}

/// Adds the per-task partial sums into `total`, in task order.
pub fn add_partials<E: KernelDtype>(partials: &[Vec<E>], total: &mut [E]) {
    for p in partials {
        for (t, &v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
}

/// Adds the bias row to every output row (`y` holds whole rows of `bias.len()` values).
pub fn add_bias<E: KernelDtype>(y: &mut [E], bias: Option<&[E]>) {
    if let Some(bias) = bias.filter(|b| !b.is_empty()) {
        y.chunks_exact_mut(bias.len())
            .for_each(|row| axpy(E::one(), bias, row));
    }
}

/// Adds the column sums of `dy` (rows of `db.len()` values) into the bias gradient.
pub fn add_bias_grad<E: KernelDtype>(dy: &[E], db: Option<&mut [E]>) {
    if let Some(db) = db.filter(|b| !b.is_empty()) {
        let width = db.len();
        dy.chunks_exact(width)
            .for_each(|row| axpy(E::one(), row, db));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_sums_every_product() {
        for n in [0, 1, 7, 8, 9, 33] {
            let x: Vec<f64> = (0..n).map(|t| t as f64).collect();
            let y: Vec<f64> = (0..n).map(|t| 2.0 - t as f64).collect();
            let expect: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            assert_eq!(dot(&x, &y), expect);
        }
    }
}
