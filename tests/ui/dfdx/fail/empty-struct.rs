use tied::prelude::*;

#[tied::layer]
pub struct Layer<E: Dtype, D: Device<E>> {}

fn main() {}
