//! Training on Burn: a tie is ONE parameter, and Burn's optimizer keeps it one.
//!
//! The modules here are written by hand as the attribute would generate them for Burn:
//! `#[derive(Module, Debug)]`, one `Param` per stored tensor, the [`Tie`] in a
//! `#[module(skip)]` field, `forward(&self, x)` through the tie's lowerings.
//!
//! - A tied autoencoder (`dec` is `transpose_of = enc`) has no decoder storage: after 100 Adam
//!   steps the decoder's effective weight is still the encoder's transpose to the bit, and the
//!   module counts I·H + H + I parameters.
//! - The same network built from copies drifts. With `dec` a second `Param` initialized to
//!   `encᵀ` (a new `ParamId`), each copy gets only its own use's gradient and its own Adam
//!   state: after the same 100 steps `dec` is no longer `encᵀ`. Cloning the *same* `Param`
//!   into two fields is worse, and silent: both fields carry one `ParamId`, and Burn's
//!   optimizer handles gradients by id. `GradientsParams::from_grads` *removes* each gradient
//!   as it visits a field and registers it under the field's id, and the module optimizer's
//!   mapper removes the id's gradient for the first field it maps; the second finds none and
//!   is left as it was. On the first step both fields are one tensor, so the first field gets
//!   the summed gradient; from then on they are two tensors under one id, the second frozen at
//!   its initial value, and its gradient (registered last) overwrites the first field's: the
//!   first is stepped with the *second* use's gradient alone, and the loss rises.
//! - The forum's layer (`W[i, j] = w[i]`, 4×4) keeps `w` at 4 values through 20 SGD steps, and
//!   the gradient Burn gives `w` each step is the dense `xᵀ·dy` summed over each row of `W`.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::tensor::{DType, Device, Tensor, TensorData};
use tied_burn::Tie;

use crate::common::{assert_close, device, values};

/// Inputs (and reconstructions) and hidden units of the autoencoders.
const I: usize = 6;
const H: usize = 4;
/// Rows in the fixed training batch.
const N: usize = 32;
const STEPS: usize = 100;
const LR: f64 = 1e-2;

/// An f32 tensor (Burn's default float, what a model trains in).
fn tensor32<const D: usize>(data: Vec<f64>, dims: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = data.into_iter().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, dims), (device, DType::F32))
}

/// A tensor's f32 values, exactly.
fn host32<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.try_to_vec_as::<f32>().unwrap()
}

/// A scalar loss's value.
fn scalar(t: &Tensor<1>) -> f64 {
    f64::from(host32(t)[0])
}

/// The largest |a − b|.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Every float parameter a module shows Burn: its id and shape.
#[derive(Default)]
struct Params(Vec<(ParamId, Vec<usize>)>);

impl ModuleVisitor for Params {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, param.val().dims().to_vec()));
    }
}

fn params_of<M: Module>(module: &M) -> Vec<(ParamId, Vec<usize>)> {
    let mut params = Params::default();
    module.visit(&mut params);
    params.0
}

/// The training batch: inputs in [-1, 1), reconstructed.
fn batch(device: &Device) -> Tensor<2> {
    tensor32(values(N * I, 101), [N, I], device)
}

/// Mean squared reconstruction error.
fn mse(y: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let d = y - x;
    (d.clone() * d).mean()
}

/// A tied autoencoder as the attribute would generate it for Burn:
///
/// ```text
/// #[tied::layer]
/// struct TiedAutoEncoder<const I: usize, const H: usize> {
///     enc: Tensor<Rank2<I, H>, ..>,
///     #[tied(transpose_of = enc)]
///     dec: Tensor<Rank2<H, I>, ..>,
///     ..
/// }
/// ```
///
/// `enc` is the only weight `Param`; the decoder is `enc`'s transposed lowering.
#[derive(Module, Debug)]
struct TiedAutoEncoder {
    /// The encoder's stored weight, I×H (no tie on the encoder itself: `Tie::dense`).
    enc: Param<Tensor<2>>,
    enc_bias: Param<Tensor<1>>,
    dec_bias: Param<Tensor<1>>,
    /// The pattern on `enc`, with its checked sizes. Not a parameter: `#[module(skip)]` is how
    /// Burn 0.22 keeps a non-module field out of `visit`/`map`/records and `num_params` (its
    /// `Conv2d` keeps its padding config so; `Ignored<T>` is deprecated for it). Stored rather
    /// than rebuilt in `forward`: `Tie::new` checks the sizes once, at init, as a `Config`'s
    /// `init` does, and a `symmetric` tie's index table is built once per device and shared
    /// by the clones the optimizer makes of the module.
    #[module(skip)]
    tie: Tie,
}

impl TiedAutoEncoder {
    fn init(device: &Device) -> Self {
        let tie = Tie::new("dense", I, H, &[]).unwrap();
        let enc = tensor32(
            values(I * H, 7).iter().map(|v| 0.5 * v).collect(),
            [I, H],
            device,
        );
        TiedAutoEncoder {
            enc: Param::from_tensor(enc),
            enc_bias: Param::from_tensor(Tensor::zeros([H], device)),
            dec_bias: Param::from_tensor(Tensor::zeros([I], device)),
            tie,
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = self.tie.forward(x, self.enc.val()) + self.enc_bias.val().unsqueeze();
        let h = h.tanh();
        self.tie.forward_transposed(h, self.enc.val()) + self.dec_bias.val().unsqueeze()
    }

    /// The decoder's effective weight, H×I, as its forward uses it: the transposed lowering
    /// applied to the identity.
    fn decoder_weight(&self) -> Tensor<2> {
        let eye = Tensor::<2>::eye(H, &self.enc.val().device());
        self.tie.forward_transposed(eye, self.enc.val())
    }
}

/// `steps` Adam steps of `model` on the batch; the loss before and after.
fn train<M: Module>(
    mut model: M,
    forward: impl Fn(&M, Tensor<2>) -> Tensor<2>,
    steps: usize,
) -> (M, f64, f64) {
    let device = device();
    let x = batch(&device);
    let loss = |model: &M| scalar(&mse(forward(model, x.clone()), x.clone()));
    let before = loss(&model);
    let mut optim = AdamConfig::new().init();
    for _ in 0..steps {
        let grads = mse(forward(&model, x.clone()), x.clone()).backward();
        let grads = GradientsParams::from_grads(grads, &model);
        model = optim.step(LR, model, grads);
    }
    let after = loss(&model);
    (model, before, after)
}

#[test]
fn a_tied_autoencoder_keeps_its_decoder_the_encoders_transpose() {
    let model = TiedAutoEncoder::init(&device());

    // One weight parameter: I·H + H + I, not 2·I·H + H + I.
    assert_eq!(model.num_params(), I * H + H + I);
    let shapes: Vec<_> = params_of(&model).into_iter().map(|(_, s)| s).collect();
    assert_eq!(shapes, [vec![I, H], vec![H], vec![I]]);

    let (model, before, after) = train(model, TiedAutoEncoder::forward, STEPS);
    println!("tied autoencoder, {STEPS} Adam steps: loss {before:.6} -> {after:.6}");
    assert!(before.is_finite() && after.is_finite());
    assert!(
        after < 0.5 * before,
        "the loss should fall: {before} -> {after}"
    );

    // Still one weight parameter after training.
    assert_eq!(model.num_params(), I * H + H + I);
    let enc = host32(&model.enc.val());
    assert_ne!(
        enc,
        host32(&TiedAutoEncoder::init(&device()).enc.val()),
        "the encoder trained"
    );
    // The decoder's weight is exactly the encoder's transpose: as the decoder's forward computes
    // it, and as `effective` gives it.
    let enc_t = host32(&model.enc.val().transpose());
    let dec = host32(&model.decoder_weight());
    let effective_t = host32(&model.tie.effective(model.enc.val()).transpose());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&dec), bits(&enc_t), "decoder weight vs encᵀ");
    assert_eq!(bits(&effective_t), bits(&enc_t), "effective(enc)ᵀ vs encᵀ");
}

/// The same network with its decoder weight a second `Param`, initialized to a copy of `encᵀ`:
/// what one writes on Burn without ties.
#[derive(Module, Debug)]
struct CopiedAutoEncoder {
    enc: Param<Tensor<2>>,
    enc_bias: Param<Tensor<1>>,
    /// H×I, its own storage.
    dec: Param<Tensor<2>>,
    dec_bias: Param<Tensor<1>>,
}

impl CopiedAutoEncoder {
    /// `dec` a new `Param` (its own id) holding `encᵀ`. `detach` is needed: `enc.val()` is a
    /// tracked leaf, its transpose is not a leaf, and `Param::from_tensor` panics on a non-leaf
    /// ("Can't convert a non leaf tensor into a tracked tensor").
    fn init(device: &Device) -> Self {
        let tied = TiedAutoEncoder::init(device);
        CopiedAutoEncoder {
            dec: Param::from_tensor(tied.enc.val().transpose().detach()),
            enc: tied.enc,
            enc_bias: tied.enc_bias,
            dec_bias: tied.dec_bias,
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = (x.matmul(self.enc.val()) + self.enc_bias.val().unsqueeze()).tanh();
        h.matmul(self.dec.val()) + self.dec_bias.val().unsqueeze()
    }
}

#[test]
fn an_autoencoder_of_copies_drifts_apart() {
    let model = CopiedAutoEncoder::init(&device());
    assert_eq!(model.num_params(), 2 * I * H + H + I);
    let start = host32(&model.dec.val());
    assert_eq!(start, host32(&model.enc.val().transpose()));

    let (model, before, after) = train(model, CopiedAutoEncoder::forward, STEPS);
    let drift = max_diff(
        &host32(&model.dec.val()),
        &host32(&model.enc.val().transpose()),
    );
    println!(
        "copied autoencoder (dec = Param::from_tensor(encᵀ)), {STEPS} Adam steps: \
         loss {before:.6} -> {after:.6}, max |dec − encᵀ| = {drift:.6}"
    );
    assert!(after < before, "it trains: {before} -> {after}");
    assert!(drift > 1e-3, "the copies drift apart: {drift}");
}

/// The decoder a clone of the encoder's `Param` (the same `ParamId`), used transposed.
#[derive(Module, Debug)]
struct ClonedParamAutoEncoder {
    enc: Param<Tensor<2>>,
    enc_bias: Param<Tensor<1>>,
    /// I×H: `enc.clone()`, same id, same tensor at init.
    dec: Param<Tensor<2>>,
    dec_bias: Param<Tensor<1>>,
}

impl ClonedParamAutoEncoder {
    fn init(device: &Device) -> Self {
        let tied = TiedAutoEncoder::init(device);
        ClonedParamAutoEncoder {
            dec: tied.enc.clone(),
            enc: tied.enc,
            enc_bias: tied.enc_bias,
            dec_bias: tied.dec_bias,
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = (x.matmul(self.enc.val()) + self.enc_bias.val().unsqueeze()).tanh();
        h.matmul(self.dec.val().transpose()) + self.dec_bias.val().unsqueeze()
    }
}

#[test]
fn a_param_cloned_into_two_fields_trains_only_one_of_them() {
    let model = ClonedParamAutoEncoder::init(&device());
    assert_eq!(model.enc.id, model.dec.id);
    // Burn counts the clone twice: `num_params` sums fields, not ids.
    assert_eq!(model.num_params(), 2 * I * H + H + I);
    let start = host32(&model.dec.val());

    let (model, before, after) = train(model, ClonedParamAutoEncoder::forward, STEPS);
    let enc = host32(&model.enc.val());
    let dec = host32(&model.dec.val());
    let drift = max_diff(&enc, &dec);
    println!(
        "cloned Param (dec = enc.clone()), {STEPS} Adam steps: loss {before:.6} -> {after:.6}, \
         max |enc − dec| = {drift:.6}, dec moved {}",
        max_diff(&dec, &start)
    );
    // Still one id, but two tensors: the second field was never stepped.
    assert_eq!(model.enc.id, model.dec.id);
    assert_eq!(dec, start, "the optimizer never steps the second field");
    assert!(drift > 1e-3, "the two fields drift apart: {drift}");
    // The first field is stepped with the second use's gradient alone, so the loss even rises.
    assert!(after > before, "the loss rises: {before} -> {after}");

    // Why: the gradient the optimizer gets for the id is the last field's (the decoder's use),
    // not the sum of both uses.
    let x = batch(&device());
    let grads = mse(model.forward(x.clone()), x).backward();
    let of_enc = host32(&model.enc.val().grad(&grads).unwrap());
    let of_dec = host32(&model.dec.val().grad(&grads).unwrap());
    let stepped = GradientsParams::from_grads(grads, &model);
    assert_eq!(
        stepped.len(),
        3,
        "one gradient for the shared id, one per bias"
    );
    let stepped = host32(&stepped.get::<2>(model.enc.id).unwrap());
    assert_eq!(stepped, of_dec, "the id's gradient is the decoder use's");
    assert!(max_diff(&stepped, &of_enc) > 1e-3, "not the encoder use's");
}

/// The forum's layer as the attribute would generate it for Burn: `#[tied(rows)]` on a 4×4
/// weight, `W[i, j] = w[i]`, plus a bias.
#[derive(Module, Debug)]
struct ForumLayer {
    /// The 4 stored values.
    weight: Param<Tensor<1>>,
    bias: Param<Tensor<1>>,
    #[module(skip)]
    tie: Tie,
}

impl ForumLayer {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.tie.forward(x, self.weight.val()) + self.bias.val().unsqueeze()
    }
}

#[test]
fn the_forums_layer_trains_four_values_with_the_summed_gradient() {
    let device = device();
    let (n, size, lr) = (8, 4, 0.1);
    let tie = Tie::new("rows", size, size, &[]).unwrap();
    let mut layer = ForumLayer {
        weight: Param::from_tensor(tensor32(values(size, 31), [size], &device)),
        bias: Param::from_tensor(Tensor::zeros([size], &device)),
        tie,
    };
    assert_eq!(layer.num_params(), size + size);
    let xs = values(n * size, 32);
    let x = tensor32(xs.clone(), [n, size], &device);
    let target = tensor32(values(n * size, 33), [n, size], &device);
    let mut optim = SgdConfig::new().init();
    let mut losses = Vec::new();
    for step in 0..20 {
        let y = layer.forward(x.clone());
        let ys = host32(&y);
        let loss = mse(y, target.clone());
        losses.push(scalar(&loss));
        let grads = loss.backward();
        let w = layer.weight.val();
        let grad = host32(&w.grad(&grads).expect("w's gradient"));

        // The dense reference: dy = 2(y − t)/(n·size), dW = xᵀ·dy, and w[i] is every entry of
        // row i of W, so its gradient is row i of dW summed.
        let ts = host32(&target);
        let dy: Vec<f64> = ys
            .iter()
            .zip(&ts)
            .map(|(y, t)| 2.0 * f64::from(y - t) / (n * size) as f64)
            .collect();
        let want: Vec<f64> = (0..size)
            .map(|i| {
                (0..size)
                    .map(|j| {
                        (0..n)
                            .map(|r| xs[r * size + i] * dy[r * size + j])
                            .sum::<f64>()
                    })
                    .sum()
            })
            .collect();
        let got: Vec<f64> = grad.iter().map(|&g| f64::from(g)).collect();
        assert_close(&format!("step {step}: grad(w)"), &got, &want, 1e-5);

        let before = host32(&w);
        let grads = GradientsParams::from_grads(grads, &layer);
        assert_eq!(grads.len(), 2, "one gradient for w, one for the bias");
        layer = optim.step(lr, layer, grads);

        // Still 4 stored values, stepped by their summed gradient.
        let after = host32(&layer.weight.val());
        assert_eq!(layer.weight.val().dims(), [size]);
        let stepped: Vec<f64> = before
            .iter()
            .zip(&grad)
            .map(|(w, g)| f64::from(*w) - lr * f64::from(*g))
            .collect();
        let after64: Vec<f64> = after.iter().map(|&w| f64::from(w)).collect();
        assert_close(&format!("step {step}: w"), &after64, &stepped, 1e-6);
    }
    assert_eq!(layer.num_params(), size + size);
    println!(
        "forum's layer, 20 SGD steps: loss {:.6} -> {:.6}",
        losses[0], losses[19]
    );
    assert!(losses[19] < losses[0], "the loss should fall: {losses:?}");
}
