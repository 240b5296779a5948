use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

#[tied::burn::layer(forward = [enc, dec])]
#[derive(Module, Debug)]
pub struct AutoEncoder {
    #[tied(shape = [8, 3])]
    pub enc: Param<Tensor<2>>,
    #[tied(transpose_of = enc, shape = [8, 3])]
    pub dec: Param<Tensor<2>>,
}

fn main() {
    let device = Device::flex().autodiff();
    let _model = AutoEncoderConfig::new().init(&device);
}
