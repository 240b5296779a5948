//! A pattern implemented for 4×4 only, used on a 4×3 weight: the error names the sizes to
//! implement, at the type.
use tied::prelude::*;

pub struct Square;
impl Tie<4, 4> for Square {
    type Stored = Rank1<4>;
    const NAME: &'static str = "square";
    fn index(i: usize, _j: usize) -> Option<usize> {
        Some(i)
    }
}

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(pattern = Square)]
    pub weight: Tensor<Rank2<4, 3>, E, D>,
}

fn main() {
    let dev = Cpu::default();
    let layer = dev.build_module::<LayerConfig, f32>();
    let _y = layer.forward(dev.tensor([1.0, 2.0, 3.0, 4.0]));
}
