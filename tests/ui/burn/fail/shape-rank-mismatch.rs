use burn::module::{Module, Param};
use burn::tensor::Tensor;

#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct TiedLinear {
    #[tied(rows, shape = [n])]
    pub weight: Param<Tensor<2>>,
}

fn main() {}
