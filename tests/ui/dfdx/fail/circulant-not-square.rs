use tied::prelude::*;

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(circulant)]
    pub weight: Tensor<Rank2<4, 3>, E, D>,
}

fn main() {
    // The rest of the program still compiles: the error above comes alone.
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
