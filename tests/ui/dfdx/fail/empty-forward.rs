use tied::prelude::*;

#[tied::layer(forward = [])]
pub struct Net<E: Dtype, D: Device<E>> {
    pub enc: Tensor<Rank2<4, 2>, E, D>,
    pub enc_bias: Tensor<Rank1<2>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<2, 4>, E, D>,
    pub dec_bias: Tensor<Rank1<4>, E, D>,
}

fn main() {
    // The rest of the program still compiles: the error above comes alone.
    let dev = Cpu::default();
    let net = dev.build_module::<NetConfig, f32>();
    let _y = net.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
