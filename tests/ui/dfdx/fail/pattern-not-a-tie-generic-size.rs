//! A type that is not a pattern, on a weight of generic size: the error is at the type too.
use tied::prelude::*;

#[tied::layer]
pub struct Layer<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(pattern = String)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
}

fn main() {
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig<4>, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
