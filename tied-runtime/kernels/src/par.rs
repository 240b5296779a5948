//! Splitting a kernel's rows over rayon's threads: contiguous row ranges, one per chunk, so each
//! thread writes its own rows and reductions are per-chunk partials summed in chunk order (the
//! same result on every run with the same thread count).

use core::cell::Cell;
use core::ops::Range;

use rayon::prelude::*;

/// Below this much work (elements touched) per chunk a second thread costs more than it saves.
/// These kernels stream memory at a few elements per nanosecond, while handing a chunk to a rayon
/// worker that went to sleep during the single-threaded dfdx ops around the layer costs about
/// 0.1 ms (waking it, and the caches it starts cold). Measured on 2 idle cores (`tile(64, 64)`,
/// N = 4096, dfdx's cache on, one training step): one thread is faster up to B = 128 (1.13 against
/// 1.21 ms), even at B = 256 (2.47 against 2.58 ms), and two threads win from B = 512 (4.06
/// against 5.18 ms), where a backward touches about 10 M elements. At B = 64 the step took
/// 0.52 ms on one thread and 0.77 ms on two. So a second chunk starts at 8 Mi elements.
pub const MIN_WORK_PER_CHUNK: usize = 1 << 22;

thread_local! {
    static MIN_WORK: Cell<usize> = const { Cell::new(MIN_WORK_PER_CHUNK) };
}

/// Runs `f` with `work` instead of [`MIN_WORK_PER_CHUNK`] on this thread: kernels called from it
/// split smaller batches over the threads. For tests of the multi-chunk paths (per-chunk
/// partial sums) at sizes a dense reference can check, and for measuring the threshold.
pub fn with_min_work_per_chunk<R>(work: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            MIN_WORK.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(MIN_WORK.with(|m| m.replace(work.max(1))));
    f()
}

/// How many chunks to split `rows` rows of `work_per_row` each into: 1 below the threshold
/// ([`MIN_WORK_PER_CHUNK`], or what [`with_min_work_per_chunk`] set), at most one per rayon thread
/// and one per row.
pub fn chunks(rows: usize, work_per_row: usize) -> usize {
    let work = rows.saturating_mul(work_per_row.max(1));
    (work / MIN_WORK.with(Cell::get))
        .min(rayon::current_num_threads())
        .min(rows)
        .max(1)
}

/// Runs `f(rows, part)` on `chunks` disjoint ranges of `rows` rows, where `part` is those rows of
/// `out` (`width` values each), in parallel, and returns the results in row order.
pub fn for_rows<F: Send, R: Send>(
    out: &mut [F],
    width: usize,
    rows: usize,
    chunks: usize,
    f: impl Fn(Range<usize>, &mut [F]) -> R + Sync,
) -> Vec<R> {
    if chunks <= 1 || width == 0 || rows <= 1 {
        return vec![f(0..rows, out)];
    }
    let per_chunk = rows.div_ceil(chunks);
    out[..rows * width]
        .par_chunks_mut(per_chunk * width)
        .enumerate()
        .map(|(k, part)| {
            let start = k * per_chunk;
            f(start..start + part.len() / width, part)
        })
        .collect()
}
