//! `#[tied::burn::layer]`: the attribute on Burn module structs.
//!
//! - The forum's layer: 8 parameters, not 20, and `grad(w) = 4·x`.
//! - Every built-in pattern (and no tie) through the attribute, in f64: the generated forward,
//!   effective weight, input gradient, stored-value gradient and bias gradient against a dense
//!   f64 reference built from the pattern's index map, and the stored gradient against central
//!   finite differences of the generated forward.
//! - `transpose_of`, `same_as` and tied biases, `forward = [..]` with an activation; the row
//!   lookup (an embedding and its tied head); the picture.
//! - A tied autoencoder trained 100 Adam steps keeps `dec` exactly `encᵀ`, stored once.
//! - Sizes that break a rule are an `init` error with the rule and the numbers, never a panic in
//!   a forward; checkpoints store each value once and a file that does not fit is refused, the
//!   layer left as it was.

// Burn through the facade: the facade has no Burn dev-dependency (it would be built for every
// example), and this is the Burn `tied` is built on.
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::Relu;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use tied::burn::burn;

use crate::common::values;

/// The device, with autodiff: Burn's portable CPU backend, Flex, unless `TIED_TEST_DEVICE` names
/// another (`wgpu`, `wgpu-cpu` with the `wgpu` feature; `cuda` with `burn-cuda`), as in
/// `tied-burn`'s tests.
fn device() -> Device {
    let name = std::env::var("TIED_TEST_DEVICE").unwrap_or_default();
    let device = match name.as_str() {
        "" | "flex" => Device::flex(),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "wgpu")]
        "wgpu-cpu" => Device::wgpu(burn::tensor::DeviceKind::Cpu),
        #[cfg(feature = "burn-cuda")]
        "cuda" => Device::cuda(0),
        other => panic!(
            "TIED_TEST_DEVICE={other}: the tests know flex, wgpu and wgpu-cpu (feature `wgpu`) \
             and cuda (feature `burn-cuda`)"
        ),
    };
    device.autodiff()
}

/// Whether the device computes f64 in f64; where not, the f64 assertions run in f32 to 1e-4
/// and the finite differences are skipped.
fn has_f64() -> bool {
    device().supports_dtype(DType::F64)
}

/// f64 values as the device's widest float.
fn tensor<const D: usize>(data: Vec<f64>, dims: [usize; D], device: &Device) -> Tensor<D> {
    let dtype = if has_f64() { DType::F64 } else { DType::F32 };
    Tensor::from_data(TensorData::new(data, dims), (device, dtype))
}

/// `crate::common::assert_close`, to 1e-4 at least on a device without f64.
#[track_caller]
fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    let tol = if has_f64() { tol } else { tol.max(1e-4) };
    crate::common::assert_close(what, got, want, tol);
}

fn host<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    t.try_to_vec_as::<f64>().unwrap()
}

/// `p`'s value replaced by `data` (a new leaf, same id), in f64.
fn set<const D: usize>(p: &mut Param<Tensor<D>>, data: Vec<f64>, device: &Device) {
    let dims: [usize; D] = p.val().dims();
    *p = Param::initialized(p.id, tensor(data, dims, device).require_grad());
}

/// Every float parameter Burn sees: its shape.
#[derive(Default)]
struct Shapes(Vec<Vec<usize>>);

impl ModuleVisitor for Shapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().dims().to_vec());
    }
}

fn shapes<M: Module>(module: &M) -> Vec<Vec<usize>> {
    let mut shapes = Shapes::default();
    module.visit(&mut shapes);
    shapes.0
}

/// The forum's layer, as a Burn user writes it.
#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct TiedLinear {
    /// `W[i, j] = weight[i]`: n stored values instead of n×n.
    #[tied(rows, shape = [n, n])]
    pub weight: Param<Tensor<2>>,
    #[tied(shape = [n])]
    pub bias: Param<Tensor<1>>,
}

#[test]
fn forum_layer_stores_n_values_and_sums_the_gradient_over_copies() {
    let device = device();
    let mut layer = TiedLinearConfig::new(4).init(&device);
    assert_eq!(shapes(&layer), [vec![4], vec![4]]);
    assert_eq!(layer.num_params(), 8);
    set(&mut layer.weight, vec![0.1, -0.2, 0.3, -0.4], &device);
    set(&mut layer.bias, vec![0.0; 4], &device);
    let x = tensor(vec![1.0, 2.0, 3.0, 4.0], [4], &device);
    let y = layer.forward(x);
    // Every output is Σ_i x[i]·w[i] = 0.1 − 0.4 + 0.9 − 1.6 = −1.
    assert_close("y", &host(&y), &[-1.0; 4], 1e-12);
    let grads = y.sum().backward();
    let g = host(&layer.weight.val().grad(&grads).unwrap());
    assert_eq!(g, [4.0, 8.0, 12.0, 16.0]);
    assert_eq!(
        layer.weight_picture().to_string(),
        "weight = [ w1 w1 w1 w1\n           w2 w2 w2 w2\n           w3 w3 w3 w3\n           \
         w4 w4 w4 w4 ]\n(4×4 rows: 4 stored values instead of 16)"
    );
}

/// One layer per pattern: `#[tied($($tie)*, shape = [i, o])]`, a plain bias of `o`.
macro_rules! pattern_layer {
    ($name:ident, $config:ident, [$($tie:tt)*]) => {
        #[tied::burn::layer]
        #[derive(Module, Debug)]
        pub struct $name {
            #[tied($($tie)* shape = [i, o])]
            pub weight: Param<Tensor<2>>,
            #[tied(shape = [o])]
            pub bias: Param<Tensor<1>>,
        }
    };
}

pattern_layer!(DenseLayer, DenseLayerConfig, []);
pattern_layer!(RowsLayer, RowsLayerConfig, [rows,]);
pattern_layer!(ColsLayer, ColsLayerConfig, [cols,]);
pattern_layer!(ScalarLayer, ScalarLayerConfig, [scalar,]);
pattern_layer!(TileLayer, TileLayerConfig, [tile(2, 3),]);
pattern_layer!(BlockLayer, BlockLayerConfig, [block(2, 3),]);
pattern_layer!(ToeplitzLayer, ToeplitzLayerConfig, [toeplitz = k,]);
pattern_layer!(HankelLayer, HankelLayerConfig, [hankel = k,]);
pattern_layer!(CirculantLayer, CirculantLayerConfig, [circulant,]);
pattern_layer!(SymmetricLayer, SymmetricLayerConfig, [symmetric = k,]);
pattern_layer!(SkewLayer, SkewLayerConfig, [skew = k,]);
pattern_layer!(BandedLayer, BandedLayerConfig, [banded = k,]);
pattern_layer!(DiagonalLayer, DiagonalLayerConfig, [diagonal,]);

/// What every pattern layer shows the check.
trait Checked: Module {
    fn tie(&self) -> &tied::burn::Tie;
    /// Replaces the stored values (a leaf that requires its gradient).
    fn set_stored(&mut self, values: Vec<f64>, device: &Device);
    fn set_bias(&mut self, values: Vec<f64>, device: &Device);
    fn run(&self, x: Tensor<2>) -> Tensor<2>;
    fn effective(&self) -> Tensor<2>;
    fn grads(&self, grads: &burn::tensor::Gradients) -> (Vec<f64>, Vec<f64>);
}

macro_rules! checked {
    ($($name:ident),*) => {$(
        impl Checked for $name {
            fn tie(&self) -> &tied::burn::Tie {
                &self.tied.weight
            }
            fn set_stored(&mut self, values: Vec<f64>, device: &Device) {
                set(&mut self.weight, values, device);
            }
            fn set_bias(&mut self, values: Vec<f64>, device: &Device) {
                set(&mut self.bias, values, device);
            }
            fn run(&self, x: Tensor<2>) -> Tensor<2> {
                self.forward(x)
            }
            fn effective(&self) -> Tensor<2> {
                self.weight_effective()
            }
            fn grads(&self, grads: &burn::tensor::Gradients) -> (Vec<f64>, Vec<f64>) {
                (
                    host(&self.weight.val().grad(grads).unwrap()),
                    host(&self.bias.val().grad(grads).unwrap()),
                )
            }
        }
    )*};
}

checked!(
    DenseLayer,
    RowsLayer,
    ColsLayer,
    ScalarLayer,
    TileLayer,
    BlockLayer,
    ToeplitzLayer,
    HankelLayer,
    CirculantLayer,
    SymmetricLayer,
    SkewLayer,
    BandedLayer,
    DiagonalLayer
);
/// Rows of the batch.
const N: usize = 3;

/// The generated layer against the dense f64 reference of its pattern (`W` from the index map):
/// y, the effective `W`, and the gradients of the input, the stored values and the bias for the
/// loss `Σ y ⊙ r`; then the stored gradient against central finite differences.
fn check_layer<L: Checked>(mut layer: L, seed: u64) {
    let device = device();
    let tie = layer.tie().clone();
    let (i, o, len) = (tie.inputs(), tie.outputs(), tie.stored_len());
    let key = tie.key();
    let stored = values(len, seed);
    layer.set_stored(stored.clone(), &device);
    let bias = values(o, seed + 1);
    layer.set_bias(bias.clone(), &device);
    let x = values(N * i, seed + 2);
    let r = values(N * o, seed + 3);

    // The dense reference.
    let mut w = vec![0.0; i * o];
    for a in 0..i {
        for b in 0..o {
            // A signed tie's negated entry (`skew` below its diagonal) is `−v`.
            w[a * o + b] =
                tie.entry(a, b).map_or(
                    0.0,
                    |(k, negated)| if negated { -stored[k] } else { stored[k] },
                );
        }
    }
    let mut y_ref = vec![0.0; N * o];
    let mut gx_ref = vec![0.0; N * i];
    let mut gw = vec![0.0; i * o];
    for n in 0..N {
        for b in 0..o {
            y_ref[n * o + b] = bias[b] + (0..i).map(|a| x[n * i + a] * w[a * o + b]).sum::<f64>();
        }
        for a in 0..i {
            gx_ref[n * i + a] = (0..o).map(|b| r[n * o + b] * w[a * o + b]).sum();
            for b in 0..o {
                gw[a * o + b] += x[n * i + a] * r[n * o + b];
            }
        }
    }
    let mut gs_ref = vec![0.0; len];
    for a in 0..i {
        for b in 0..o {
            if let Some((k, negated)) = tie.entry(a, b) {
                gs_ref[k] += if negated {
                    -gw[a * o + b]
                } else {
                    gw[a * o + b]
                };
            }
        }
    }
    let gb_ref: Vec<f64> = (0..o).map(|b| (0..N).map(|n| r[n * o + b]).sum()).collect();

    let xt = tensor(x.clone(), [N, i], &device).require_grad();
    let y = layer.run(xt.clone());
    let what = |s: &str| format!("{key} {i}×{o}: {s}");
    assert_close(&what("y"), &host(&y), &y_ref, 1e-12);
    assert_close(&what("W"), &host(&layer.effective()), &w, 1e-12);
    let grads = (y * tensor(r.clone(), [N, o], &device)).sum().backward();
    assert_close(
        &what("grad x"),
        &host(&xt.grad(&grads).unwrap()),
        &gx_ref,
        1e-12,
    );
    let (gs, gb) = layer.grads(&grads);
    assert_close(&what("grad stored"), &gs, &gs_ref, 1e-12);
    assert_close(&what("grad bias"), &gb, &gb_ref, 1e-12);

    // Finite differences of the generated forward, one stored value at a time (in f64 only).
    if !has_f64() {
        eprintln!(
            "{}: finite differences skipped, the device has no f64",
            what("")
        );
        return;
    }
    let loss = |layer: &L| -> f64 {
        let y = layer.run(tensor(x.clone(), [N, i], &device));
        host(&(y * tensor(r.clone(), [N, o], &device)).sum())[0]
    };
    let h = 1e-6;
    let mut fd = vec![0.0; len];
    for (k, slot) in fd.iter_mut().enumerate() {
        let mut shifted = |delta: f64| {
            let mut v = stored.clone();
            v[k] += delta;
            layer.set_stored(v, &device);
            loss(&layer)
        };
        *slot = (shifted(h) - shifted(-h)) / (2.0 * h);
    }
    assert_close(&what("finite differences"), &fd, &gs_ref, 1e-6);
}

#[test]
fn every_pattern_through_the_attribute_matches_the_dense_reference() {
    let d = device();
    check_layer(DenseLayerConfig::new(4, 3).init(&d), 1);
    check_layer(RowsLayerConfig::new(4, 3).init(&d), 2);
    check_layer(ColsLayerConfig::new(3, 5).init(&d), 3);
    check_layer(ScalarLayerConfig::new(4, 2).init(&d), 4);
    check_layer(TileLayerConfig::new(4, 6).init(&d), 5);
    check_layer(BlockLayerConfig::new(4, 6).init(&d), 6);
    check_layer(ToeplitzLayerConfig::new(4, 3, 6).init(&d), 7);
    check_layer(HankelLayerConfig::new(3, 5, 7).init(&d), 8);
    check_layer(CirculantLayerConfig::new(5, 5).init(&d), 9);
    check_layer(SymmetricLayerConfig::new(4, 4, 10).init(&d), 10);
    check_layer(SkewLayerConfig::new(5, 5, 10).init(&d), 13);
    check_layer(BandedLayerConfig::new(5, 5, 3).init(&d), 11);
    check_layer(DiagonalLayerConfig::new(4, 4).init(&d), 12);
}

#[test]
fn sizes_that_break_a_rule_are_an_init_error_with_the_numbers() {
    let d = device();
    let err = ToeplitzLayerConfig::new(4, 3, 5).try_init(&d).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("I + O − 1 = 6"), "{message}");
    assert!(
        message.contains("field `weight` of `ToeplitzLayer`"),
        "{message}"
    );
    let err = TileLayerConfig::new(5, 6).try_init(&d).unwrap_err();
    assert!(err.to_string().contains("divide"), "{err}");
    // A square pattern on a non-square config: the macro's rule, checked at init.
    let err = CirculantLayerConfig::new(4, 5).try_init(&d).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("needs a square weight"), "{message}");
    assert!(message.contains("`i` = 4 and `o` = 5"), "{message}");
}

#[test]
#[should_panic(expected = "I + O − 1 = 6")]
fn init_panics_with_the_same_message() {
    ToeplitzLayerConfig::new(4, 3, 5).init(&device());
}

/// A bias whose length is its own size: the macro cannot tell `m` from `n`, `init` can.
#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct LooseBias {
    #[tied(cols, shape = [n, n])]
    pub weight: Param<Tensor<2>>,
    #[tied(shape = [m])]
    pub bias: Param<Tensor<1>>,
}

#[test]
fn a_bias_of_another_length_is_refused_at_init() {
    let err = LooseBiasConfig::new(3, 4).try_init(&device()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("bias `bias` has length `m`, but weight `weight` has `n` outputs"),
        "{message}"
    );
    assert!(message.contains("`n` = 3 and `m` = 4"), "{message}");
    assert!(LooseBiasConfig::new(3, 3).try_init(&device()).is_ok());
}

/// A tied autoencoder: `dec = encᵀ` stored once, an activation between.
#[tied::burn::layer(forward = [enc + enc_bias, Relu, dec + dec_bias])]
#[derive(Module, Debug)]
pub struct TiedAutoEncoder {
    #[tied(shape = [i, h])]
    pub enc: Param<Tensor<2>>,
    #[tied(shape = [h])]
    pub enc_bias: Param<Tensor<1>>,
    #[tied(transpose_of = enc, shape = [h, i])]
    pub dec: Param<Tensor<2>>,
    #[tied(shape = [i])]
    pub dec_bias: Param<Tensor<1>>,
}

#[test]
fn tied_autoencoder_stays_tied_through_100_adam_steps() {
    let device = Device::flex().autodiff();
    let (i, h, n) = (6, 4, 32);
    let mut model = TiedAutoEncoderConfig::new(i, h).init(&device);
    // enc, enc_bias and dec_bias: the decoder has no storage of its own.
    assert_eq!(shapes(&model), [vec![i, h], vec![h], vec![i]]);
    assert_eq!(model.num_params(), i * h + h + i);
    let data: Vec<f32> = values(n * i, 101).into_iter().map(|v| v as f32).collect();
    let x: Tensor<2> = Tensor::from_data(TensorData::new(data, [n, i]), (&device, DType::F32));
    let mut optim = AdamConfig::new().init();
    let loss_of = |model: &TiedAutoEncoder| {
        let d = model.forward(x.clone()) - x.clone();
        (d.clone() * d).mean()
    };
    let first = host32(&loss_of(&model))[0];
    for _ in 0..100 {
        let loss = loss_of(&model);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let last = host32(&loss_of(&model))[0];
    assert!(last < 0.8 * first, "the loss falls: {first} → {last}");
    let enc_t = host32(&model.enc_effective().transpose());
    assert_eq!(host32(&model.dec_effective()), enc_t, "dec is exactly encᵀ");
    assert_eq!(
        model.dec_picture().shape(),
        (h, i),
        "the decoder's picture is encᵀ's"
    );
}

fn host32<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.try_to_vec_as::<f32>().unwrap()
}

/// A language model's ends: the embedding's rows by id, the head its transpose, a shared bias and
/// a scalar one.
#[tied::burn::layer(forward = [head + head_bias])]
#[derive(Module, Debug)]
pub struct TiedEnds {
    #[tied(shape = [vocab, dim])]
    pub embed: Param<Tensor<2>>,
    #[tied(transpose_of = embed, shape = [dim, vocab])]
    pub head: Param<Tensor<2>>,
    #[tied(same_as = embed, shape = [vocab, dim])]
    pub embed_again: Param<Tensor<2>>,
    #[tied(scalar, shape = [vocab])]
    pub head_bias: Param<Tensor<1>>,
}

#[test]
fn lookup_transpose_same_as_and_a_scalar_bias() {
    let device = device();
    let (vocab, dim) = (5, 3);
    let mut ends = TiedEndsConfig::new(vocab, dim).init(&device);
    assert_eq!(shapes(&ends), [vec![vocab, dim], vec![1]]);
    let e = values(vocab * dim, 21);
    set(&mut ends.embed, e.clone(), &device);
    set(&mut ends.head_bias, vec![0.5], &device);
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![4i64, 0, 2, 4], [2, 2]), &device);
    let rows: Tensor<3> = ends.lookup_embed(ids.clone());
    assert_eq!(rows.dims(), [2, 2, dim]);
    let want: Vec<f64> = [4, 0, 2, 4]
        .iter()
        .flat_map(|&r| e[r * dim..(r + 1) * dim].to_vec())
        .collect();
    assert_close("lookup", &host(&rows), &want, 0.0);
    let again: Tensor<3> = ends.lookup_embed_again(ids);
    assert_close("same_as lookup", &host(&again), &want, 0.0);
    // The head: logits = h·Eᵀ + 0.5.
    let hidden = values(2 * dim, 22);
    let logits = ends.forward(tensor(hidden.clone(), [2, dim], &device));
    let mut want = vec![0.5; 2 * vocab];
    for n in 0..2 {
        for v in 0..vocab {
            want[n * vocab + v] += (0..dim)
                .map(|k| hidden[n * dim + k] * e[v * dim + k])
                .sum::<f64>();
        }
    }
    assert_close("head logits", &host(&logits), &want, 1e-12);
    // The scalar bias's gradient sums every output's.
    let grads = logits.sum().backward();
    let gb = host(&ends.head_bias.val().grad(&grads).unwrap());
    assert_close("scalar bias grad", &gb, &[(2 * vocab) as f64], 1e-12);
    assert_close(
        "head_bias_effective",
        &host(&ends.head_bias_effective().unwrap()),
        &[0.5; 5],
        0.0,
    );
    // The head's lookup reads Eᵀ's rows.
    let cols = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64], [1]), &device);
    let col: Tensor<2> = ends.lookup_head(cols);
    let want: Vec<f64> = (0..vocab).map(|v| e[v * dim + 1]).collect();
    assert_close("head lookup", &host(&col), &want, 0.0);
}

#[test]
fn checkpoints_store_each_value_once_and_refuse_a_file_that_does_not_fit() {
    let device = device();
    let dir = std::env::temp_dir().join(format!("tied-burn-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rows.bpk");
    let saved = TiedLinearConfig::new(4).init(&device);
    saved.clone().save_file(&path).unwrap();

    let mut fresh = TiedLinearConfig::new(4).init(&device);
    assert_ne!(host(&fresh.weight.val()), host(&saved.weight.val()));
    fresh.load_checked(&path).unwrap();
    assert_eq!(host(&fresh.weight.val()), host(&saved.weight.val()));
    assert_eq!(host(&fresh.bias.val()), host(&saved.bias.val()));

    // Another size: refused, naming the tensor, and the layer keeps its values.
    let mut other = TiedLinearConfig::new(5).init(&device);
    let before = host(&other.weight.val());
    let err = other.load_checked(&path).unwrap_err().to_string();
    assert!(err.contains("weight"), "{err}");
    assert!(err.contains("left as it was"), "{err}");
    assert_eq!(host(&other.weight.val()), before);
    std::fs::remove_dir_all(&dir).ok();
}

/// The generated code names everything by absolute path: a scope whose `Device`, `Error`,
/// `Tie`, `Picture`, `Int` and `Path` are the user's own changes nothing. (`Result`, `Ok` and
/// `Err` are left alone here: Burn's own `#[derive(Config)]` names them unqualified.)
mod hygiene {
    #![allow(dead_code)]
    use burn::module::{Module, Param};
    use burn::tensor::Tensor;
    use tied::burn::burn;

    struct Device;
    struct Error;
    struct Tie;
    struct Picture;
    struct Int;
    struct Path;

    #[tied::burn::layer]
    #[derive(Module, Debug)]
    pub struct Shadowed {
        #[tied(toeplitz = 6, shape = [4, 3])]
        pub weight: Param<Tensor<2>>,
        #[tied(shape = [3])]
        pub bias: Param<Tensor<1>>,
    }

    #[test]
    fn a_layer_in_a_shadowing_scope_builds_and_runs() {
        let device = burn::tensor::Device::flex().autodiff();
        let layer = ShadowedConfig::new().init(&device);
        let y = layer.forward(Tensor::<2>::ones([2, 4], &device));
        assert_eq!(y.dims(), [2, 3]);
    }
}

/// A user pattern on Burn: `Stripes` (index_kernels.rs), a `RuntimePattern` written once for both
/// front ends, at literal sizes.
#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct BurnStripes {
    #[tied(pattern = crate::index_kernels::Stripes, shape = [4, 5])]
    pub weight: Param<Tensor<2>>,
    #[tied(shape = [5])]
    pub bias: Param<Tensor<1>>,
}

/// The same user pattern at the config's sizes (runtime values): its `RuntimePattern` map.
#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct BurnStripesSized {
    #[tied(pattern = crate::index_kernels::Stripes, shape = [i, o])]
    pub weight: Param<Tensor<2>>,
    #[tied(shape = [o])]
    pub bias: Param<Tensor<1>>,
}

/// The same layer on dfdx, run on the same values.
mod dfdx_stripes {
    use tied::prelude::*;

    #[tied::layer]
    #[derive(Clone, Debug)]
    pub struct DfdxStripes<E: Dtype, D: Device<E>> {
        #[tied(pattern = crate::index_kernels::StripesTie)]
        pub weight: Tensor<Rank2<4, 5>, E, D>,
        pub bias: Tensor<Rank1<5>, E, D>,
    }

    /// `y` for 2 rows of `x`, the stored values' gradient of `Σ y`, and the picture.
    pub fn run(stored: [f64; 3], bias: Vec<f64>, x: Vec<f64>) -> (Vec<f64>, Vec<f64>, String) {
        let dev = Cpu::default();
        let mut layer = dev.build_module::<DfdxStripesConfig, f64>();
        layer.weight = dev.tensor(stored);
        layer.bias = dev.tensor_from_vec(bias, (Const::<5>,));
        let x = dev.tensor_from_vec(x, (Const::<2>, Const::<4>));
        let y = layer.forward(x.trace(layer.alloc_grads()));
        let y_values = y.as_vec();
        let grads = y.sum().backward();
        (
            y_values,
            grads.get(&layer.weight).as_vec(),
            layer.weight_picture().to_string(),
        )
    }
}

#[test]
fn one_user_pattern_type_serves_dfdx_and_burn() {
    let device = device();
    let mut layer = BurnStripesConfig::new().init(&device);
    assert_eq!(shapes(&layer), [vec![3], vec![5]]);
    assert_eq!(layer.tied.weight.lowering(), tied::burn::Lowering::Gather);
    let (stored, bias) = ([0.5, -1.0, 2.0], values(5, 31));
    set(&mut layer.weight, stored.to_vec(), &device);
    set(&mut layer.bias, bias.clone(), &device);
    let x = values(2 * 4, 32);
    let y = layer.forward(tensor(x.clone(), [2, 4], &device));
    let y_burn = host(&y);
    let grads = y.sum().backward();
    let g_burn = host(&layer.weight.val().grad(&grads).unwrap());

    let (y_dfdx, g_dfdx, picture) = dfdx_stripes::run(stored, bias.clone(), x.clone());
    assert_close("y", &y_burn, &y_dfdx, 1e-12);
    assert_close("grad stored", &g_burn, &g_dfdx, 1e-12);
    assert_eq!(layer.weight_picture().to_string(), picture);

    // At runtime sizes, through the pattern's `RuntimePattern` map: the same numbers.
    let mut sized = BurnStripesSizedConfig::new(4, 5).init(&device);
    assert_eq!(shapes(&sized), [vec![3], vec![5]]);
    set(&mut sized.weight, stored.to_vec(), &device);
    set(&mut sized.bias, bias, &device);
    let y = sized.forward(tensor(x, [2, 4], &device));
    assert_close("y (runtime sizes)", &host(&y), &y_dfdx, 1e-12);
    let grads = y.sum().backward();
    let g = host(&sized.weight.val().grad(&grads).unwrap());
    assert_close("grad stored (runtime sizes)", &g, &g_dfdx, 1e-12);
    assert_eq!(sized.weight_picture().to_string(), picture);
}
