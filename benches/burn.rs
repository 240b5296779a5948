//! Every pattern on Burn (flex, its portable CPU backend, with autodiff), f32, against Burn's
//! dense `nn::Linear` in the same run: one step = the forward of a B = 64 batch through an N×N
//! layer with a bias (inside the fused op, `Tie::forward_with_bias`, as a generated layer runs
//! it), the sum, and the backward with the gradients of the input, the stored values and the
//! bias, as `benches/patterns.rs` and `benches/pytorch_baseline.py` measure it. Also, as
//! `benches/products.rs` and `benches/pytorch_products.py` measure them:
//!
//! - `autoencoder`: a `#[tied::burn::layer]` tied autoencoder N → N/4 → N (`dec` the
//!   transpose of `enc`, ReLU between), forward, sum, backward;
//! - `train-step-digits` (group `burn/digits`): one Adam step of `examples/digits_burn.rs`'
//!   model (64 → 16 → 64, sigmoid, MSE, batch 32, lr 5e-3).
//!
//! `cargo bench --features burn --bench burn` (N = 1024 and 4096; `-- 1024` for one size), on an
//! idle machine (`uptime`). docs/benchmarks.md has the table, beside PyTorch's best form of each
//! pattern from `python3 benches/pytorch_baseline.py --sizes 1024,4096` and
//! `python3 benches/pytorch_products.py` run straight after.

use std::hint::black_box;
use std::time::Duration;

// Burn through the facade: the facade has no Burn dev-dependency (it would be built for every
// example), and this is the Burn `tied` is built on.
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig, Relu, Sigmoid};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tied::burn::burn;
use tied::burn::Tie;

const B: usize = 64;

/// A tied autoencoder: `dec` is `encᵀ`, stored once.
#[tied::burn::layer(forward = [enc + enc_bias, Relu, dec + dec_bias])]
#[derive(Module, Debug)]
pub struct AutoEncoder {
    #[tied(shape = [inputs, hidden])]
    pub enc: Param<Tensor<2>>,
    #[tied(shape = [hidden])]
    pub enc_bias: Param<Tensor<1>>,
    #[tied(transpose_of = enc, shape = [hidden, inputs])]
    pub dec: Param<Tensor<2>>,
    #[tied(shape = [inputs])]
    pub dec_bias: Param<Tensor<1>>,
}

/// `examples/digits_burn.rs`' model: 64 → 16 → 64, `dec = encᵀ`, a sigmoid output.
#[tied::burn::layer(forward = [enc + enc_bias, Relu, dec + dec_bias, Sigmoid])]
#[derive(Module, Debug)]
pub struct DigitsAutoEncoder {
    #[tied(shape = [pixels, hidden])]
    pub enc: Param<Tensor<2>>,
    #[tied(shape = [hidden])]
    pub enc_bias: Param<Tensor<1>>,
    #[tied(transpose_of = enc, shape = [hidden, pixels])]
    pub dec: Param<Tensor<2>>,
    #[tied(shape = [pixels])]
    pub dec_bias: Param<Tensor<1>>,
}

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
    let y = tie.forward_with_bias(x.clone(), w.val(), b.val());
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
        let ae = AutoEncoderConfig::new(n, n / 4).init(&device);
        group.bench_function(BenchmarkId::new("autoencoder", n), |bench| {
            bench.iter(|| black_box(ae.forward(x.clone()).sum().backward()))
        });
        group.finish();
    }

    // One Adam step of examples/digits_burn.rs' model (its data has pixels in [0, 1]).
    let mut group = c.benchmark_group("burn/digits");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    let x: Tensor<2> = Tensor::random([32, 64], Distribution::Uniform(0.0, 1.0), &device);
    let mut model = Some(DigitsAutoEncoderConfig::new(64, 16).init(&device));
    let mut optim = AdamConfig::new().init();
    group.bench_function(BenchmarkId::new("train-step-digits", 32), |bench| {
        bench.iter(|| {
            let m = model.take().expect("the model is back after each step");
            let d = m.forward(x.clone()) - x.clone();
            let loss = (d.clone() * d).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            model = Some(optim.step(5e-3, m, grads));
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
