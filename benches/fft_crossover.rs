//! Where the FFT path of the Hankel/Toeplitz/circulant kernels starts to beat the direct one.
//!
//! For square N×N Toeplitz and circulant weights, B = 64 rows of f32, each benchmark is one forward
//! and one backward (gradients for the input and the stored values) of the slice kernel
//! (`tied_dfdx::kernels::fft::ShiftKernel`), forced onto the `direct` (O(N²) per row) or the
//! `fft` (O(N log N) per row) path. Run it on one thread to compare the arithmetic, not the
//! thread pool: `RAYON_NUM_THREADS=1 cargo bench --bench fft_crossover`.
//!
//! The kernels pick the FFT when `N_in·N_out > FFT_CROSSOVER·L·log₂ L` (`L` the FFT length);
//! `FFT_CROSSOVER` comes from this benchmark. Measured on the 2-core shared machine under load
//! (load average 2–4, so only the ordering is reliable; median µs, forward + backward, one
//! thread), with two rows per complex FFT:
//!
//! | N | Toeplitz direct | Toeplitz FFT | circulant direct | circulant FFT |
//! |---|---|---|---|---|
//! | 4 | 4.3 | 3.7 | 5.0 | 2.7 |
//! | 8 | 7.4 | 4.2 | 8.5 | 4.2 |
//! | 16 | 13.5 | 6.6 | 13.5 | 4.8 |
//! | 32 | 162 | 9.0 | 173 | 6.7 |
//! | 64 | 262 | 154 | 255 | 10.2 |
//! | 128 | 492 | 152 | 509 | 164 |
//!
//! (The steps near 150 µs are the hand-off to the thread pool, once a call has more than one
//! task.) The FFT path is the faster at every size; `FFT_CROSSOVER = 1` keeps the direct one for
//! the smallest shapes only (Toeplitz N ≤ 8, circulant N = 1 and 3), where both take a few µs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tied_dfdx::kernels::fft::ShiftKernel;

/// Rows per batch.
const B: usize = 64;

fn data(len: usize, seed: f32) -> Vec<f32> {
    (0..len).map(|t| (t as f32 * seed).sin()).collect()
}

fn step(k: ShiftKernel, v: &[f32], x: &[f32], g: &[f32], gx: &mut [f32], gv: &mut [f32]) {
    let mut y = vec![0.0; B * k.len_out()];
    let spectra = k.forward(v, x, &mut y, true);
    k.backward(v, x, &spectra, g, Some(gx), Some(gv));
    black_box(y);
}

fn crossover(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("FFT_CROSSOVER_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 32, 48, 64, 96, 128, 192, 256, 512]);
    for (name, make) in [
        (
            "toeplitz",
            ShiftKernel::toeplitz as fn(usize, usize) -> ShiftKernel,
        ),
        ("circulant", ShiftKernel::circulant),
    ] {
        let mut group = c.benchmark_group(format!("fft_crossover/{name}"));
        group
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .sample_size(20);
        for &n in &sizes {
            let kernel = make(n, n);
            let v = data(kernel.values(), 0.37);
            let x = data(B * n, 0.11);
            let g = data(B * n, 0.23);
            let mut gx = vec![0.0; B * n];
            let mut gv = vec![0.0; kernel.values()];
            for (path, fft) in [("direct", false), ("fft", true)] {
                let k = kernel.forcing(fft);
                group.bench_function(BenchmarkId::new(path, n), |b| {
                    b.iter(|| step(k, &v, &x, &g, &mut gx, &mut gv))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, crossover);
criterion_main!(benches);
