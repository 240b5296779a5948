#[tied::layer]
pub struct Layer {
    #[tied(rows)]
    pub weight: tied::prelude::Tensor<tied::prelude::Rank2<4, 4>, f32, tied::prelude::Cpu>,
}

fn main() {}
