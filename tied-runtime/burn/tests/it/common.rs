//! A dense reference on the host (W materialized from the index map, gradients by hand) and
//! helpers to run a `Tie` on a Burn device: Flex, Burn's portable CPU backend, unless
//! `TIED_TEST_DEVICE` names another ([`device`]).
//!
//! Everything runs in f64 where the device computes in f64 (Flex does: `f64_is_f64` below), so
//! the tolerances are tight (1e-10 relative). On a device without f64 (wgpu on most GPUs and on
//! lavapipe) the same assertions run in f32, to [`F32_TOL`], and what needs f64 (finite
//! differences) is skipped with a message.

use std::sync::OnceLock;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use tied_burn::Tie;

/// The relative tolerance of an f64 assertion when the device computes in f32 only.
pub const F32_TOL: f64 = 1e-4;

/// The device the tests run on, with autodiff: `TIED_TEST_DEVICE` unset or `flex`, Burn's Flex;
/// with the `wgpu` feature, `wgpu` (the best adapter wgpu finds: a real GPU) or `wgpu-cpu` (a CPU
/// adapter: Mesa's lavapipe, the software Vulkan device `.ci/run` installs where there is no GPU);
/// with the `cuda` feature, `cuda` (`Device::cuda(0)`).
pub fn device() -> Device {
    let name = std::env::var("TIED_TEST_DEVICE").unwrap_or_default();
    let device = match name.as_str() {
        "" | "flex" => Device::flex(),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "wgpu")]
        "wgpu-cpu" => Device::wgpu(burn::tensor::DeviceKind::Cpu),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        other => panic!(
            "TIED_TEST_DEVICE={other}: the tests know flex, wgpu and wgpu-cpu (feature `wgpu`) \
             and cuda (feature `cuda`)"
        ),
    };
    device.autodiff()
}

/// Whether the test device computes f64 tensors in f64.
pub fn has_f64() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let has = device().supports_dtype(DType::F64);
        if !has {
            eprintln!(
                "tied-burn tests: the device ({:?}) has no f64: f64 assertions run in f32 to {F32_TOL}, \
                 finite differences are skipped",
                device()
            );
        }
        has
    })
}

/// The dtype of the f64 assertions: f64, or f32 on a device without it.
pub fn float() -> DType {
    if has_f64() {
        DType::F64
    } else {
        DType::F32
    }
}

/// Whether a test that needs f64 runs here; if not, says so (the test then returns).
pub fn needs_f64(test: &str) -> bool {
    if !has_f64() {
        eprintln!(
            "skipped: {test} needs f64, which {:?} does not compute",
            device()
        );
    }
    has_f64()
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

/// An f64 tensor on `device` (f32 on a device without f64: [`float`]).
pub fn tensor<const D: usize>(data: Vec<f64>, dims: [usize; D], device: &Device) -> Tensor<D> {
    tensor_as(data, dims, device, float())
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
    // An f64 assertion computed in f32 on a device without f64.
    let tol = if has_f64() { tol } else { tol.max(F32_TOL) };
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
    stored_tensor_as(tie, values, device, float())
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

    /// `x·W + b` (or `x·Wᵀ + b`): the bias inside the fused op where there is one.
    pub fn apply_with_bias(
        &self,
        tie: &Tie,
        x: Tensor<2>,
        bias: Tensor<1>,
        transposed: bool,
    ) -> Tensor<2> {
        match (self, transposed) {
            (StoredParam::Vector(s), false) => tie.forward_with_bias(x, s.clone(), bias),
            (StoredParam::Vector(s), true) => tie.forward_transposed_with_bias(x, s.clone(), bias),
            (StoredParam::Matrix(s), false) => tie.forward_with_bias(x, s.clone(), bias),
            (StoredParam::Matrix(s), true) => tie.forward_transposed_with_bias(x, s.clone(), bias),
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

/// Runs `tie` (or its transpose) on Burn for `n` rows, without a bias and with one, and checks
/// `y`, `dx`, the stored gradient and the bias's against the reference, to 1e-10.
pub fn check_against_reference(tie: &Tie, n: usize, transposed: bool, seed: u64) {
    check_against_reference_in(tie, n, transposed, seed, float(), 1e-10);
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
    let bias = values(b, seed + 3);
    for with_bias in [false, true] {
        let xt = tensor_as(x.clone(), [n, a], &device, dtype).require_grad();
        let rt = tensor_as(r.clone(), [n, b], &device, dtype);
        let bt = tensor_as(bias.clone(), [b], &device, dtype).require_grad();
        let y = if with_bias {
            s.apply_with_bias(tie, xt.clone(), bt.clone(), transposed)
        } else {
            s.apply(tie, xt.clone(), transposed)
        };
        assert_eq!(y.dims(), [n, b]);
        let what = format!(
            "{} {}×{}{} n = {n}{}",
            tie.key(),
            i,
            o,
            if transposed { "ᵀ" } else { "" },
            if with_bias { " + b" } else { "" }
        );
        let want_y: Vec<f64> = if with_bias {
            want.y
                .iter()
                .enumerate()
                .map(|(k, y)| y + bias[k % b])
                .collect()
        } else {
            want.y.clone()
        };
        assert_close(&format!("{what}: y"), &host(&y), &want_y, tol);
        let grads = y.mul(rt).sum().backward();
        let dx = host(&xt.grad(&grads).expect("input gradient"));
        assert_close(&format!("{what}: dx"), &dx, &want.dx, tol);
        assert_close(
            &format!("{what}: dstored"),
            &s.grad(&grads),
            &want.dstored,
            tol,
        );
        if with_bias {
            // d(Σ y ⊙ r)/db[q] = Σ_rows r[row, q].
            let want_db: Vec<f64> = (0..b)
                .map(|q| (0..n).map(|row| r[row * b + q]).sum())
                .collect();
            let db = host(&bt.grad(&grads).expect("bias gradient"));
            assert_close(&format!("{what}: dbias"), &db, &want_db, tol);
        }
    }
}

#[test]
fn f64_is_f64() {
    if !needs_f64("f64_is_f64") {
        return;
    }
    let device = device();
    let t = tensor(vec![1.0 + 1e-12], [1], &device);
    assert_eq!(t.dtype(), DType::F64);
    let d = t.sub_scalar(1.0).mul_scalar(1e12);
    assert_close("f64 arithmetic", &host(&d), &[1.0], 1e-3);
}
