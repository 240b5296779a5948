//! `digits` on Burn: the same tied autoencoder on the UCI 8×8 handwritten digits, written with
//! `#[tied::burn::layer]`, trained beside an untied one of the same shape, on Burn's portable CPU
//! backend (flex) with autodiff.
//!
//! The tied decoder is the encoder's transpose (`#[tied(transpose_of = enc)]`): one 64×16 `Param`
//! instead of two. Same data, split, batch, epochs and learning rate as `examples/digits.rs`
//! (dfdx); prints the held-out reconstruction error of both models and writes
//! `docs/digits-burn-loss.png` and `docs/digits-burn-reconstructions.png`.
//!
//! Run: `cargo run --release --features burn --example digits_burn`

// Burn through the facade: the facade has no Burn dev-dependency (it would be built for every
// example), and this is the Burn `tied` is built on.
use burn::module::{Module, Param};
use burn::nn::{Relu, Sigmoid};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{DType, Device, Tensor, TensorData};
use tied::burn::burn;

#[path = "shared/digits.rs"]
mod shared;
use shared::{
    load_digits, one_of_each_digit, print_results, split, train_epochs, write_plots, Curve, HIDDEN,
    LR, PIXELS,
};

/// 64 → 16 → 64 with `dec = encᵀ` and a sigmoid output (pixels are in [0, 1]).
#[tied::burn::layer(forward = [enc + enc_bias, Relu, dec + dec_bias, Sigmoid])]
#[derive(Module, Debug)]
pub struct TiedAutoEncoder {
    /// The encoder, pixels × hidden.
    #[tied(shape = [pixels, hidden])]
    pub enc: Param<Tensor<2>>,
    #[tied(shape = [hidden])]
    pub enc_bias: Param<Tensor<1>>,
    /// The decoder: the encoder's transpose, no storage of its own.
    #[tied(transpose_of = enc, shape = [hidden, pixels])]
    pub dec: Param<Tensor<2>>,
    #[tied(shape = [pixels])]
    pub dec_bias: Param<Tensor<1>>,
}

/// The same shape, untied: a decoder of its own.
#[tied::burn::layer(forward = [enc + enc_bias, Relu, dec + dec_bias, Sigmoid])]
#[derive(Module, Debug)]
pub struct UntiedAutoEncoder {
    #[tied(shape = [pixels, hidden])]
    pub enc: Param<Tensor<2>>,
    #[tied(shape = [hidden])]
    pub enc_bias: Param<Tensor<1>>,
    #[tied(shape = [hidden, pixels])]
    pub dec: Param<Tensor<2>>,
    #[tied(shape = [pixels])]
    pub dec_bias: Param<Tensor<1>>,
}

/// What training needs of either model.
trait AutoEncoder: Module {
    fn run(&self, x: Tensor<2>) -> Tensor<2>;
}

impl AutoEncoder for TiedAutoEncoder {
    fn run(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
}

impl AutoEncoder for UntiedAutoEncoder {
    fn run(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
}

fn main() {
    let (images, labels) = load_digits();
    let (train, test, test_labels) = split(&images, &labels);
    println!(
        "UCI digits on Burn: {} training and {} held-out images of 8×8 pixels",
        train.len(),
        test.len()
    );

    let device = Device::flex().autodiff();
    device.seed(0);
    let tied = TiedAutoEncoderConfig::new(PIXELS, HIDDEN).init(&device);
    let untied = UntiedAutoEncoderConfig::new(PIXELS, HIDDEN).init(&device);
    let (tied_params, untied_params) = (tied.num_params(), untied.num_params());

    let test_x = batch(&device, &test);
    let (tied, tied_curve) = train_model(&device, tied, &train, &test_x, "tied  ");
    let (untied, untied_curve) = train_model(&device, untied, &train, &test_x, "untied");

    print_results((&tied_curve, tied_params), (&untied_curve, untied_params));

    // Still tied after training: the decoder is exactly the encoder's transpose.
    assert_eq!(
        host(&tied.dec_effective()),
        host(&tied.enc_effective().transpose()),
        "dec = encᵀ"
    );

    // One held-out image of each digit, with both reconstructions.
    let originals = one_of_each_digit(&test, &test_labels);
    let shown = batch(&device, &originals);
    let rows = [
        ("original", originals.clone()),
        ("tied", rows_of(&tied.forward(shown.clone()))),
        ("untied", rows_of(&untied.forward(shown))),
    ];
    write_plots(
        "digits-burn",
        "Reconstruction MSE on the UCI digits, on Burn",
        (&tied_curve, tied_params),
        (&untied_curve, untied_params),
        &rows,
    );
}

/// Trains `model` with Adam on minibatches, recording the training loss and the held-out MSE.
fn train_model<M: AutoEncoder>(
    device: &Device,
    model: M,
    train: &[Vec<f32>],
    test: &Tensor<2>,
    name: &str,
) -> (M, Curve) {
    let mut optim = AdamConfig::new().init();
    // Burn's optimizer takes the model by value and gives the stepped one back.
    let step = |model: &mut Option<M>, rows: &[Vec<f32>]| {
        let m = model.take().expect("the model is back after each step");
        let x = batch(device, rows);
        let loss = mse(m.run(x.clone()), x);
        let value = host(&loss)[0];
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        *model = Some(optim.step(LR, m, grads));
        value
    };
    let held_out = |model: &mut Option<M>| {
        let m = model.as_ref().expect("the model is back after each step");
        host(&mse(m.run(test.clone()), test.clone()))[0]
    };
    let mut model = Some(model);
    let curve = train_epochs(&mut model, train, name, step, held_out);
    (model.expect("the model is back after each step"), curve)
}

fn mse(y: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let d = y - x;
    (d.clone() * d).mean()
}

fn batch(device: &Device, rows: &[Vec<f32>]) -> Tensor<2> {
    let data: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(
        TensorData::new(data, [rows.len(), PIXELS]),
        (device, DType::F32),
    )
}

fn host<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.try_to_vec_as::<f32>().expect("f32 values")
}

fn rows_of(t: &Tensor<2>) -> Vec<Vec<f32>> {
    host(t).chunks(PIXELS).map(<[f32]>::to_vec).collect()
}
