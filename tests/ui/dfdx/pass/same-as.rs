//! `same_as`: one weight used by two steps of the forward (ALBERT-style sharing), stored once.
#![deny(warnings)]

use tied::prelude::*;

/// `x → ReLU(x·W + b1) → ·W + b2`, with one `W`.
#[tied::layer(forward = [first + b1, ReLU, second + b2])]
pub struct Shared<const H: usize, E: Dtype, D: Device<E>> {
    /// The shared weight.
    pub first: Tensor<Rank2<H, H>, E, D>,
    /// The first step's bias.
    pub b1: Tensor<Rank1<H>, E, D>,
    /// The same values as `first`.
    #[tied(same_as = first)]
    pub second: Tensor<Rank2<H, H>, E, D>,
    /// The second step's bias.
    pub b2: Tensor<Rank1<H>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut m = dev.build_module::<SharedConfig<2>, f32>();
    assert_eq!(m.num_trainable_params(), 2 * 2 + 2 + 2);
    m.first = dev.tensor([[1.0, 2.0], [3.0, 4.0]]);
    m.b1 = dev.tensor([0.0, -7.0]);
    m.b2 = dev.tensor([1.0, -1.0]);
    // x·W = [4, 6], + b1 = [4, −1], ReLU = [4, 0], ·W = [4, 8], + b2.
    let y = m.forward(dev.tensor([1.0, 1.0]));
    assert_eq!(y.array(), [5.0, 7.0]);
    assert_eq!(
        m.second_effective(NoneTape).array(),
        m.first_effective(NoneTape).array()
    );
}
