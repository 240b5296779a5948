use tied::prelude::*;

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank3<2, 4, 4>, E, D>,
}

fn main() {}
