use tied::prelude::*;

#[tied::layer(forward = [first, Tanh, second])]
pub struct Shared<E: Dtype, D: Device<E>> {
    pub first: Tensor<Rank2<4, 4>, E, D>,
    #[tied(same_as = shared)]
    pub second: Tensor<Rank2<4, 4>, E, D>,
}

fn main() {
    // The rest of the program still compiles: the error above comes alone.
    let dev = Cpu::default();
    let layer = dev.build_module::<SharedConfig, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
