//! A tied autoencoder on Burn, built and run: `dec` is `encᵀ`, stored once.
#![deny(warnings)]

use burn::module::{Module, Param};
use burn::nn::Relu;
use burn::tensor::Tensor;

/// Encoder, ReLU, and the encoder's transpose as the decoder.

#[tied::burn::layer(forward = [enc + enc_bias, Relu, dec + dec_bias])]
#[derive(Module, Debug)]
pub struct TiedAutoEncoder {
    /// The encoder's weight, the only matrix stored.
    #[tied(shape = [inputs, hidden])]
    pub enc: Param<Tensor<2>>,
    /// The encoder's bias.
    #[tied(shape = [hidden])]
    pub enc_bias: Param<Tensor<1>>,
    /// The decoder: `encᵀ`, nothing stored.
    #[tied(transpose_of = enc, shape = [hidden, inputs])]
    pub dec: Param<Tensor<2>>,
    /// The decoder's bias.
    #[tied(shape = [inputs])]
    pub dec_bias: Param<Tensor<1>>,
}

#[test]
fn runs() {
    use burn::tensor::Device;

    let device = Device::flex().autodiff();
    let model = TiedAutoEncoderConfig::new(6, 2).init(&device);
    assert_eq!(model.num_params(), 6 * 2 + 2 + 6);
    let y = model.forward(Tensor::<2>::ones([3, 6], &device));
    assert_eq!(y.dims(), [3, 6]);
    let w = model.dec_effective().try_to_vec_as::<f32>().unwrap();
    let e = model
        .enc_effective()
        .transpose()
        .try_to_vec_as::<f32>()
        .unwrap();
    assert_eq!(w, e);
}
