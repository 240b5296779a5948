//! Shapes written as tuples of `Const<N>` instead of `Rank2`/`Rank1`.
#![deny(warnings)]

use tied::prelude::*;

/// Columns tied, with tuple shapes.
#[tied::layer]
pub struct TupleShapes<const N: usize, E: Dtype, D: Device<E>> {
    /// One value per output.
    #[tied(cols = N)]
    pub weight: Tensor<(Const<N>, Const<N>), E, D>,
    /// One bias per output.
    pub bias: Tensor<(Const<N>,), E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<TupleShapesConfig<2>, f32>();
    assert_eq!(layer.num_trainable_params(), 2 + 2);
    layer.weight = dev.tensor([1.0, -2.0]);
    layer.bias = dev.tensor([0.0, 1.0]);
    // (Σx)·w[j] + b[j] with Σx = 3.
    let y = layer.forward(dev.tensor([1.0, 2.0]));
    assert_eq!(y.array(), [3.0, -5.0]);
    assert_eq!(
        layer.weight_effective(NoneTape).array(),
        [[1.0, -2.0], [1.0, -2.0]]
    );
}
