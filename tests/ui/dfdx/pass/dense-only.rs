//! A dense weight only: no `#[tied]` at all, the macro still builds a plain linear layer.
#![deny(warnings)]

use tied::prelude::*;

/// A plain `x·W`.
#[tied::layer]
pub struct Plain<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    /// Every entry its own parameter.
    pub weight: Tensor<Rank2<I, O>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<PlainConfig<2, 3>, f32>();
    assert_eq!(layer.num_trainable_params(), 2 * 3);
    layer.weight = dev.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let y = layer.forward(dev.tensor([1.0, -1.0]));
    assert_eq!(y.array(), [-3.0, -3.0, -3.0]);
    assert_eq!(
        layer.weight_effective(NoneTape).array(),
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    );
}
