//! Where the FFT path of the Hankel/Toeplitz/circulant kernels starts to beat the direct one.
//!
//! For square N×N Toeplitz and circulant weights, B = 64 rows of f32, each benchmark is one forward
//! and one backward (gradients for the input and the stored values) of the slice kernel
//! (`tied_runtime::kernels::fft::ShiftKernel`), forced onto the `direct` (O(N²) per row) or the
//! `fft` (O(N log N) per row) path. Run it on one thread to compare the arithmetic, not the
//! thread pool: `RAYON_NUM_THREADS=1 cargo bench --bench fft_crossover`.
//!
//! The kernels pick the FFT when `N_in·N_out > FFT_CROSSOVER·L·log₂ L` (`L` the FFT length);
//! `FFT_CROSSOVER` comes from this benchmark. Measured on the 2-core shared machine under load
//! (load average 7–10, so only the ordering is reliable; median µs, forward + backward, one thread):
//!
//! | N | Toeplitz direct | Toeplitz FFT | circulant direct | circulant FFT |
//! |---|---|---|---|---|
//! | 16 | 99 | 90 | 161 | 99 |
//! | 32 | 48 | 140 | 110 | 199 |
//! | 64 | 212 | 163 | 483 | 350 |
//! | 96 | 753 | 209 | 1006 | 205 |
//! | 128 | 1888 | 358 | 1805 | 351 |
//! | 256 | 5891 | 331 | 2962 | 197 |
//! | 512 | 21694 | 2714 | 14530 | 1470 |
//!
//! The switch is between N = 32 and 64 for both; `FFT_CROSSOVER = 4` puts it there.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tied_runtime::kernels::fft::ShiftKernel;

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
