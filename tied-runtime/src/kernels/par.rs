//! Splitting a kernel's rows over rayon's threads: contiguous row ranges, one per chunk, so each
//! thread writes its own rows and reductions are per-chunk partials summed in chunk order (the
//! same result on every run with the same thread count).

use core::ops::Range;

use rayon::prelude::*;

/// Below this much work (elements touched) per chunk a thread costs more than it saves: a chunk
/// of 32 Ki elements takes several microseconds, above what handing it to another rayon thread
/// costs. A first choice, not yet tuned on an idle machine.
pub const MIN_WORK_PER_CHUNK: usize = 1 << 15;

/// How many chunks to split `rows` rows of `work_per_row` each into: 1 below the threshold, at
/// most one per rayon thread and one per row.
pub fn chunks(rows: usize, work_per_row: usize) -> usize {
    let work = rows.saturating_mul(work_per_row.max(1));
    (work / MIN_WORK_PER_CHUNK)
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
