#[tied::layer]
pub struct Layer<const N: usize, E: tied::prelude::Dtype> {
    #[tied(rows)]
    pub weight: tied::prelude::Tensor<tied::prelude::Rank2<N, N>, E, tied::prelude::Cpu>,
}

fn main() {}
