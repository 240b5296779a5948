#[tied::layer]
pub enum Layer {
    Rows,
    Cols,
}

fn main() {}
