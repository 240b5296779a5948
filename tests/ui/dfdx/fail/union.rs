#[tied::layer]
pub union Layer {
    pub weight: [f32; 4],
    pub bits: [u32; 4],
}

fn main() {}
