//! A tied autoencoder on real data: the UCI 8×8 handwritten digits (1797 images, shipped in
//! `examples/data/`), trained beside an untied autoencoder of the same shape.
//!
//! The tied one's decoder is its encoder's transpose (`#[tied(transpose_of = enc)]`): one 64×16
//! matrix instead of two, so about half the parameters, for a reconstruction error close to the
//! untied one's on held-out digits. Writes `docs/digits-loss.png` (loss curves) and
//! `docs/digits-reconstructions.png` (held-out digits and both reconstructions).
//!
//! Run: `cargo run --release --example digits`

use tied::dfdx::optim::{Adam, Optimizer};
use tied::prelude::*;

#[path = "shared/digits.rs"]
mod shared;
use shared::{
    load_digits, one_of_each_digit, print_results, split, train_epochs, write_plots, Curve, HIDDEN,
    LR, PIXELS,
};

/// 64 → 16 → 64 with `dec = encᵀ` and a sigmoid output (pixels are in [0, 1]).
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias, Sigmoid])]
#[derive(Clone, Debug)]
pub struct TiedAutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    /// The encoder, I×H.
    pub enc: Tensor<Rank2<I, H>, E, D>,
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    /// The decoder: the encoder's transpose, no storage of its own.
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

/// The same shape, untied: dfdx's own layers.
type Untied = (
    Linear<PIXELS, HIDDEN>,
    ReLU,
    Linear<HIDDEN, PIXELS>,
    Sigmoid,
);

type Images = Tensor<(usize, Const<PIXELS>), f32, Cpu>;

fn main() {
    let (images, labels) = load_digits();
    let (train, test, test_labels) = split(&images, &labels);
    println!(
        "UCI digits: {} training and {} held-out images of 8×8 pixels",
        train.len(),
        test.len()
    );

    let dev = Cpu::seed_from_u64(0);
    let mut tied = dev.build_module::<TiedAutoEncoderConfig<PIXELS, HIDDEN>, f32>();
    let mut untied = dev.build_module::<Untied, f32>();
    let (tied_params, untied_params) = (tied.num_trainable_params(), untied.num_trainable_params());

    let test_x = batch(&dev, &test);
    let tied_curve = train_model(&dev, &mut tied, &train, &test_x, "tied  ");
    let untied_curve = train_model(&dev, &mut untied, &train, &test_x, "untied");

    print_results((&tied_curve, tied_params), (&untied_curve, untied_params));
    // Hidden units that no held-out digit activates: they contribute nothing to a reconstruction.
    let tied_hidden = tied.matmul_enc(test_x.clone())
        + tied
            .enc_bias
            .clone()
            .broadcast_like(&(test.len(), Const::<HIDDEN>));
    let untied_hidden = untied.0.forward(test_x.clone());
    println!(
        "hidden units never active on held-out digits: tied {} of {HIDDEN}, untied {} of {HIDDEN}",
        dead_units(&tied_hidden),
        dead_units(&untied_hidden)
    );

    // Still tied after training: the decoder is exactly the encoder's transpose.
    let (e, d) = (
        tied.enc_effective(NoneTape).array(),
        tied.dec_effective(NoneTape).array(),
    );
    assert!((0..PIXELS).all(|i| (0..HIDDEN).all(|j| d[j][i] == e[i][j])));

    // One held-out image of each digit, with both reconstructions.
    let originals = one_of_each_digit(&test, &test_labels);
    let shown = batch(&dev, &originals);
    let rows = [
        ("original", originals.clone()),
        ("tied", rows_of(&tied.forward(shown.clone()))),
        ("untied", rows_of(&untied.forward(shown))),
    ];
    write_plots(
        "digits",
        "Reconstruction MSE on the UCI digits",
        (&tied_curve, tied_params),
        (&untied_curve, untied_params),
        &rows,
    );
}

/// Trains `model` with Adam on minibatches, recording the training loss and the held-out MSE.
fn train_model<M>(dev: &Cpu, model: &mut M, train: &[Vec<f32>], test: &Images, name: &str) -> Curve
where
    M: TensorCollection<f32, Cpu>
        + ModuleMut<
            Tensor<(usize, Const<PIXELS>), f32, Cpu, OwnedTape<f32, Cpu>>,
            Output = Tensor<(usize, Const<PIXELS>), f32, Cpu, OwnedTape<f32, Cpu>>,
        > + Module<Images, Output = Images>,
{
    let mut opt = Adam::new(
        model,
        AdamConfig {
            lr: LR,
            ..Default::default()
        },
    );
    let mut grads = Some(model.alloc_grads());
    let step = |model: &mut &mut M, rows: &[Vec<f32>]| {
        let x = batch(dev, rows);
        let traced = x.trace(
            grads
                .take()
                .expect("the gradients are back after each step"),
        );
        let loss = mse_loss(model.forward_mut(traced), x);
        let value = loss.array();
        let mut step_grads = loss.backward();
        opt.update(*model, &step_grads)
            .expect("every parameter is used");
        model.zero_grads(&mut step_grads);
        grads = Some(step_grads);
        value
    };
    let held_out = |model: &mut &mut M| mse_loss(model.forward(test.clone()), test.clone()).array();
    let mut model = model;
    train_epochs(&mut model, train, name, step, held_out)
}

fn batch(dev: &Cpu, rows: &[Vec<f32>]) -> Images {
    let data: Vec<f32> = rows.iter().flatten().copied().collect();
    dev.tensor_from_vec(data, (rows.len(), Const::<PIXELS>))
}

/// Columns of pre-activations that are never positive (ReLU outputs 0 for every row).
fn dead_units(pre: &Tensor<(usize, Const<HIDDEN>), f32, Cpu>) -> usize {
    let values = pre.as_vec();
    (0..HIDDEN)
        .filter(|&j| values.chunks(HIDDEN).all(|row| row[j] <= 0.0))
        .count()
}

fn rows_of(t: &Images) -> Vec<Vec<f32>> {
    t.as_vec().chunks(PIXELS).map(<[f32]>::to_vec).collect()
}
