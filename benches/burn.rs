//! Every pattern on Burn (flex, its portable CPU backend, with autodiff), f32, against Burn's
//! dense `nn::Linear` in the same run: one step = the forward of a B = 64 batch through an N×N
//! layer with a bias, the sum, and the backward with the gradients of the input, the stored
//! values and the bias, as `benches/patterns.rs` and `benches/pytorch_baseline.py` measure it.
//!
//! `cargo bench --features burn --bench burn` (N = 1024 and 4096; `-- 1024` for one size), on an
//! idle machine (`uptime`). docs/benchmarks.md has the table, beside PyTorch's best form of each
//! pattern from `python3 benches/pytorch_baseline.py --sizes 1024,4096` run straight after.

use std::hint::black_box;
use std::time::Duration;

// Burn through the facade: the facade has no Burn dev-dependency (it would be built for every
// example), and this is the Burn `tied` is built on.
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tied::burn::burn;
use tied::burn::Tie;

const B: usize = 64;

/// The patterns at the shapes of `pytorch_baseline.py`: key and stated sizes for an N×N weight.
fn patterns(n: usize) -> Vec<(&'static str, &'static str, Vec<usize>)> {
    vec![
        ("rows", "rows", vec![]),
        ("cols", "cols", vec![]),
        ("scalar", "scalar", vec![]),
        ("tile64x64", "tile", vec![64, 64]),
        ("block64x64", "block", vec![64, 64]),
        ("circulant", "circulant", vec![]),
        ("toeplitz", "toeplitz", vec![2 * n - 1]),
        ("hankel", "hankel", vec![2 * n - 1]),
        ("symmetric", "symmetric", vec![n * (n + 1) / 2]),
        ("banded17", "banded", vec![17]),
        ("diagonal", "diagonal", vec![]),
        ("dense", "dense", vec![]),
    ]
}

fn uniform<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(dims, Distribution::Uniform(-0.1, 0.1), device)
}

/// One training step's work through a tie with a bias.
fn tied_step<const S: usize>(tie: &Tie, w: &Param<Tensor<S>>, b: &Param<Tensor<1>>, x: &Tensor<2>) {
    let y = tie.forward(x.clone(), w.val()) + b.val().unsqueeze::<2>();
    black_box(y.sum().backward());
}

fn linear_step(linear: &Linear, x: &Tensor<2>) {
    black_box(linear.forward(x.clone()).sum().backward());
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let only: Option<usize> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    for n in [1024, 4096] {
        if only.is_some_and(|only| only != n) {
            continue;
        }
        let mut group = c.benchmark_group(format!("burn/{n}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(if n > 1024 { 8 } else { 3 }));
        let x = uniform([B, n], &device).require_grad();
        let linear: Linear = LinearConfig::new(n, n).init(&device);
        group.bench_function(BenchmarkId::new("burn-linear", n), |bench| {
            bench.iter(|| linear_step(&linear, &x))
        });
        // Burn's own floor for such a step: one element-wise op on x, the bias add, the sum and
        // the backward (PyTorch's `harness` row in pytorch_baseline.py is the same without the
        // bias).
        let b = Param::from_tensor(uniform([n], &device));
        group.bench_function(BenchmarkId::new("harness", n), |bench| {
            bench.iter(|| {
                let y = x.clone().mul_scalar(2.0) + b.val().unsqueeze::<2>();
                black_box(y.sum().backward())
            })
        });
        for (name, key, stated) in patterns(n) {
            let tie = Tie::new(key, n, n, &stated).expect("the benchmark's sizes fit");
            let b = Param::from_tensor(uniform([n], &device));
            let shape = tie.stored_shape();
            group.bench_function(BenchmarkId::new(name, n), |bench| match shape.as_slice() {
                &[len] => {
                    let w = Param::from_tensor(uniform([len], &device));
                    bench.iter(|| tied_step(&tie, &w, &b, &x))
                }
                &[r, c] => {
                    let w = Param::from_tensor(uniform([r, c], &device));
                    bench.iter(|| tied_step(&tie, &w, &b, &x))
                }
                other => unreachable!("stored shapes are rank 1 or 2, not {other:?}"),
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
