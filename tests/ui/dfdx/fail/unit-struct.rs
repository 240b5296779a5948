#[tied::layer]
pub struct Layer;

fn main() {}
