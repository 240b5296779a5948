#[tied::layer]
pub struct Layer<'a, E: tied::prelude::Dtype, D: tied::prelude::Device<E>> {
    #[tied(rows)]
    pub weight: &'a tied::prelude::Tensor<tied::prelude::Rank2<4, 4>, E, D>,
}

fn main() {}
