//! The fused CPU kernels (`tied::kernels`) against the plain dfdx-op lowering they replace, a dense
//! reference and f64 finite differences: every broadcast pattern and its transpose, with no bias,
//! a plain bias and tied biases, 1-D/2-D/3-D inputs, `OwnedTape` and `NoneTape`, gradients that
//! accumulate into existing ones, f32 and f64, and empty batches.

use crate::common::*;
use tied::prelude::*;
use tied::{Batch, Block, Cols, Dense, Diagonal, Rows, Scalar, Tie, Tile, Transposed};
use tied_dfdx::__private::TiedBias;
use tied_dfdx::kernels::with_reference;
use tied_dfdx::{try_apply_biased, try_linear, Bias};

/// The dtypes kernels run in.
trait Float: Dtype + Into<f64> + num_like::Zero
where
    Cpu: Device<Self>,
{
    fn of(v: f64) -> Self;
    /// Relative tolerance between the fused and the reference lowering (different summation
    /// orders).
    const TOL: f64;
}
impl Float for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    const TOL: f64 = 1e-5;
}
impl Float for f64 {
    fn of(v: f64) -> Self {
        v
    }
    const TOL: f64 = 1e-12;
}

fn vals<E: Float>(n: usize, seed: u64) -> Vec<E>
where
    Cpu: Device<E>,
{
    values(n, seed).into_iter().map(E::of).collect()
}

/// `t`'s values; dfdx 0.13's `as_vec` panics on an empty tensor.
fn values_of<S: Shape, E: Dtype, T>(t: &Tensor<S, E, Cpu, T>) -> Vec<E> {
    if t.shape().num_elements() == 0 {
        Vec::new()
    } else {
        t.as_vec()
    }
}

/// The bias of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BiasKind {
    None,
    /// A stored `Rank1<O>`.
    Plain,
    /// One value for every output (`TiedBias<Scalar>`).
    TiedScalar,
    /// `O` values through a pattern's index (`TiedBias<Cols>`).
    TiedCols,
    /// Two values, each over half the outputs (`TiedBias<Block<1, 2>>`).
    TiedBlock,
}

const BIASES: [BiasKind; 5] = [
    BiasKind::None,
    BiasKind::Plain,
    BiasKind::TiedScalar,
    BiasKind::TiedCols,
    BiasKind::TiedBlock,
];

/// A forward and its gradients for the loss `Σ y ⊙ r`.
#[derive(Debug, Clone)]
struct Run<E> {
    y: Vec<E>,
    grad_x: Vec<E>,
    grad_stored: Vec<E>,
    grad_bias: Vec<E>,
}

/// The parameters of a case: stored values and bias values.
struct Params<P: Tie<I, O>, const I: usize, const O: usize, E: Float>
where
    Cpu: Device<E>,
{
    stored: Tensor<P::Stored, E, Cpu>,
    bias: BiasKind,
    plain: Tensor<Rank1<O>, E, Cpu>,
    scalar: Tensor<Rank1<1>, E, Cpu>,
    block: Tensor<Rank2<1, 2>, E, Cpu>,
}

impl<P: Tie<I, O>, const I: usize, const O: usize, E: Float> Params<P, I, O, E>
where
    Cpu: Device<E>,
{
    fn new(bias: BiasKind, seed: u64) -> Self {
        let dev = Cpu::default();
        let numel = <P::Stored as ConstShape>::NUMEL;
        Params {
            stored: dev.tensor_from_vec(vals(numel, seed), Default::default()),
            bias,
            plain: dev.tensor_from_vec(vals(O, seed + 1), (Const,)),
            scalar: dev.tensor_from_vec(vals(1, seed + 2), (Const,)),
            block: dev.tensor_from_vec(vals(2, seed + 3), (Const, Const)),
        }
    }

    /// `y = x·W + b` for input rows `x`, with `f` choosing how the bias is passed.
    fn apply<T: Tape<E, Cpu>>(&self, x: Batch<I, E, Cpu, T>) -> Batch<O, E, Cpu, T> {
        fn go<P: Tie<I, O>, const I: usize, const O: usize, E: Float, T: Tape<E, Cpu>>(
            x: Batch<I, E, Cpu, T>,
            stored: &Tensor<P::Stored, E, Cpu>,
            bias: &impl Bias<O, E, Cpu>,
        ) -> Batch<O, E, Cpu, T>
        where
            Cpu: Device<E>,
        {
            try_apply_biased::<P, I, O, E, Cpu, T, _>(x, stored, bias).unwrap()
        }
        match self.bias {
            BiasKind::None => go::<P, I, O, E, T>(x, &self.stored, &()),
            BiasKind::Plain => go::<P, I, O, E, T>(x, &self.stored, &self.plain),
            BiasKind::TiedScalar => go::<P, I, O, E, T>(
                x,
                &self.stored,
                &TiedBias::<Scalar, O, E, Cpu>::new(&self.scalar),
            ),
            BiasKind::TiedCols => go::<P, I, O, E, T>(
                x,
                &self.stored,
                &TiedBias::<Cols, O, E, Cpu>::new(&self.plain),
            ),
            BiasKind::TiedBlock => go::<P, I, O, E, T>(
                x,
                &self.stored,
                &TiedBias::<Block<1, 2>, O, E, Cpu>::new(&self.block),
            ),
        }
    }

    fn grad_bias(&self, grads: &Gradients<E, Cpu>) -> Vec<E> {
        match self.bias {
            BiasKind::None => Vec::new(),
            BiasKind::Plain | BiasKind::TiedCols => grads.get(&self.plain).as_vec(),
            BiasKind::TiedScalar => grads.get(&self.scalar).as_vec(),
            BiasKind::TiedBlock => grads.get(&self.block).as_vec(),
        }
    }

    /// Forward, backward of `Σ y ⊙ r`, every gradient; `grads` are accumulated into.
    fn run(&self, x: &Batch<I, E, Cpu, NoneTape>, r: &[E], grads: Gradients<E, Cpu>) -> Run<E> {
        let dev = Cpu::default();
        let y_plain = values_of(&self.apply(x.clone()));
        let y = self.apply(x.trace(grads));
        assert_eq!(
            values_of(&y),
            y_plain,
            "OwnedTape and NoneTape forwards differ"
        );
        let grads = if x.shape().0 == 0 {
            // dfdx 0.13's `sum` divides by zero on an empty tensor: run the tape from a scalar
            // that carries it instead (the output's gradient is then zeros).
            let (_, tape) = y.split_tape();
            let s: Tensor<Rank0, E, Cpu> = dev.zeros();
            s.put_tape(tape).backward()
        } else {
            let rt: Batch<O, E, Cpu, NoneTape> = dev.tensor_from_vec(r.to_vec(), *y.shape());
            (y * rt).sum::<Rank0, _>().backward()
        };
        Run {
            y: y_plain,
            grad_x: values_of(&grads.get(x)),
            grad_stored: grads.get(&self.stored).as_vec(),
            grad_bias: self.grad_bias(&grads),
        }
    }
}

fn assert_runs_close<E: Float>(what: &str, got: &Run<E>, want: &Run<E>, tol: f64)
where
    Cpu: Device<E>,
{
    assert_close(&format!("{what}: y"), &got.y, &want.y, tol);
    assert_close(&format!("{what}: grad(x)"), &got.grad_x, &want.grad_x, tol);
    assert_close(
        &format!("{what}: grad(stored)"),
        &got.grad_stored,
        &want.grad_stored,
        tol,
    );
    assert_close(
        &format!("{what}: grad(bias)"),
        &got.grad_bias,
        &want.grad_bias,
        tol,
    );
}

/// Pattern `P` on an `n`-row batch, every bias: fused = reference lowering = dense reference,
/// gradients accumulate, empty batches give zeros.
fn check<P: Tie<I, O>, const I: usize, const O: usize, E: Float>(n: usize)
where
    Cpu: Device<E>,
{
    let dev = Cpu::default();
    for (k, bias) in BIASES.into_iter().enumerate() {
        let what = format!(
            "{} {I}x{O} n={n} bias={bias:?} {}",
            P::NAME,
            std::any::type_name::<E>()
        );
        let params = Params::<P, I, O, E>::new(bias, 10 * k as u64);
        let x: Batch<I, E, Cpu, NoneTape> = dev.tensor_from_vec(vals(n * I, 99), (n, Const));
        let r = vals(n * O, 77);

        let fused = params.run(&x, &r, Gradients::leaky());
        if n == 0 {
            // The dfdx-op lowerings cannot run on an empty batch in dfdx 0.13 (`sum` divides by
            // zero); the kernel gives an empty output and zero gradients.
            assert!(fused.y.is_empty() && fused.grad_x.is_empty(), "{what}");
            assert!(fused.grad_stored.iter().all(|g| *g == E::zero()), "{what}");
            assert!(fused.grad_bias.iter().all(|g| *g == E::zero()), "{what}");
            continue;
        }
        let ops = with_reference(|| params.run(&x, &r, Gradients::leaky()));
        assert_runs_close(&format!("{what}: fused vs dfdx ops"), &fused, &ops, E::TOL);

        if matches!(bias, BiasKind::None | BiasKind::Plain) {
            let b = (bias == BiasKind::Plain).then(|| params.plain.as_vec());
            let dense =
                reference::<P, I, O, E>(&params.stored.as_vec(), b.as_deref(), &x.as_vec(), &r);
            let dense = Run {
                y: dense.y,
                grad_x: dense.grad_x,
                grad_stored: dense.grad_stored,
                grad_bias: b.map_or_else(Vec::new, |_| dense.grad_bias),
            };
            assert_runs_close(&format!("{what}: fused vs dense"), &fused, &dense, E::TOL);
        }

        // Gradients already there (a second step without zeroing, or a parameter used twice) are
        // added to, not overwritten.
        let first = {
            let y = params.apply(x.trace(Gradients::leaky()));
            let rt: Batch<O, E, Cpu, NoneTape> = dev.tensor_from_vec(r.clone(), *y.shape());
            (y * rt).sum::<Rank0, _>().backward()
        };
        let twice = params.run(&x, &r, first);
        let doubled = |v: &[E]| v.iter().map(|&a| a + a).collect::<Vec<E>>();
        let want = Run {
            y: fused.y.clone(),
            grad_x: doubled(&fused.grad_x),
            grad_stored: doubled(&fused.grad_stored),
            grad_bias: doubled(&fused.grad_bias),
        };
        assert_runs_close(&format!("{what}: accumulated"), &twice, &want, E::TOL);
    }
}

/// Every broadcast pattern, its transpose, and the degenerate tilings (one tile = dense, 1×1 =
/// scalar), at one size: f32 and f64, several batch sizes including 0.
macro_rules! check_all {
    ($e:ty, $n:expr) => {
        check::<Rows, 4, 6, $e>($n);
        check::<Cols, 4, 6, $e>($n);
        check::<Scalar, 4, 6, $e>($n);
        check::<Tile<2, 3>, 4, 6, $e>($n);
        check::<Block<2, 3>, 4, 6, $e>($n);
        check::<Tile<4, 6>, 4, 6, $e>($n);
        check::<Tile<2, 6>, 4, 6, $e>($n);
        check::<Block<1, 1>, 4, 6, $e>($n);
        check::<Block<4, 2>, 4, 6, $e>($n);
        check::<Transposed<Rows>, 4, 6, $e>($n);
        check::<Transposed<Cols>, 4, 6, $e>($n);
        check::<Transposed<Scalar>, 4, 6, $e>($n);
        check::<Transposed<Tile<3, 2>>, 4, 6, $e>($n);
        check::<Transposed<Block<3, 2>>, 4, 6, $e>($n);
        check::<Diagonal, 6, 6, $e>($n);
        check::<Transposed<Diagonal>, 6, 6, $e>($n);
    };
}

#[test]
fn every_broadcast_kernel_matches_the_dfdx_ops_and_the_dense_reference_f64() {
    for n in [1, 3, 17] {
        check_all!(f64, n);
    }
}

#[test]
fn every_broadcast_kernel_matches_the_dfdx_ops_and_the_dense_reference_f32() {
    for n in [1, 5] {
        check_all!(f32, n);
    }
}

#[test]
fn empty_batches_give_empty_outputs_and_zero_gradients() {
    check_all!(f64, 0);
    let dev = Cpu::default();
    let params = Params::<Rows, 4, 6, f64>::new(BiasKind::Plain, 1);
    let x: Batch<4, f64, Cpu, NoneTape> = dev.tensor_from_vec(Vec::new(), (0, Const));
    let run = params.run(&x, &[], Gradients::leaky());
    assert!(run.y.is_empty() && run.grad_x.is_empty());
    assert_eq!(run.grad_stored, vec![0.0; 4]);
    assert_eq!(run.grad_bias, vec![0.0; 6]);
}

/// Central differences of `Σ y ⊙ r` in every stored value, bias value and input.
fn finite_differences<P: Tie<I, O>, const I: usize, const O: usize>(bias: BiasKind) {
    let dev = Cpu::default();
    let n = 3;
    let params = Params::<P, I, O, f64>::new(bias, 5);
    let x: Batch<I, f64, Cpu, NoneTape> = dev.tensor_from_vec(vals(n * I, 6), (n, Const));
    let r = vals::<f64>(n * O, 7);
    let run = params.run(&x, &r, Gradients::leaky());
    let loss = |p: &Params<P, I, O, f64>, x: &Batch<I, f64, Cpu, NoneTape>| -> f64 {
        p.apply(x.clone())
            .as_vec()
            .iter()
            .zip(&r)
            .map(|(y, r)| y * r)
            .sum()
    };
    let h = 1e-6;
    let nudge = |v: &[f64], k: usize, d: f64| {
        let mut v = v.to_vec();
        v[k] += d;
        v
    };
    let what = format!("{} bias={bias:?}", P::NAME);
    let numel = <P::Stored as ConstShape>::NUMEL;
    let stored = params.stored.as_vec();
    for k in 0..numel {
        let at = |d: f64| {
            let mut p = Params::<P, I, O, f64>::new(bias, 5);
            p.stored = dev.tensor_from_vec(nudge(&stored, k, d), Default::default());
            loss(&p, &x)
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        assert_close(
            &format!("{what}: d/dstored[{k}]"),
            &[run.grad_stored[k]],
            &[fd],
            1e-6,
        );
    }
    let xv = x.as_vec();
    for k in 0..n * I {
        let at = |d: f64| loss(&params, &dev.tensor_from_vec(nudge(&xv, k, d), (n, Const)));
        let fd = (at(h) - at(-h)) / (2.0 * h);
        assert_close(&format!("{what}: d/dx[{k}]"), &[run.grad_x[k]], &[fd], 1e-6);
    }
    for k in 0..run.grad_bias.len() {
        let at = |d: f64| {
            let mut p = Params::<P, I, O, f64>::new(bias, 5);
            match bias {
                BiasKind::Plain | BiasKind::TiedCols => {
                    p.plain = dev.tensor_from_vec(nudge(&p.plain.as_vec(), k, d), (Const,))
                }
                BiasKind::TiedScalar => {
                    p.scalar = dev.tensor_from_vec(nudge(&p.scalar.as_vec(), k, d), (Const,))
                }
                BiasKind::TiedBlock => {
                    p.block = dev.tensor_from_vec(nudge(&p.block.as_vec(), k, d), (Const, Const))
                }
                BiasKind::None => unreachable!(),
            }
            loss(&p, &x)
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        assert_close(
            &format!("{what}: d/dbias[{k}]"),
            &[run.grad_bias[k]],
            &[fd],
            1e-6,
        );
    }
}

#[test]
fn every_broadcast_kernel_matches_finite_differences() {
    for bias in BIASES {
        finite_differences::<Rows, 4, 6>(bias);
        finite_differences::<Cols, 4, 6>(bias);
        finite_differences::<Scalar, 4, 6>(bias);
        finite_differences::<Tile<2, 3>, 4, 6>(bias);
        finite_differences::<Block<2, 3>, 4, 6>(bias);
        finite_differences::<Transposed<Rows>, 4, 6>(bias);
        finite_differences::<Transposed<Tile<3, 2>>, 4, 6>(bias);
        finite_differences::<Transposed<Block<3, 2>>, 4, 6>(bias);
        finite_differences::<Diagonal, 6, 6>(bias);
        finite_differences::<Transposed<Diagonal>, 6, 6>(bias);
    }
}

/// 1-D and 3-D inputs go through the same kernel as the flattened 2-D batch.
#[test]
fn one_two_and_three_dimensional_inputs_agree() {
    let dev = Cpu::default();
    let stored: Tensor<Rank2<2, 3>, f64, Cpu> = dev.tensor_from_vec(vals(6, 1), (Const, Const));
    let bias: Tensor<Rank1<6>, f64, Cpu> = dev.tensor_from_vec(vals(6, 2), (Const,));
    let x2: Batch<4, f64, Cpu, NoneTape> = dev.tensor_from_vec(vals(24, 3), (6, Const));
    let g2 = {
        let y = try_linear::<Tile<2, 3>, 4, 6, f64, Cpu, _, _>(x2.leaky_trace(), &stored, &bias)
            .unwrap();
        let grads = y.sum::<Rank0, _>().backward();
        (grads.get(&x2).as_vec(), grads.get(&stored).as_vec())
    };
    let x3: Tensor<(usize, usize, Const<4>), f64, Cpu> =
        dev.tensor_from_vec(x2.as_vec(), (2, 3, Const));
    let y3 =
        try_linear::<Tile<2, 3>, 4, 6, f64, Cpu, _, _>(x3.leaky_trace(), &stored, &bias).unwrap();
    assert_eq!(y3.shape(), &(2, 3, Const::<6>));
    let y2 = try_linear::<Tile<2, 3>, 4, 6, f64, Cpu, _, _>(x2.clone(), &stored, &bias).unwrap();
    assert_close("3-D y", &y3.as_vec(), &y2.as_vec(), 1e-12);
    let grads = y3.sum::<Rank0, _>().backward();
    assert_close("3-D grad(x)", &grads.get(&x3).as_vec(), &g2.0, 1e-12);
    assert_close(
        "3-D grad(stored)",
        &grads.get(&stored).as_vec(),
        &g2.1,
        1e-12,
    );

    // One row as a vector: the first row of the batch.
    let x1: Tensor<Rank1<4>, f64, Cpu> = dev.tensor_from_vec(x2.as_vec()[..4].to_vec(), (Const,));
    let y1 =
        try_linear::<Tile<2, 3>, 4, 6, f64, Cpu, _, _>(x1.leaky_trace(), &stored, &bias).unwrap();
    assert_close("1-D y", &y1.as_vec(), &y2.as_vec()[..6], 1e-12);
    let grads = y1.sum::<Rank0, _>().backward();
    assert_close("1-D grad(x)", &grads.get(&x1).as_vec(), &g2.0[..4], 1e-12);
}

/// A broadcast (stride-0) input view is made contiguous on the tape first: its gradient still
/// reaches the tensor it views.
#[test]
fn a_broadcast_input_view_gets_its_gradient() {
    let dev = Cpu::default();
    let stored: Tensor<Rank1<4>, f64, Cpu> = dev.tensor_from_vec(vals(4, 1), (Const,));
    let row: Tensor<Rank1<4>, f64, Cpu> = dev.tensor_from_vec(vals(4, 2), (Const,));
    let run = |stored: &Tensor<Rank1<4>, f64, Cpu>| {
        let x: Batch<4, f64, Cpu, _> = row.leaky_trace().broadcast_like(&(3, Const::<4>));
        let y = try_apply_biased::<Rows, 4, 6, f64, Cpu, _, _>(x, stored, &()).unwrap();
        let grads = y.sum::<Rank0, _>().backward();
        (grads.get(&row).as_vec(), grads.get(stored).as_vec())
    };
    let fused = run(&stored);
    let reference = with_reference(|| run(&stored));
    assert_close("grad(row)", &fused.0, &reference.0, 1e-12);
    assert_close("grad(stored)", &fused.1, &reference.1, 1e-12);
}

/// One tensor as both the input and the stored values: both gradients land in one buffer, which
/// the kernel must not write through two views at once. `y[j] = Σ_i w_i²`, so
/// `dL/dw_i = 2·w_i·Σ_j r_j` for `L = Σ_j r_j·y_j`.
#[test]
fn the_same_tensor_as_input_and_stored_values() {
    let dev = Cpu::default();
    let w: Tensor<Rank1<4>, f64, Cpu> = dev.tensor_from_vec(vals(4, 1), (Const,));
    let x: Batch<4, f64, Cpu, _> = w.leaky_trace().reshape_like(&(1, Const::<4>));
    let y = try_apply_biased::<Rows, 4, 3, f64, Cpu, _, _>(x, &w, &()).unwrap();
    let r = [0.5, -1.0, 2.0];
    let rt: Batch<3, f64, Cpu, NoneTape> = dev.tensor_from_vec(r.to_vec(), (1, Const));
    let grads = (y * rt).sum::<Rank0, _>().backward();
    let want: Vec<f64> = w
        .as_vec()
        .iter()
        .map(|w| 2.0 * w * r.iter().sum::<f64>())
        .collect();
    assert_close("grad(w)", &grads.get(&w).as_vec(), &want, 1e-12);
}

/// A generated layer, gradients from `alloc_grads` (parameters only), two steps without zeroing.
#[test]
fn a_generated_layer_accumulates_into_alloc_grads() {
    let dev = Cpu::default();
    let layer = dev.build_module::<TiedLinearConfig<8>, f64>();
    let x: Batch<8, f64, Cpu, NoneTape> = dev.tensor_from_vec(vals(40, 3), (5, Const));
    let step = |grads| {
        layer
            .forward(x.clone().traced(grads))
            .sum::<Rank0, _>()
            .backward()
    };
    let once = step(layer.alloc_grads());
    let twice = step(step(layer.alloc_grads()));
    let want = with_reference(|| step(layer.alloc_grads()));
    for (what, got, want) in [
        ("weight", once.get(&layer.weight), want.get(&layer.weight)),
        ("bias", once.get(&layer.bias), want.get(&layer.bias)),
    ] {
        assert_close(what, &got.as_vec(), &want.as_vec(), 1e-12);
    }
    let doubled: Vec<f64> = once
        .get(&layer.weight)
        .as_vec()
        .iter()
        .map(|g| 2.0 * g)
        .collect();
    assert_close(
        "two steps",
        &twice.get(&layer.weight).as_vec(),
        &doubled,
        1e-12,
    );
}

/// The kernels do run on `Cpu` (so the comparisons above compare two lowerings), and step aside
/// inside `with_reference`.
#[test]
fn kernels_run_on_the_cpu_and_step_aside_for_the_reference() {
    use tied_dfdx::kernels::Fused;
    let dev = Cpu::default();
    let tile: Tensor<Rank2<2, 3>, f32, Cpu> = dev.tensor_from_vec(vals(6, 1), (Const, Const));
    let block: Tensor<Rank2<3, 2>, f32, Cpu> = dev.tensor_from_vec(vals(6, 1), (Const, Const));
    let x = || -> Batch<4, f32, Cpu, NoneTape> { dev.tensor_from_vec(vals(8, 2), (2, Const)) };
    fn ran<Y, X, Err>(fused: &Fused<Result<Y, Err>, X>) -> bool {
        matches!(fused, Fused::Done(Ok(_)))
    }
    assert!(ran(&<Tile<2, 3> as Tie<4, 6>>::try_apply_fused(
        x(),
        &tile,
        None
    )));
    assert!(ran(
        &<Transposed<Block<3, 2>> as Tie<4, 6>>::try_apply_fused(x(), &block, None)
    ));
    let diagonal: Tensor<Rank1<4>, f32, Cpu> = dev.tensor_from_vec(vals(4, 1), (Const,));
    assert!(ran(&<Diagonal as Tie<4, 4>>::try_apply_fused(
        x(),
        &diagonal,
        None
    )));
    assert!(ran(&<Transposed<Diagonal> as Tie<4, 4>>::try_apply_fused(
        x(),
        &diagonal,
        None
    )));
    // The dense products: `x·W` and, for a `transpose_of` use, `x·Wᵀ` of a 4×6 stored weight.
    let dense: Tensor<Rank2<4, 6>, f32, Cpu> = dev.tensor_from_vec(vals(24, 1), (Const, Const));
    assert!(ran(&<Dense as Tie<4, 6>>::try_apply_fused(
        x(),
        &dense,
        None
    )));
    let dense_t: Tensor<Rank2<6, 4>, f32, Cpu> = dev.tensor_from_vec(vals(24, 1), (Const, Const));
    assert!(ran(&<Transposed<Dense> as Tie<4, 6>>::try_apply_fused(
        x(),
        &dense_t,
        None
    )));
    assert!(with_reference(|| {
        !ran(&<Tile<2, 3> as Tie<4, 6>>::try_apply_fused(
            x(),
            &tile,
            None,
        ))
    }));
}

/// `try_lookup` = gathering rows of the materialized weight, values and gradients, for every
/// pattern and both id shapes; with fewer ids than rows and with more (the fused op's table of
/// positions), and with kernels off (dfdx's gather).
fn check_lookup<P: Tie<I, O>, const I: usize, const O: usize>() {
    let dev = Cpu::default();
    let numel = <P::Stored as ConstShape>::NUMEL;
    let stored: Tensor<P::Stored, f64, Cpu> =
        dev.tensor_from_vec(vals(numel, 3), Default::default());
    let check = |ids: Vec<usize>, what: &str| -> Vec<f64> {
        let n = ids.len();
        let ids: Tensor<(usize,), usize, Cpu> = dev.tensor_from_vec(ids, (n,));
        let rt: Batch<O, f64, Cpu, NoneTape> = dev.tensor_from_vec(vals(n * O, 4), (n, Const));
        let got = tied_dfdx::try_lookup::<P, I, O, f64, Cpu, _, _, _>(&stored, ids.leaky_trace())
            .unwrap();
        let got_y = got.as_vec();
        let got_g = (got * rt.clone())
            .sum::<Rank0, _>()
            .backward()
            .get(&stored)
            .as_vec();
        let want = P::try_effective(stored.leaky_trace())
            .unwrap()
            .gather(ids.clone());
        let want_y = want.as_vec();
        let want_g = (want * rt)
            .sum::<Rank0, _>()
            .backward()
            .get(&stored)
            .as_vec();
        assert_close(
            &format!("{} lookup {what}", P::NAME),
            &got_y,
            &want_y,
            1e-12,
        );
        assert_close(
            &format!("{} lookup grad {what}", P::NAME),
            &got_g,
            &want_g,
            1e-12,
        );
        want_y
    };
    let want_y = check(vec![2, 0, I - 1, 2], "");
    let many: Vec<usize> = (0..2 * I + 1).map(|k| (3 * k + 1) % I).collect();
    check(many.clone(), "(more ids than rows)");
    with_reference(|| check(many, "(kernels off)"));

    // (B, S) ids give (B, S, O).
    let ids2: Tensor<(usize, usize), usize, Cpu> =
        dev.tensor_from_vec(vec![2, 0, I - 1, 2], (2, 2));
    let got2: Tensor<(usize, usize, Const<O>), f64, Cpu> =
        tied_dfdx::try_lookup::<P, I, O, f64, Cpu, _, _, _>(&stored, ids2).unwrap();
    assert_eq!(got2.shape(), &(2, 2, Const::<O>));
    assert_close(
        &format!("{} lookup 2-D", P::NAME),
        &got2.as_vec(),
        &want_y,
        1e-12,
    );
}

#[test]
fn lookup_matches_the_materialized_weight_for_every_pattern() {
    use tied::{Banded, Circulant, Hankel, Symmetric, Toeplitz};
    check_lookup::<Dense, 5, 4>();
    check_lookup::<Rows, 5, 4>();
    check_lookup::<Cols, 5, 4>();
    check_lookup::<Scalar, 5, 4>();
    check_lookup::<Tile<1, 2>, 5, 4>();
    check_lookup::<Block<5, 2>, 5, 4>();
    check_lookup::<Transposed<Tile<2, 1>>, 5, 4>();
    check_lookup::<Toeplitz<8>, 5, 4>();
    check_lookup::<Circulant, 5, 5>();
    check_lookup::<Hankel<8>, 5, 4>();
    check_lookup::<Symmetric<15>, 5, 5>();
    check_lookup::<Banded<3>, 5, 5>();
}

/// A 2^20 × 2^20 weight (4 TiB as `f32`) stored in 2^20 values: looking up two rows reads two
/// rows. Materializing `W` first, as `lookup_*` did, aborts on the allocation.
#[test]
fn lookup_reads_only_the_rows_it_returns() {
    use tied::Toeplitz;
    const M: usize = 1 << 20;
    let dev = Cpu::default();
    let ids = || -> Tensor<(usize,), usize, Cpu> { dev.tensor_from_vec(vec![3, M - 1], (2,)) };

    let w: Tensor<Rank1<M>, f32, Cpu> =
        dev.tensor_from_vec((0..M).map(|k| k as f32).collect(), (Const,));
    let rows =
        tied_dfdx::try_lookup::<Rows, M, M, f32, Cpu, _, _, _>(&w, ids().leaky_trace()).unwrap();
    assert_eq!(rows.shape(), &(2, Const::<M>));
    let y = rows.retaped::<NoneTape>();
    assert_eq!(
        (y[[0, 0]], y[[0, M - 1]], y[[1, 7]]),
        (3.0, 3.0, (M - 1) as f32)
    );
    let g = rows.sum::<Rank0, _>().backward().get(&w);
    assert_eq!((g[[3]], g[[M - 1]], g[[0]]), (M as f32, M as f32, 0.0));

    // W[i, j] = v[i − j + M − 1]: 2^21 − 1 stored values.
    let v: Tensor<Rank1<{ 2 * M - 1 }>, f32, Cpu> =
        dev.tensor_from_vec((0..2 * M - 1).map(|k| k as f32).collect(), (Const,));
    let t = tied_dfdx::try_lookup::<Toeplitz<{ 2 * M - 1 }>, M, M, f32, Cpu, _, _, _>(&v, ids())
        .unwrap();
    let want = |i: usize, j: usize| (i + M - 1 - j) as f32;
    assert_eq!((t[[0, 0]], t[[0, 5]]), (want(3, 0), want(3, 5)));
    assert_eq!(t[[1, M - 1]], want(M - 1, M - 1));
}

/// A bias of the user's own (no `kernel_bias`): the kernel runs without it and the bias is added
/// after, with its own gradient.
#[test]
fn a_bias_the_kernel_cannot_fuse_is_added_after() {
    struct Doubled<'a>(&'a Tensor<Rank1<6>, f64, Cpu>);
    impl Bias<6, f64, Cpu> for Doubled<'_> {
        fn try_add_to<T: Tape<f64, Cpu>>(
            &self,
            y: Batch<6, f64, Cpu, T>,
        ) -> Result<Batch<6, f64, Cpu, T>, CpuError> {
            let shape = *y.shape();
            y.try_add(self.0.retaped::<T>().try_broadcast_like(&shape)? * 2.0)
        }
    }
    let dev = Cpu::default();
    let stored: Tensor<Rank2<2, 3>, f64, Cpu> = dev.tensor_from_vec(vals(6, 1), (Const, Const));
    let b: Tensor<Rank1<6>, f64, Cpu> = dev.tensor_from_vec(vals(6, 2), (Const,));
    let x: Batch<4, f64, Cpu, NoneTape> = dev.tensor_from_vec(vals(12, 3), (3, Const));
    let run = || {
        let y = try_apply_biased::<Tile<2, 3>, 4, 6, f64, Cpu, _, _>(
            x.leaky_trace(),
            &stored,
            &Doubled(&b),
        )
        .unwrap();
        let y_vals = y.retaped::<NoneTape>().as_vec();
        let grads = y.sum::<Rank0, _>().backward();
        (y_vals, grads.get(&b).as_vec(), grads.get(&stored).as_vec())
    };
    let fused = run();
    let ops = with_reference(run);
    assert_close("y", &fused.0, &ops.0, 1e-12);
    assert_eq!(fused.1, vec![6.0; 6], "grad(b) = 2 per row, 3 rows");
    assert_close("grad(stored)", &fused.2, &ops.2, 1e-12);
}

/// `try_fused_map`: a 2×2 symmetric weight materialized from its 3 stored values by a kernel,
/// against the gather lowering, on a tape, and declining for the reference.
#[test]
fn a_map_kernel_materializes_a_weight_on_the_tape() {
    use tied::Symmetric;
    use tied_dfdx::kernels::{try_fused_map, Fused, KernelDtype, MapKernel};

    struct Sym2;
    impl MapKernel for Sym2 {
        fn forward<F: KernelDtype>(&self, v: &[F], w: &mut [F]) {
            w.copy_from_slice(&[v[0], v[1], v[1], v[2]]);
        }
        fn backward<F: KernelDtype>(&self, _: &[F], dw: &[F], dv: &mut [F]) {
            dv[0] += dw[0];
            dv[1] += dw[1] + dw[2];
            dv[2] += dw[3];
        }
    }
    let dev = Cpu::default();
    let v: Tensor<Rank1<3>, f64, Cpu> = dev.tensor_from_vec(vals(3, 1), (Const,));
    let r: Tensor<Rank2<2, 2>, f64, Cpu> = dev.tensor_from_vec(vals(4, 2), (Const, Const));
    let Fused::Done(w) = try_fused_map(v.leaky_trace(), (Const::<2>, Const::<2>), Sym2) else {
        panic!("the map kernel declined on the CPU");
    };
    let w = w.unwrap();
    let want = <Symmetric<3> as Tie<2, 2>>::try_effective(v.leaky_trace()).unwrap();
    assert_eq!(w.as_vec(), want.as_vec());
    let got = (w * r.clone())
        .sum::<Rank0, _>()
        .backward()
        .get(&v)
        .as_vec();
    let want = (want * r).sum::<Rank0, _>().backward().get(&v).as_vec();
    assert_close("grad(v)", &got, &want, 1e-12);
    assert!(with_reference(|| matches!(
        try_fused_map(v.clone(), (Const::<2>, Const::<2>), Sym2),
        Fused::Declined(_)
    )));
}
