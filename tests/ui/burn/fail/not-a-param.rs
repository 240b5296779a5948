use burn::module::Module;
use burn::tensor::Tensor;

#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct TiedLinear {
    #[tied(rows, shape = [n, n])]
    pub weight: Tensor<2>,
}

fn main() {}
