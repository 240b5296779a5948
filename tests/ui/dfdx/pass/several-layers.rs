//! Several tied layers in one module, chained in a dfdx tuple model with a stock dfdx layer.
#![deny(warnings)]

use tied::prelude::*;

/// Rows tied.
#[tied::layer]
pub struct RowsLayer<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    /// One value per input.
    #[tied(rows)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// Columns tied.
#[tied::layer]
pub struct ColsLayer<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    /// One value per output.
    #[tied(cols)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// Three layers in a tuple, as dfdx builds them.
pub type Model = (RowsLayerConfig<3, 4>, ReLU, ColsLayerConfig<4, 2>);

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut model = dev.build_module::<Model, f32>();
    assert_eq!(model.num_trainable_params(), (3 + 4) + (2 + 2));
    model.0.weight = dev.tensor([1.0, 0.0, -1.0]);
    model.0.bias = dev.tensor([0.0, 1.0, -5.0, 2.0]);
    model.2.weight = dev.tensor([1.0, 10.0]);
    model.2.bias = dev.tensor([0.0, 0.5]);
    // Rows: x·w = 1 - 3 = -2 in every output, plus the bias: [-2, -1, -7, 0]; ReLU: [0, 0, 0, 0].
    // Then cols: (Σ h)·w[j] + b[j] = [0, 0.5].
    let y = model.forward(dev.tensor([[1.0, 2.0, 3.0]]));
    assert_eq!(y.array(), [[0.0, 0.5]]);
    // Rows: x·w = 5 - 1 = 4: [4, 5, -1, 6]; ReLU: [4, 5, 0, 6], Σ = 15; cols: [15, 150.5].
    let y = model.forward(dev.tensor([[5.0, 0.0, 1.0]]));
    assert_eq!(y.array(), [[15.0, 150.5]]);
}
