//! A dense reference on the host (W materialized from the index map, gradients by hand) and
//! helpers to run a `Tie` on Burn's flex backend.
//!
//! Everything runs in f64: Burn's flex backend computes f64 tensors in f64 (checked by
//! `f64_is_f64` below), so the tolerances are tight (1e-10 relative).

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use tied_burn::Tie;

/// The autodiff flex device.
pub fn device() -> Device {
    Device::flex().autodiff()
}

/// Deterministic values in [-1, 1) (SplitMix64), as the workspace's tests make them.
pub fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// An f64 tensor on `device`.
pub fn tensor<const D: usize>(data: Vec<f64>, dims: [usize; D], device: &Device) -> Tensor<D> {
    tensor_as(data, dims, device, DType::F64)
}

/// A tensor of `dtype` on `device`, from f64 values.
pub fn tensor_as<const D: usize>(
    data: Vec<f64>,
    dims: [usize; D],
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, dims), (device, dtype))
}

/// Int ids on `device`.
pub fn ids<const D: usize>(data: Vec<i64>, dims: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(data, dims), device)
}

/// A tensor's values as f64.
pub fn host<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    t.try_to_vec_as::<f64>().unwrap()
}

/// `got` equals `want` to `tol`, relative to the larger of 1 and `want`'s magnitude.
#[track_caller]
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{k}]: got {g}, want {w} (tolerance {tol})"
        );
    }
}

/// `W` (I×O, row-major) from the tie's index map and signs (`−v` where an entry is negated).
pub fn dense_w(tie: &Tie, stored: &[f64]) -> Vec<f64> {
    let (i, o) = (tie.inputs(), tie.outputs());
    (0..i * o)
        .map(|k| {
            tie.entry(k / o, k % o).map_or(
                0.0,
                |(s, negated)| if negated { -stored[s] } else { stored[s] },
            )
        })
        .collect()
}

/// What the reference computes for `y = x·M` (M = W, or Wᵀ when `transposed`) and a loss
/// `Σ y ⊙ r`: `y`, `dx = r·Mᵀ` and the stored values' gradient (`dW = xᵀ·r` summed into slots).
pub struct Reference {
    pub y: Vec<f64>,
    pub dx: Vec<f64>,
    pub dstored: Vec<f64>,
}

pub fn reference(
    tie: &Tie,
    stored: &[f64],
    x: &[f64],
    r: &[f64],
    n: usize,
    transposed: bool,
) -> Reference {
    let (i, o) = (tie.inputs(), tie.outputs());
    let w = dense_w(tie, stored);
    // M is a×b with M[p, q].
    let (a, b) = if transposed { (o, i) } else { (i, o) };
    let m = |p: usize, q: usize| {
        if transposed {
            w[q * o + p]
        } else {
            w[p * o + q]
        }
    };
    let mut y = vec![0.0; n * b];
    let mut dx = vec![0.0; n * a];
    let mut dstored = vec![0.0; tie.stored_len()];
    for row in 0..n {
        for q in 0..b {
            y[row * b + q] = (0..a).map(|p| x[row * a + p] * m(p, q)).sum();
        }
        for p in 0..a {
            dx[row * a + p] = (0..b).map(|q| r[row * b + q] * m(p, q)).sum();
        }
    }
    for p in 0..a {
        for q in 0..b {
            let (wi, wj) = if transposed { (q, p) } else { (p, q) };
            if let Some((k, negated)) = tie.entry(wi, wj) {
                let g = (0..n)
                    .map(|row| x[row * a + p] * r[row * b + q])
                    .sum::<f64>();
                dstored[k] += if negated { -g } else { g };
            }
        }
    }
    Reference { y, dx, dstored }
}

/// The stored tensor's values as Burn computes with them: the stored shape, f64.
pub fn stored_tensor(tie: &Tie, values: Vec<f64>, device: &Device) -> StoredParam {
    stored_tensor_as(tie, values, device, DType::F64)
}

fn stored_tensor_as(tie: &Tie, values: Vec<f64>, device: &Device, dtype: DType) -> StoredParam {
    let shape = tie.stored_shape();
    match shape.len() {
        1 => StoredParam::Vector(tensor_as(values, [shape[0]], device, dtype).require_grad()),
        _ => StoredParam::Matrix(
            tensor_as(values, [shape[0], shape[1]], device, dtype).require_grad(),
        ),
    }
}

/// A stored tensor of rank 1 or 2.
#[derive(Clone)]
pub enum StoredParam {
    Vector(Tensor<1>),
    Matrix(Tensor<2>),
}

impl StoredParam {
    /// `x·W` (or `x·Wᵀ`).
    pub fn apply(&self, tie: &Tie, x: Tensor<2>, transposed: bool) -> Tensor<2> {
        match (self, transposed) {
            (StoredParam::Vector(s), false) => tie.forward(x, s.clone()),
            (StoredParam::Vector(s), true) => tie.forward_transposed(x, s.clone()),
            (StoredParam::Matrix(s), false) => tie.forward(x, s.clone()),
            (StoredParam::Matrix(s), true) => tie.forward_transposed(x, s.clone()),
        }
    }

    /// Its gradient, flat.
    pub fn grad(&self, grads: &burn::tensor::Gradients) -> Vec<f64> {
        match self {
            StoredParam::Vector(s) => host(&s.grad(grads).expect("stored gradient")),
            StoredParam::Matrix(s) => host(&s.grad(grads).expect("stored gradient")),
        }
    }
}

/// Runs `tie` (or its transpose) on Burn for `n` rows and checks `y`, `dx` and the stored
/// gradient against the reference, to 1e-10.
pub fn check_against_reference(tie: &Tie, n: usize, transposed: bool, seed: u64) {
    check_against_reference_in(tie, n, transposed, seed, DType::F64, 1e-10);
}

/// [`check_against_reference`] with Burn's tensors in `dtype`, to `tol` (the reference stays f64).
pub fn check_against_reference_in(
    tie: &Tie,
    n: usize,
    transposed: bool,
    seed: u64,
    dtype: DType,
    tol: f64,
) {
    let device = device();
    let (i, o) = (tie.inputs(), tie.outputs());
    let (a, b) = if transposed { (o, i) } else { (i, o) };
    let stored = values(tie.stored_len(), seed);
    let x = values(n * a, seed + 1);
    let r = values(n * b, seed + 2);
    let want = reference(tie, &stored, &x, &r, n, transposed);

    let s = stored_tensor_as(tie, stored, &device, dtype);
    let xt = tensor_as(x, [n, a], &device, dtype).require_grad();
    let rt = tensor_as(r, [n, b], &device, dtype);
    let y = s.apply(tie, xt.clone(), transposed);
    assert_eq!(y.dims(), [n, b]);
    let what = format!(
        "{} {}×{}{} n = {n}",
        tie.key(),
        i,
        o,
        if transposed { "ᵀ" } else { "" }
    );
    assert_close(&format!("{what}: y"), &host(&y), &want.y, tol);
    let grads = y.mul(rt).sum().backward();
    let dx = host(&xt.grad(&grads).expect("input gradient"));
    assert_close(&format!("{what}: dx"), &dx, &want.dx, tol);
    assert_close(
        &format!("{what}: dstored"),
        &s.grad(&grads),
        &want.dstored,
        tol,
    );
}

#[test]
fn f64_is_f64() {
    let device = device();
    let t = tensor(vec![1.0 + 1e-12], [1], &device);
    assert_eq!(t.dtype(), DType::F64);
    let d = t.sub_scalar(1.0).mul_scalar(1e12);
    assert_close("f64 arithmetic", &host(&d), &[1.0], 1e-3);
}
