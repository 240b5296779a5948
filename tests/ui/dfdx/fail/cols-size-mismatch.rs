use tied::prelude::*;

#[tied::layer]
pub struct Layer<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    #[tied(cols = I)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
}

fn main() {
    // The rest of the program still compiles: the error above comes alone.
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig<4, 2>, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
