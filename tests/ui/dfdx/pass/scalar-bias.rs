//! Tied biases: `scalar` stores one value for every output, `same_as` shares another bias.
#![deny(warnings)]

use tied::prelude::*;

/// A dense weight with one bias value added to every output.
#[tied::layer]
pub struct Shifted<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    /// Every entry its own parameter.
    pub weight: Tensor<Rank2<I, O>, E, D>,
    /// One stored value.
    #[tied(scalar)]
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// Two steps of the same width sharing one scalar bias.
#[tied::layer(forward = [a + a_bias, ReLU, b + b_bias])]
pub struct TwoSteps<const H: usize, E: Dtype, D: Device<E>> {
    /// The first weight.
    pub a: Tensor<Rank2<H, H>, E, D>,
    /// One stored value, shared with `b_bias`.
    #[tied(scalar)]
    pub a_bias: Tensor<Rank1<H>, E, D>,
    /// The second weight.
    pub b: Tensor<Rank2<H, H>, E, D>,
    /// The same value as `a_bias`.
    #[tied(same_as = a_bias)]
    pub b_bias: Tensor<Rank1<H>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();

    let mut layer = dev.build_module::<ShiftedConfig<2, 3>, f32>();
    assert_eq!(layer.num_trainable_params(), 2 * 3 + 1);
    layer.weight = dev.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    layer.bias = dev.tensor([0.5]);
    let y = layer.forward(dev.tensor([1.0, -1.0]));
    assert_eq!(y.array(), [-2.5, -2.5, -2.5]);

    let mut two = dev.build_module::<TwoStepsConfig<2>, f32>();
    assert_eq!(two.num_trainable_params(), 4 + 1 + 4);
    two.a = dev.tensor([[1.0, 0.0], [0.0, 1.0]]);
    two.a_bias = dev.tensor([1.0]);
    two.b = dev.tensor([[1.0, 1.0], [1.0, -1.0]]);
    // [2, −3] + 1 = [3, −2], ReLU = [3, 0], ·b = [3, 3], + 1.
    let y = two.forward(dev.tensor([2.0, -3.0]));
    assert_eq!(y.array(), [4.0, 4.0]);
}
