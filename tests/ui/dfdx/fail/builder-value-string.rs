use tied::prelude::*;

#[tied::layer(builder = "Config")]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<4, 4>, E, D>,
}

fn main() {
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
