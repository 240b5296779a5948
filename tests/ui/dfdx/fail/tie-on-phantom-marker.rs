use core::marker::PhantomData;
use tied::prelude::*;

#[tied::layer]
pub struct Layer<A, E: Dtype, D: Device<E>> {
    pub weight: Tensor<Rank2<4, 4>, E, D>,
    #[tied(rows)]
    pub marker: PhantomData<A>,
}

fn main() {
    // The rest of the program still compiles: the error above comes alone.
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig<ReLU>, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
