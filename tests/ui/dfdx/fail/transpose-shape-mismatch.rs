use tied::prelude::*;

#[tied::layer(forward = [enc, ReLU, dec])]
pub struct AutoEncoder<E: Dtype, D: Device<E>> {
    pub enc: Tensor<Rank2<4, 2>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<2, 3>, E, D>,
}

fn main() {
    // The rest of the program still compiles: the error above comes alone.
    let dev = Cpu::default();
    let ae = dev.build_module::<AutoEncoderConfig, f32>();
    let _y = ae.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
