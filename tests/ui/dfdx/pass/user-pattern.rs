//! A user-defined pattern in the attribute: a checkerboard of two stored values.
#![deny(warnings)]

use tied::prelude::*;

/// `W[i, j]` is the first stored value on the white squares, the second on the black ones.
pub struct Checkerboard;

impl<const I: usize, const O: usize> Tie<I, O> for Checkerboard {
    type Stored = Rank1<2>;
    const NAME: &'static str = "checkerboard";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some((i + j) % 2)
    }
}

/// A square layer with a checkerboard weight.
#[tied::layer]
pub struct Board<const N: usize, E: Dtype, D: Device<E>> {
    /// Two stored values.
    #[tied(pattern = Checkerboard)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<N>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut board = dev.build_module::<BoardConfig<3>, f32>();
    assert_eq!(board.num_trainable_params(), 2 + 3);
    board.weight = dev.tensor([1.0, 10.0]);
    board.bias = dev.tensor([0.0, 0.5, 0.0]);
    assert_eq!(
        board.weight_effective(NoneTape).array(),
        [[1.0, 10.0, 1.0], [10.0, 1.0, 10.0], [1.0, 10.0, 1.0]]
    );
    // Output 0 and 2: 1·1 + 2·10 + 3·1 = 24; output 1: 1·10 + 2·1 + 3·10 = 42.
    let y = board.forward(dev.tensor([1.0, 2.0, 3.0]));
    assert_eq!(y.array(), [24.0, 42.5, 24.0]);
}
