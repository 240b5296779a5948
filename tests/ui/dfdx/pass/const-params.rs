//! Extra const parameters, in any order around the dtype and device, with sizes stated by name.
#![deny(warnings)]

use tied::prelude::*;

/// `I` inputs to `O` outputs, every row of the weight one value.
#[tied::layer]
pub struct Rect<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    /// One stored value per input.
    #[tied(rows = I)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// The dtype and device first, the sizes after, under other names.
#[tied::layer]
pub struct Late<F: Dtype, Dev: Device<F>, const IN: usize, const OUT: usize> {
    /// One stored value per output.
    #[tied(cols = OUT)]
    pub weight: Tensor<Rank2<IN, OUT>, F, Dev>,
}

#[test]
fn runs() {
    let dev = Cpu::default();

    let mut rect = dev.build_module::<RectConfig<3, 2>, f32>();
    assert_eq!(rect.num_trainable_params(), 3 + 2);
    rect.weight = dev.tensor([1.0, 2.0, 3.0]);
    rect.bias = dev.tensor([10.0, 20.0]);
    // W[i, j] = w[i]: every output is x·w = 1 + 4 + 9 = 14, plus its bias.
    let y = rect.forward(dev.tensor([1.0, 2.0, 3.0]));
    assert_eq!(y.array(), [24.0, 34.0]);

    let mut late = dev.build_module::<LateConfig<3, 2>, f32>();
    assert_eq!(late.num_trainable_params(), 2);
    late.weight = dev.tensor([2.0, -1.0]);
    // W[i, j] = w[j]: output j is (Σ x)·w[j] = 6·w[j].
    let y = late.forward(dev.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]));
    assert_eq!(y.array(), [[12.0, -6.0], [2.0, -1.0]]);
}
