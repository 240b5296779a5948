use tied::prelude::*;

#[tied::layer(forward = [a, b])]
pub struct Net<E: Dtype, D: Device<E>> {
    pub a: Tensor<Rank2<4, 3>, E, D>,
    pub b: Tensor<Rank2<4, 2>, E, D>,
}

fn main() {
    // The rest of the program still compiles: the error above comes alone.
    let dev = Cpu::default();
    let net = dev.build_module::<NetConfig, f32>();
    let _y = net.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
