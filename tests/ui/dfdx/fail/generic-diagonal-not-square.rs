//! `diagonal` on a weight whose sides are const items the macro cannot compare: the compiler
//! compares them, at the shape.
use tied::prelude::*;

const IN: usize = 4;
const OUT: usize = 3;

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(diagonal)]
    pub weight: Tensor<Rank2<IN, OUT>, E, D>,
}

fn main() {
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
