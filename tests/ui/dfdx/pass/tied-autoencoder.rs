//! A tied autoencoder with a declared forward: the decoder is the encoder's transpose, stored once.
#![deny(warnings)]

use tied::prelude::*;

/// `x → ReLU(x·enc + enc_bias) → ·encᵀ + dec_bias`.
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
pub struct AutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    /// The encoder.
    pub enc: Tensor<Rank2<I, H>, E, D>,
    /// The encoder's bias.
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    /// The decoder: no values of its own.
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    /// The decoder's bias.
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut ae = dev.build_module::<AutoEncoderConfig<3, 2>, f32>();
    // `dec` has no tensor: enc (3·2), enc_bias (2), dec_bias (3).
    assert_eq!(ae.num_trainable_params(), 3 * 2 + 2 + 3);
    ae.enc = dev.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
    ae.enc_bias = dev.tensor([0.0, -10.0]);
    ae.dec_bias = dev.tensor([0.5, 0.5, 0.5]);
    // x·enc = [4, 5], + enc_bias = [4, −5], ReLU = [4, 0], ·encᵀ = [4, 0, 4], + dec_bias.
    let y = ae.forward(dev.tensor([1.0, 2.0, 3.0]));
    assert_eq!(y.array(), [4.5, 0.5, 4.5]);
    assert_eq!(
        ae.dec_effective(NoneTape).array(),
        [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
    );
}
