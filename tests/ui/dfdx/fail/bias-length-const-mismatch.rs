use tied::prelude::*;

const OUT: usize = 3;

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(cols)]
    pub weight: Tensor<Rank2<4, 2>, E, D>,
    pub bias: Tensor<Rank1<OUT>, E, D>,
}

fn main() {}
