//! A tied autoencoder: the decoder is the encoder's transpose, stored once.
//!
//! `#[tied(transpose_of = enc)]` makes `dec` a view of `enc`: one tensor for the optimizer, for
//! safetensors and for `num_trainable_params`, and the encoder's gradient sums its use in both
//! halves. The forward is declared in one line instead of hand-written tape plumbing.
//!
//! Run: `cargo run --release --example autoencoder`

use tied::dfdx::optim::{Adam, Optimizer};
use tied::prelude::*;

/// 16 → 4 → 16 with `dec = encᵀ`.
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct AutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    /// The encoder, I×H.
    pub enc: Tensor<Rank2<I, H>, E, D>,
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    /// The decoder: no storage of its own.
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

fn main() {
    let dev = Cpu::seed_from_u64(0);
    let mut ae = dev.build_module::<AutoEncoderConfig<16, 4>, f32>();
    let untied = dev.build_module::<(Linear<16, 4>, ReLU, Linear<4, 16>), f32>();
    println!(
        "trainable parameters: tied {} vs untied {}",
        ae.num_trainable_params(),
        untied.num_trainable_params()
    );

    // Data on a 4-dimensional subspace of R^16, so 4 hidden units can reconstruct it.
    let basis: Tensor<Rank2<4, 16>, f32, _> = dev.sample_normal();
    let codes: Tensor<Rank2<256, 4>, f32, _> = dev.sample_normal();
    let x = codes.matmul(basis).relu();

    let mut opt = Adam::new(
        &ae,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    let mut grads = ae.alloc_grads();
    let mut first = None;
    let mut last = 0.0;
    for step in 0..=600 {
        let loss = mse_loss(ae.forward_mut(x.trace(grads)), x.clone());
        last = loss.array();
        first.get_or_insert(last);
        if step % 100 == 0 {
            println!("step {step:>3}  reconstruction loss {last:.5}");
        }
        grads = loss.backward();
        opt.update(&mut ae, &grads)
            .expect("every parameter is used");
        ae.zero_grads(&mut grads);
    }
    let first = first.unwrap_or(last);
    assert!(last < first / 4.0, "the loss fell from {first} to {last}");

    // Still tied after training: the decoder is exactly the encoder's transpose.
    let (e, d) = (
        ae.enc_effective(NoneTape).array(),
        ae.dec_effective(NoneTape).array(),
    );
    let tied = (0..16).all(|i| (0..4).all(|j| d[j][i] == e[i][j]));
    assert!(tied);
    println!("loss fell from {first:.4} to {last:.4}; dec == encᵀ after training: {tied}");
}
