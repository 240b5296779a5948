use tied::prelude::*;

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<4, 4>, E, D, OwnedTape<E, D>>,
}

fn main() {}
