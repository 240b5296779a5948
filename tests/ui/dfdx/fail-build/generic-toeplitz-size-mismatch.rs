use tied::prelude::*;

#[tied::layer]
pub struct Layer<const K: usize, E: Dtype, D: Device<E>> {
    #[tied(toeplitz = K)]
    pub weight: Tensor<Rank2<4, 3>, E, D>,
}

fn main() {
    // `K` is only known here: 4 + 3 − 1 = 6 values, not 5.
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig<5>, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
