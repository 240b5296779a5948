use tied::prelude::*;

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<(usize, Const<4>), E, D>,
}

fn main() {}
