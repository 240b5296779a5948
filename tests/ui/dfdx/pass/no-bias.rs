//! A tied weight without a bias: the forward is `x·W` alone.
#![deny(warnings)]

use tied::prelude::*;

/// Rows tied, no bias.
#[tied::layer]
pub struct NoBias<const N: usize, E: Dtype, D: Device<E>> {
    /// One value per input.
    #[tied(rows = N)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<NoBiasConfig<3>, f32>();
    assert_eq!(layer.num_trainable_params(), 3);
    layer.weight = dev.tensor([1.0, 2.0, 3.0]);
    // x·w = 1 + 0 + 6 = 7, in every output; a batch of two rows and a rank-3 input too.
    let y = layer.forward(dev.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]));
    assert_eq!(y.array(), [[7.0; 3], [2.0; 3]]);
    let y = layer.forward(dev.tensor([[[1.0, 1.0, 1.0]]]));
    assert_eq!(y.array(), [[[6.0; 3]]]);
}
