//! The dtype and device bounded in a `where` clause, with an extra bound the builder must not
//! carry (it names `E`).
#![deny(warnings)]

use tied::prelude::*;

/// Every entry of the weight one value.
#[tied::layer]
pub struct Uniform<const N: usize, E, D>
where
    E: Dtype,
    D: Device<E>,
    E: Copy,
{
    /// The one stored value.
    #[tied(scalar)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<N>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<UniformConfig<3>, f32>();
    assert_eq!(layer.num_trainable_params(), 1 + 3);
    layer.weight = dev.tensor([0.5]);
    layer.bias = dev.tensor([0.0, 1.0, 2.0]);
    // W[i, j] = w: every output is w·Σx = 0.5·6 = 3, plus its bias.
    let y = layer.forward(dev.tensor([1.0, 2.0, 3.0]));
    assert_eq!(y.array(), [3.0, 4.0, 5.0]);
    assert_eq!(layer.weight_effective(NoneTape).array(), [[0.5; 3]; 3]);
}
