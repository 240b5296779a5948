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

use burn::module::{Module, Param};
use burn::nn::{Relu, Sigmoid};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{DType, Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};

#[path = "shared/digits.rs"]
mod shared;
use shared::{
    load_digits, one_of_each_digit, print_results, shuffle, split, write_plots, Curve, BATCH,
    EPOCHS, HIDDEN, LR, PIXELS,
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
    mut model: M,
    train: &[Vec<f32>],
    test: &Tensor<2>,
    name: &str,
) -> (M, Curve) {
    let mut optim = AdamConfig::new().init();
    let bar = ProgressBar::new(EPOCHS as u64).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] epoch {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_owned());
    let mut curve = Curve {
        train: Vec::new(),
        test: Vec::new(),
    };
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..EPOCHS {
        shuffle(&mut order, &mut rng);
        let (mut sum, mut steps) = (0.0, 0);
        for chunk in order.chunks(BATCH) {
            let rows: Vec<Vec<f32>> = chunk.iter().map(|&k| train[k].clone()).collect();
            let x = batch(device, &rows);
            let loss = mse(model.run(x.clone()), x);
            sum += host(&loss)[0];
            steps += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(LR, model, grads);
        }
        let test_mse = host(&mse(model.run(test.clone()), test.clone()))[0];
        curve.train.push(sum / steps as f32);
        curve.test.push(test_mse);
        bar.set_message(format!("held-out MSE {test_mse:.5}"));
        bar.inc(1);
    }
    bar.finish();
    (model, curve)
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
