//! The generated code is device-generic: the same layers type-check on dfdx's `Cuda` device.
//! Built only with `--features cuda` (CI type-checks it with `cuda,ci-check`, no CUDA toolkit);
//! run it on a machine with a GPU.
#![cfg(feature = "cuda")]

use tied::dfdx::optim::{Adam, Optimizer};
use tied::prelude::*;

#[tied::layer]
#[derive(Clone, Debug)]
pub struct TiedLinear<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(rows = N)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    pub bias: Tensor<Rank1<N>, E, D>,
}

#[tied::layer(forward = [enc + enc_bias, ReLU, dec])]
pub struct AutoEncoder<E: Dtype, D: Device<E>> {
    #[tied(toeplitz = 11)]
    pub enc: Tensor<Rank2<8, 4>, E, D>,
    pub enc_bias: Tensor<Rank1<4>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<4, 8>, E, D>,
}

#[test]
fn forum_layer_on_cuda() {
    let dev = Cuda::default();
    let mut layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    let x = dev.tensor([1.0f32, 2.0, 3.0, 4.0]);
    let grads = layer.forward(x.trace(layer.alloc_grads())).sum().backward();
    assert_eq!(grads.get(&layer.weight).array(), [4.0, 8.0, 12.0, 16.0]);
    let mut opt = Adam::new(&layer, Default::default());
    opt.update(&mut layer, &grads).unwrap();

    let ae = dev.build_module::<AutoEncoderConfig, f32>();
    let y: Tensor<Rank2<2, 8>, f32, Cuda> = ae.forward(dev.sample_normal::<Rank2<2, 8>>());
    assert_eq!(y.shape(), &(Const::<2>, Const::<8>));
}
