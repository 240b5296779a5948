use tied::prelude::Tensor as DfdxTensor;
use tied::prelude::*;

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: DfdxTensor<Rank2<4, 4>, E, D>,
}

fn main() {}
