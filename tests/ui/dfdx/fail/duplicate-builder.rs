use tied::prelude::*;

#[tied::layer(builder = Small, builder = Big)]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<4, 4>, E, D>,
}

fn main() {}
