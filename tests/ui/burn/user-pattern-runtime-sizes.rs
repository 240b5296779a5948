use burn::module::{Module, Param};
use burn::tensor::Tensor;

struct Checkerboard;

#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct Board {
    #[tied(pattern = Checkerboard, shape = [n, n])]
    pub weight: Param<Tensor<2>>,
}

fn main() {}
