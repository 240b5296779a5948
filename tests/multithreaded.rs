//! The large case: N = 1024 inputs and outputs, B = 256, 16 rayon threads, repeated. dfdx 0.13's
//! CPU matmul races when a stride-0 (broadcast) tensor on the tape is an operand, so wrong
//! gradients show up only in some runs, at large sizes, with many threads: exactly this setting.
//! Every lowering that calls matmul, and the effective-weight accessor, must match the dense
//! reference every time.
//!
//! The test is sensitive: with a stride-0 `broadcast()` in place of the effective weight it failed
//! in each of 3 runs here (1–3 of the 10 repeats with a wrong gradient entry).
//!
//! The fused CPU kernels split their rows over the same rayon threads: each is checked here too,
//! repeated on the same values against one dense reference.
//!
//! Every test here sets `RAYON_NUM_THREADS` before anything else, so it is set before rayon's
//! pool exists whichever test starts first. That needs a process of its own, so this file is a test
//! binary apart from `tests/it`: there, another module's test would build rayon's pool first, with
//! one thread per core, and these tests would silently run under fewer threads.

#[path = "it/common.rs"]
mod common;

use common::*;
use tied::prelude::*;
use tied::{
    Banded, Batch, Block, Circulant, Cols, Dense, Diagonal, Hankel, LowerTriangular, Rows, Scalar,
    Skew, Symmetric, Tile, Toeplitz, Transposed, UpperTriangular,
};
use tied_dfdx::kernels::par::with_min_work_per_chunk;

const N: usize = 1024;
const B: usize = 256;
const REPEATS: u64 = 10;

#[test]
fn every_matmul_lowering_matches_the_dense_reference_under_16_threads() {
    std::env::set_var("RAYON_NUM_THREADS", "16");
    let dev = Cpu::default();
    let mut mismatches = Vec::new();
    for run in 0..REPEATS {
        let mut layer = dev.build_module::<TiedLinearConfig<N>, f64>();
        layer.weight = dev.tensor_from_vec(values(N, 100 + run), (Const,));
        layer.bias = dev.tensor_from_vec(values(N, 200 + run), (Const,));
        let x: Tensor<(usize, Const<N>), f64, Cpu> =
            dev.tensor_from_vec(values(B * N, 300 + run), (B, Const));
        let r = values(B * N, 400 + run);
        let rt: Tensor<(usize, Const<N>), f64, Cpu> = dev.tensor_from_vec(r.clone(), (B, Const));
        let want = reference::<Rows, N, N, f64>(
            &layer.weight.as_vec(),
            Some(&layer.bias.as_vec()),
            &x.as_vec(),
            &r,
        );

        // The generated forward (structure-aware, no N×N tensor).
        let y = layer.forward(x.trace(Gradients::leaky()));
        let y_vals = y.retaped::<NoneTape>().as_vec();
        let grads = (y * rt.clone()).sum::<Rank0, _>().backward();
        let got = [
            ("forward: y", y_vals, &want.y),
            (
                "forward: grad(weight)",
                grads.get(&layer.weight).as_vec(),
                &want.grad_stored,
            ),
            (
                "forward: grad(bias)",
                grads.get(&layer.bias).as_vec(),
                &want.grad_bias,
            ),
            ("forward: grad(x)", grads.get(&x).as_vec(), &want.grad_x),
        ];

        // A hand-written forward through the effective weight, which goes into matmul.
        let w = layer.weight_effective(OwnedTape::default());
        let y2 = x.trace(Gradients::leaky()).matmul(w);
        let grads2 = (y2 * rt).sum::<Rank0, _>().backward();
        let w_grad = grads2.get(&layer.weight).as_vec();

        for (what, got, want) in got
            .iter()
            .map(|(w, g, t)| (*w, g.as_slice(), t.as_slice()))
            .chain([(
                "effective: grad(weight)",
                w_grad.as_slice(),
                want.grad_stored.as_slice(),
            )])
        {
            let bad = differing(got, want);
            if bad > 0 {
                mismatches.push(format!("run {run}: {what}: {bad} entries differ"));
            }
        }
    }

    // Every other lowering that calls matmul: on the stored block (tile, block), on a permuted
    // stored weight (transpose of dense), or on a gathered W (the index family).
    check_lowering::<Tile<32, 32>, N, N>(&mut mismatches);
    check_lowering::<Block<32, 32>, N, N>(&mut mismatches);
    check_lowering::<Transposed<Dense>, N, N>(&mut mismatches);
    check_lowering::<Transposed<Tile<32, 32>>, N, N>(&mut mismatches);
    check_lowering::<Toeplitz<{ 2 * N - 1 }>, N, N>(&mut mismatches);
    check_lowering::<Circulant, N, N>(&mut mismatches);
    check_lowering::<Hankel<{ 2 * N - 1 }>, N, N>(&mut mismatches);
    check_lowering::<Symmetric<{ N * (N + 1) / 2 }>, N, N>(&mut mismatches);
    check_lowering::<LowerTriangular<{ N * (N + 1) / 2 }>, N, N>(&mut mismatches);
    check_lowering::<Banded<65>, N, N>(&mut mismatches);

    // Every fused broadcast kernel (their own threads: disjoint rows, per-chunk gradient
    // partials), with the bias fused in. At this size they would run on one thread (a second
    // one does not pay below `MIN_WORK_PER_CHUNK`): split them as a large batch would be.
    with_min_work_per_chunk(1 << 12, || check_broadcast_kernels(&mut mismatches));
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

fn check_broadcast_kernels(mismatches: &mut Vec<String>) {
    check_fused::<Rows, N, N>(mismatches);
    check_fused::<Cols, N, N>(mismatches);
    check_fused::<Scalar, N, N>(mismatches);
    check_fused::<Tile<64, 64>, N, N>(mismatches);
    check_fused::<Block<64, 64>, N, N>(mismatches);
    check_fused::<Transposed<Rows>, N, N>(mismatches);
    check_fused::<Transposed<Cols>, N, N>(mismatches);
    check_fused::<Transposed<Scalar>, N, N>(mismatches);
    check_fused::<Transposed<Tile<64, 32>>, N, N>(mismatches);
    check_fused::<Transposed<Block<32, 64>>, N, N>(mismatches);
    check_fused::<Diagonal, N, N>(mismatches);
    check_fused::<Transposed<Diagonal>, N, N>(mismatches);
}

/// A user pattern: three values in stripes along the anti-diagonals, zero on the diagonal (the
/// shared `u32` table kernel).
pub struct Stripes;

impl<const I: usize, const O: usize> Tie<I, O> for Stripes {
    type Stored = Rank1<3>;
    const NAME: &'static str = "stripes";
    fn index(i: usize, j: usize) -> Option<usize> {
        (i != j).then_some((i + j) % 3)
    }
}

/// The index family's fused kernels (FFT and band kernels with rows split over the threads and
/// per-task gradient partials; `W` materialized on all cores and multiplied with gemm), their
/// transposes and rectangular shapes, with the bias fused in.
#[test]
fn every_index_kernel_matches_the_dense_reference_under_16_threads() {
    std::env::set_var("RAYON_NUM_THREADS", "16");
    const H: usize = N / 2;
    let mut mismatches = Vec::new();
    check_fused::<Toeplitz<{ 2 * N - 1 }>, N, N>(&mut mismatches);
    check_fused::<Transposed<Toeplitz<{ 2 * N - 1 }>>, N, N>(&mut mismatches);
    check_fused::<Toeplitz<{ N + H - 1 }>, N, H>(&mut mismatches);
    check_fused::<Transposed<Toeplitz<{ N + H - 1 }>>, H, N>(&mut mismatches);
    check_fused::<Circulant, N, N>(&mut mismatches);
    check_fused::<Transposed<Circulant>, N, N>(&mut mismatches);
    check_fused::<Hankel<{ 2 * N - 1 }>, N, N>(&mut mismatches);
    check_fused::<Transposed<Hankel<{ N + H - 1 }>>, H, N>(&mut mismatches);
    check_fused::<Banded<17>, N, N>(&mut mismatches);
    check_fused::<Transposed<Banded<17>>, N, N>(&mut mismatches);
    check_fused::<Symmetric<{ N * (N + 1) / 2 }>, N, N>(&mut mismatches);
    check_fused::<UpperTriangular<{ N * (N + 1) / 2 }>, N, N>(&mut mismatches);
    check_fused::<Transposed<LowerTriangular<{ N * (N + 1) / 2 }>>, N, N>(&mut mismatches);
    check_fused::<Skew<{ N * (N - 1) / 2 }>, N, N>(&mut mismatches);
    check_fused::<Transposed<Skew<{ N * (N - 1) / 2 }>>, N, N>(&mut mismatches);
    check_fused::<Stripes, N, N>(&mut mismatches);
    check_fused::<Transposed<Stripes>, H, N>(&mut mismatches);
    // The dense products (faer's multiply): both directions, square and rectangular.
    check_fused::<Dense, N, N>(&mut mismatches);
    check_fused::<Dense, N, H>(&mut mismatches);
    check_fused::<Transposed<Dense>, N, N>(&mut mismatches);
    check_fused::<Transposed<Dense>, H, N>(&mut mismatches);
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// `x·W + b` through `try_apply_biased` (the fused kernel on the CPU) against the dense
/// reference: one reference, `REPEATS` kernel runs on the same values.
fn check_fused<P: Tie<I, O>, const I: usize, const O: usize>(mismatches: &mut Vec<String>) {
    let dev = Cpu::default();
    let numel = <P::Stored as ConstShape>::NUMEL;
    let stored: Tensor<P::Stored, f64, Cpu> =
        dev.tensor_from_vec(values(numel, 800), Default::default());
    let bias: Tensor<Rank1<O>, f64, Cpu> = dev.tensor_from_vec(values(O, 801), (Const,));
    let x: Batch<I, f64, Cpu, NoneTape> = dev.tensor_from_vec(values(B * I, 802), (B, Const));
    let r = values(B * O, 803);
    let rt: Batch<O, f64, Cpu, NoneTape> = dev.tensor_from_vec(r.clone(), (B, Const));
    let want = reference::<P, I, O, f64>(&stored.as_vec(), Some(&bias.as_vec()), &x.as_vec(), &r);
    for run in 0..REPEATS {
        let y = tied_dfdx::try_apply_biased::<P, I, O, f64, Cpu, _, _>(
            x.trace(Gradients::leaky()),
            &stored,
            &bias,
        )
        .unwrap();
        let y_vals = y.retaped::<NoneTape>().as_vec();
        let grads = (y * rt.clone()).sum::<Rank0, _>().backward();
        for (what, got, want) in [
            ("y", y_vals, &want.y),
            (
                "grad(stored)",
                grads.get(&stored).as_vec(),
                &want.grad_stored,
            ),
            ("grad(bias)", grads.get(&bias).as_vec(), &want.grad_bias),
            ("grad(x)", grads.get(&x).as_vec(), &want.grad_x),
        ] {
            let bad = differing(&got, want);
            if bad > 0 {
                mismatches.push(format!(
                    "fused {} run {run}: {what}: {bad} entries differ",
                    P::NAME
                ));
            }
        }
    }
}

/// `P::try_apply` against the dense reference, `REPEATS` times with fresh values.
fn check_lowering<P: Tie<I, O>, const I: usize, const O: usize>(mismatches: &mut Vec<String>) {
    let dev = Cpu::default();
    let numel = <P::Stored as ConstShape>::NUMEL;
    for run in 0..REPEATS {
        let stored: Tensor<P::Stored, f64, Cpu> =
            dev.tensor_from_vec(values(numel, 500 + run), Default::default());
        let x: Batch<I, f64, Cpu, NoneTape> =
            dev.tensor_from_vec(values(B * I, 600 + run), (B, Const));
        let r = values(B * O, 700 + run);
        let rt: Batch<O, f64, Cpu, NoneTape> = dev.tensor_from_vec(r.clone(), (B, Const));
        let want = reference::<P, I, O, f64>(&stored.as_vec(), None, &x.as_vec(), &r);
        let y = P::try_apply(x.trace(Gradients::leaky()), &stored).unwrap();
        let y_vals = y.retaped::<NoneTape>().as_vec();
        let grads = (y * rt).sum::<Rank0, _>().backward();
        for (what, got, want) in [
            ("y", y_vals, &want.y),
            (
                "grad(stored)",
                grads.get(&stored).as_vec(),
                &want.grad_stored,
            ),
            ("grad(x)", grads.get(&x).as_vec(), &want.grad_x),
        ] {
            let bad = differing(&got, want);
            if bad > 0 {
                mismatches.push(format!(
                    "{} run {run}: {what}: {bad} entries differ",
                    P::NAME
                ));
            }
        }
    }
}

fn differing(got: &[f64], want: &[f64]) -> usize {
    got.iter()
        .zip(want)
        .filter(|(g, w)| (*g - *w).abs() > 1e-9 * g.abs().max(w.abs()).max(1.0))
        .count()
}
