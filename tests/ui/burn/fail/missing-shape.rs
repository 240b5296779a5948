use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct TiedLinear {
    #[tied(rows)]
    pub weight: Param<Tensor<2>>,
    #[tied(shape = [n])]
    pub bias: Param<Tensor<1>>,
}

fn main() {
    let device = Device::flex().autodiff();
    let _layer = TiedLinearConfig::new(4).init(&device);
}
