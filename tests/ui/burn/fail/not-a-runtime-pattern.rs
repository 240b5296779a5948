use burn::module::{Module, Param};
use burn::tensor::Tensor;

/// Not a pattern: `pattern = T` on a Burn layer needs `T`'s `tied::RuntimePattern` map, at the
/// config's sizes and at literal sizes alike, and says so at the type.
struct Checkerboard;

#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct Board {
    #[tied(pattern = Checkerboard, shape = [n, n])]
    pub weight: Param<Tensor<2>>,
}

#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct SmallBoard {
    #[tied(pattern = Checkerboard, shape = [3, 3])]
    pub weight: Param<Tensor<2>>,
}

fn main() {}
