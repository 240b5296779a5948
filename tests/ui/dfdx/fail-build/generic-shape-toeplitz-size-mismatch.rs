//! A literal `toeplitz = 5` on a weight of generic shape: only the build knows I and O, and the
//! error then states the rule with the numbers (I + O − 1 = 6) and the size given.
use tied::prelude::*;

#[tied::layer]
pub struct Layer<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    #[tied(toeplitz = 5)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
}

fn main() {
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig<4, 3>, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
