//! The dfdx and Burn runtimes agree: every built-in pattern (and no tie), and each one's
//! `Transposed` use, on the same f32 stored values and inputs, give the same `y = x·W`, the same
//! effective `W`, and for the loss `Σ y ⊙ r` the same input and stored-value gradients, to f32
//! rounding (1e-5 relative). dfdx runs through `try_apply_biased` (the fused kernels a generated
//! layer uses), Burn through `tied::burn::Tie` on its flex backend with autodiff.

use crate::common::{assert_close, values};
// Burn through the facade: the facade has no Burn dev-dependency (it would be built for every
// example), and this is the Burn `tied` is built on.
use burn::tensor::{DType, Device as BurnDevice, Tensor as BurnTensor, TensorData};
use tied::burn::burn;
use tied::prelude::*;
use tied::{
    try_apply_biased, Banded, Batch, Block, Circulant, Cols, Dense, Diagonal, Hankel,
    LowerTriangular, Rows, Scalar, Skew, Symmetric, Tie, Tile, Toeplitz, Transposed,
    UpperTriangular,
};

/// Rows of `x`.
const N: usize = 3;
/// f32 against f32, different summation orders.
const TOL: f64 = 1e-5;

/// What one runtime computes for `x·M` (M = W, or Wᵀ for the transposed use).
#[derive(Debug)]
struct Run {
    y: Vec<f32>,
    /// The effective weight of the use, row-major: I×O, or O×I transposed.
    effective: Vec<f32>,
    grad_x: Vec<f32>,
    grad_stored: Vec<f32>,
}

fn f32s(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|v| v as f32).collect()
}

/// Pattern `P` as a `In`×`Out` weight on dfdx (`P` is the pattern or its `Transposed`).
fn dfdx_run<P: Tie<IN, OUT>, const IN: usize, const OUT: usize>(
    stored: &[f32],
    x: &[f32],
    r: &[f32],
) -> Run {
    let dev = Cpu::default();
    let s: Tensor<P::Stored, f32, Cpu> = dev.tensor_from_vec(stored.to_vec(), Default::default());
    let xt: Batch<IN, f32, Cpu, NoneTape> = dev.tensor_from_vec(x.to_vec(), (N, Const));
    let rt: Batch<OUT, f32, Cpu, NoneTape> = dev.tensor_from_vec(r.to_vec(), (N, Const));
    let y = try_apply_biased::<P, IN, OUT, f32, Cpu, _, _>(xt.leaky_trace(), &s, &()).unwrap();
    let y_values = y.retaped::<NoneTape>().as_vec();
    let grads = (y * rt).sum::<Rank0, _>().backward();
    Run {
        y: y_values,
        effective: P::try_effective(s.clone()).unwrap().as_vec(),
        grad_x: grads.get(&xt).as_vec(),
        grad_stored: grads.get(&s).as_vec(),
    }
}

/// A tensor's f32 values.
fn host<const D: usize>(t: &BurnTensor<D>) -> Vec<f32> {
    t.try_to_vec_as::<f32>().unwrap()
}

/// `tie` (I×O) or its transpose on Burn, the stored tensor of rank `S`.
fn burn_run<const S: usize>(
    tie: &tied::burn::Tie,
    transposed: bool,
    stored: &[f32],
    x: &[f32],
    r: &[f32],
) -> Run {
    let device = BurnDevice::flex().autodiff();
    let (i, o) = (tie.inputs(), tie.outputs());
    let (a, b) = if transposed { (o, i) } else { (i, o) };
    let f32_tensor = |data: &[f32], dims: Vec<usize>| TensorData::new(data.to_vec(), dims);
    let s: BurnTensor<S> = BurnTensor::from_data(
        f32_tensor(stored, tie.stored_shape()),
        (&device, DType::F32),
    )
    .require_grad();
    let xt: BurnTensor<2> =
        BurnTensor::from_data(f32_tensor(x, vec![N, a]), (&device, DType::F32)).require_grad();
    let rt: BurnTensor<2> = BurnTensor::from_data(f32_tensor(r, vec![N, b]), (&device, DType::F32));
    let (y, effective) = if transposed {
        (
            tie.forward_transposed(xt.clone(), s.clone()),
            tie.effective(s.clone()).transpose(),
        )
    } else {
        (tie.forward(xt.clone(), s.clone()), tie.effective(s.clone()))
    };
    assert_eq!(y.dims(), [N, b]);
    let y_values = host(&y);
    let grads = y.mul(rt).sum().backward();
    Run {
        y: y_values,
        effective: host(&effective),
        grad_x: host(&xt.grad(&grads).expect("x's gradient")),
        grad_stored: host(&s.grad(&grads).expect("the stored gradient")),
    }
}

fn assert_runs_close(what: &str, burn: &Run, dfdx: &Run) {
    assert_close(&format!("{what}: y"), &burn.y, &dfdx.y, TOL);
    assert_close(
        &format!("{what}: effective W"),
        &burn.effective,
        &dfdx.effective,
        TOL,
    );
    assert_close(&format!("{what}: grad(x)"), &burn.grad_x, &dfdx.grad_x, TOL);
    assert_close(
        &format!("{what}: grad(stored)"),
        &burn.grad_stored,
        &dfdx.grad_stored,
        TOL,
    );
}

/// Pattern `P` on an I×O weight, and its `Transposed` use, against `tied::burn::Tie::new(key,
/// I, O, stated)` on the same values.
fn check<P: Tie<I, O>, const I: usize, const O: usize>(key: &str, stated: &[usize], seed: u64) {
    let tie = tied::burn::Tie::new(key, I, O, stated).unwrap();
    let len = <P::Stored as ConstShape>::NUMEL;
    assert_eq!(tie.stored_len(), len, "{key} {I}×{O}: stored sizes");
    let stored = f32s(values(len, seed));
    for transposed in [false, true] {
        let (a, b) = if transposed { (O, I) } else { (I, O) };
        let x = f32s(values(N * a, seed + 1));
        let r = f32s(values(N * b, seed + 2));
        let dfdx = if transposed {
            dfdx_run::<Transposed<P>, O, I>(&stored, &x, &r)
        } else {
            dfdx_run::<P, I, O>(&stored, &x, &r)
        };
        let burn = match tie.stored_shape().len() {
            1 => burn_run::<1>(&tie, transposed, &stored, &x, &r),
            _ => burn_run::<2>(&tie, transposed, &stored, &x, &r),
        };
        let what = format!("{key} {I}×{O}{}", if transposed { "ᵀ" } else { "" });
        assert_runs_close(&what, &burn, &dfdx);
    }
}

#[test]
fn every_pattern_and_its_transpose_agree_on_dfdx_and_burn() {
    check::<Dense, 4, 6>("dense", &[], 1);
    check::<Rows, 4, 6>("rows", &[], 2);
    check::<Cols, 4, 6>("cols", &[], 3);
    check::<Scalar, 4, 6>("scalar", &[], 4);
    check::<Tile<2, 3>, 4, 6>("tile", &[2, 3], 5);
    check::<Block<2, 3>, 4, 6>("block", &[2, 3], 6);
    check::<Toeplitz<9>, 4, 6>("toeplitz", &[], 7);
    check::<Circulant, 6, 6>("circulant", &[], 8);
    check::<Hankel<9>, 4, 6>("hankel", &[], 9);
    check::<Symmetric<21>, 6, 6>("symmetric", &[], 10);
    check::<Skew<15>, 6, 6>("skew", &[], 15);
    check::<Skew<1>, 2, 2>("skew", &[1], 16);
    check::<UpperTriangular<21>, 6, 6>("upper_triangular", &[], 13);
    check::<LowerTriangular<21>, 6, 6>("lower_triangular", &[21], 14);
    check::<Banded<3>, 6, 6>("banded", &[3], 11);
    check::<Diagonal, 6, 6>("diagonal", &[], 12);
}

/// Rectangular weights the other way round (more inputs than outputs), where the correlations
/// and the band read their stored values with other offsets.
#[test]
fn tall_weights_agree_on_dfdx_and_burn() {
    check::<Dense, 6, 4>("dense", &[], 21);
    check::<Tile<3, 2>, 6, 4>("tile", &[3, 2], 22);
    check::<Block<3, 2>, 6, 4>("block", &[3, 2], 23);
    check::<Toeplitz<9>, 6, 4>("toeplitz", &[], 24);
    check::<Hankel<9>, 6, 4>("hankel", &[], 25);
    check::<Banded<3>, 6, 4>("banded", &[3], 26);
}
