//! `toeplitz = K` with a const-generic `K`: the stored size is checked when the layer is built.
#![deny(warnings)]

use tied::prelude::*;

/// `I` inputs to `O` outputs, constant along each diagonal.
#[tied::layer]
pub struct Diagonals<const I: usize, const O: usize, const K: usize, E: Dtype, D: Device<E>> {
    /// `K = I + O − 1` stored values.
    #[tied(toeplitz = K)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
}

fn main() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<DiagonalsConfig<3, 2, 4>, f32>();
    assert_eq!(layer.num_trainable_params(), 4);
    layer.weight = dev.tensor([1.0, 2.0, 3.0, 4.0]);
    // W[i, j] = v[i − j + O − 1].
    assert_eq!(
        layer.weight_effective(NoneTape).array(),
        [[2.0, 1.0], [3.0, 2.0], [4.0, 3.0]]
    );
    let y = layer.forward(dev.tensor([1.0, 1.0, 1.0]));
    assert_eq!(y.array(), [9.0, 6.0]);
}
