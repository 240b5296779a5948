use tied::prelude::*;

#[tied::layer]
pub struct TiedLinear<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(rows, shape = [N, N])]
    pub weight: Tensor<Rank2<N, N>, E, D>,
}

fn main() {}
