//! `#[tied::layer(builder = ..)]` names the builder instead of `{Name}Config`.
#![deny(warnings)]

use tied::prelude::*;

/// Rows tied, built by `Square`.
#[tied::layer(builder = Square)]
pub struct SquareRows<const N: usize, E: Dtype, D: Device<E>> {
    /// One value per input.
    #[tied(rows)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<N>, E, D>,
}

// The default name is free: the macro did not generate it.
#[allow(dead_code)]
struct SquareRowsConfig;

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut layer: SquareRows<2, f32, Cpu> = dev.build_module::<Square<2>, f32>();
    layer.weight = dev.tensor([2.0, 3.0]);
    layer.bias = dev.tensor([1.0, -1.0]);
    let y = layer.forward(dev.tensor([1.0, 1.0]));
    assert_eq!(y.array(), [6.0, 4.0]);
}
