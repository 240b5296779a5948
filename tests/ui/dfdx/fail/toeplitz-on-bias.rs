use tied::prelude::*;

#[tied::layer]
pub struct Layer<const N: usize, E: Dtype, D: Device<E>> {
    pub weight: Tensor<Rank2<N, N>, E, D>,
    #[tied(toeplitz = 7)]
    pub bias: Tensor<Rank1<N>, E, D>,
}

fn main() {
    // The rest of the program still compiles: the error above comes alone.
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig<4>, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
