//! An extra type parameter: the activation of a two-layer MLP, named in the declared forward and
//! carried by a `PhantomData` marker field.
#![deny(warnings)]

use core::marker::PhantomData;
use tied::prelude::*;

/// `y = (x·W + b1 → A)·W + b2`, one weight used twice.
#[tied::layer(forward = [first + b1, A, second + b2])]
pub struct Mlp<A: Default, const N: usize, E: Dtype, D: Device<E>> {
    /// The shared weight.
    pub first: Tensor<Rank2<N, N>, E, D>,
    /// First bias.
    pub b1: Tensor<Rank1<N>, E, D>,
    /// The same weight again.
    #[tied(same_as = first)]
    pub second: Tensor<Rank2<N, N>, E, D>,
    /// Second bias.
    pub b2: Tensor<Rank1<N>, E, D>,
    /// The activation type.
    pub activation: PhantomData<A>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut relu = dev.build_module::<MlpConfig<ReLU, 2>, f32>();
    assert_eq!(relu.num_trainable_params(), 4 + 2 + 2);
    relu.first = dev.tensor([[1.0, -1.0], [0.0, 1.0]]);
    relu.b1 = dev.tensor([0.0, 0.0]);
    relu.b2 = dev.tensor([0.5, 0.5]);
    // h = relu([1, 1]) = [1, 1]; y = [1, 0] + 0.5.
    assert_eq!(relu.forward(dev.tensor([1.0, 2.0])).array(), [1.5, 0.5]);

    let mut neg = relu.clone_as::<Tanh>();
    neg.first = dev.tensor([[0.0, 0.0], [0.0, 0.0]]);
    assert_eq!(neg.forward(dev.tensor([1.0, 2.0])).array(), [0.5, 0.5]);
}

impl<A: Default, const N: usize> Mlp<A, N, f32, Cpu> {
    /// The same parameters with another activation.
    pub fn clone_as<B: Default>(&self) -> Mlp<B, N, f32, Cpu> {
        Mlp {
            first: self.first.clone(),
            b1: self.b1.clone(),
            b2: self.b2.clone(),
            activation: PhantomData,
        }
    }
}
