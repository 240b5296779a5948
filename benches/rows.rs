//! `rows` tie (`W[i, j] = w[i]`) against the dense alternatives, measured in the same run.
//!
//! For N inputs = N outputs and a batch of B = 64 rows (f32, `Cpu`), each benchmark is one forward
//! and, for `fwd_bwd`, one backward of the sum of the outputs:
//!
//! - `tied`: the `#[tied::layer]` below; its forward is the `Rows` lowering, `y = (x·w)` broadcast
//!   over the outputs `+ b`: O(B·(I + O)), no N×N tensor.
//! - `expand_matmul`: the forum thread's proposal, the same layer's N stored weights expanded to a
//!   dense, contiguous N×N `W` (`weight_effective`: broadcast, then `contiguous`; never a stride-0
//!   view into `matmul`) and `x.matmul(W) + b`: O(B·I·O) plus O(I·O) to build `W` and to sum its
//!   gradient back into `w`.
//! - `linear` (`fwd_bwd` only): a plain dfdx `Linear<N, N>`, N×N parameters: O(B·I·O).
//!
//! Before timing, each size checks that `tied` and `expand_matmul` agree (outputs and gradients),
//! and prints the parameter counts. Rerun with `cargo bench --bench rows`; see docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use tied::prelude::*;

/// The forum's layer: every row of `W` is one number.
#[tied::layer]
pub struct TiedLinear<const N: usize, E: Dtype, D: Device<E>> {
    /// `W[i, j] = weight[i]`: N stored values instead of N×N.
    #[tied(rows = N)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// Rows per batch.
const B: usize = 64;

type Tied<const N: usize> = TiedLinear<N, f32, Cpu>;
type Input<const N: usize, T = NoneTape> = Tensor<Rank2<B, N>, f32, Cpu, T>;
type Grads = Gradients<f32, Cpu>;

/// The tied layer's forward and backward: the structure-aware path.
fn tied_fwd_bwd<const N: usize>(layer: &Tied<N>, x: &Input<N>) -> Grads {
    let y = layer.forward(x.clone().traced(layer.alloc_grads()));
    y.sum().backward()
}

/// The forum's proposal on the same layer: expand `w` to a dense contiguous `W`, then matmul.
fn expand_fwd<const N: usize, T: Tape<f32, Cpu>>(layer: &Tied<N>, x: Input<N, T>) -> Input<N, T> {
    // One tape for x, W and the output: W's expansion is recorded on it, so its backward sums
    // every copy's gradient into the stored `w`.
    let (x, tape) = x.split_tape();
    let (w, tape) = layer.weight_effective(tape).split_tape();
    let y = x.put_tape(tape).matmul(w);
    y + layer.bias.retaped::<T>().broadcast()
}

fn expand_fwd_bwd<const N: usize>(layer: &Tied<N>, x: &Input<N>) -> Grads {
    let y = expand_fwd(layer, x.clone().traced(layer.alloc_grads()));
    y.sum().backward()
}

/// dfdx's dense `Linear<N, N>`: N×N parameters.
fn linear_fwd_bwd<const N: usize>(layer: &modules::Linear<N, N, f32, Cpu>, x: &Input<N>) -> Grads {
    let y = layer.forward(x.clone().traced(layer.alloc_grads()));
    y.sum().backward()
}

/// Largest |a - b| over the largest |b|, so the check scales with N.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// The two tied paths must compute the same thing, or the comparison means nothing.
fn check_agree<const N: usize>(layer: &Tied<N>, x: &Input<N>) {
    let tol = 1e-4;
    let fwd = rel_diff(
        &layer.forward(x.clone()).as_vec(),
        &expand_fwd(layer, x.clone()).as_vec(),
    );
    let (g_tied, g_expand) = (tied_fwd_bwd(layer, x), expand_fwd_bwd(layer, x));
    let dw = rel_diff(
        &g_tied.get(&layer.weight).as_vec(),
        &g_expand.get(&layer.weight).as_vec(),
    );
    let db = rel_diff(
        &g_tied.get(&layer.bias).as_vec(),
        &g_expand.get(&layer.bias).as_vec(),
    );
    assert!(
        fwd < tol && dw < tol && db < tol,
        "N = {N}: tied and expand+matmul disagree (relative: y {fwd:e}, dw {dw:e}, db {db:e})"
    );
}

fn bench_size<const N: usize>(c: &mut Criterion, samples: usize, measure: Duration) {
    let dev = Cpu::default();
    let tied = dev.build_module::<TiedLinearConfig<N>, f32>();
    let linear = dev.build_module::<Linear<N, N>, f32>();
    let x: Input<N> = dev.sample_normal();

    check_agree(&tied, &x);
    let (p_tied, p_linear) = (tied.num_trainable_params(), linear.num_trainable_params());
    let (w_tied, w_dense) = (N, N * N);
    let f32_bytes = std::mem::size_of::<f32>();
    eprintln!(
        "N = {N}, B = {B}: weight values stored: tied {w_tied} ({} B), dense {w_dense} ({} B); \
         trainable params (with bias): tied {p_tied}, Linear {p_linear}",
        w_tied * f32_bytes,
        w_dense * f32_bytes,
    );

    let mut group = c.benchmark_group(format!("rows_n{N}_b{B}"));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(samples)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measure);

    group.bench_function(BenchmarkId::new("fwd_bwd", "tied"), |b| {
        b.iter(|| black_box(tied_fwd_bwd(black_box(&tied), black_box(&x))))
    });
    group.bench_function(BenchmarkId::new("fwd_bwd", "expand_matmul"), |b| {
        b.iter(|| black_box(expand_fwd_bwd(black_box(&tied), black_box(&x))))
    });
    group.bench_function(BenchmarkId::new("fwd_bwd", "linear"), |b| {
        b.iter(|| black_box(linear_fwd_bwd(black_box(&linear), black_box(&x))))
    });
    group.bench_function(BenchmarkId::new("fwd", "tied"), |b| {
        b.iter(|| black_box(black_box(&tied).forward(black_box(&x).clone())))
    });
    group.bench_function(BenchmarkId::new("fwd", "expand_matmul"), |b| {
        b.iter(|| black_box(expand_fwd(black_box(&tied), black_box(&x).clone())))
    });
    group.finish();
}

fn rows_4096(c: &mut Criterion) {
    bench_size::<4096>(c, 10, Duration::from_secs(8));
}

fn rows_1024(c: &mut Criterion) {
    bench_size::<1024>(c, 20, Duration::from_secs(3));
}

criterion_group!(benches, rows_1024, rows_4096);
criterion_main!(benches);
