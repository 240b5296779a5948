use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct Toeplitz {
    #[tied(toeplitz = 5, shape = [4, 3])]
    pub weight: Param<Tensor<2>>,
}

fn main() {
    let device = Device::flex().autodiff();
    let _layer = ToeplitzConfig::new().init(&device);
}
