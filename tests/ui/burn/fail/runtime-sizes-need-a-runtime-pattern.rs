use burn::module::{Module, Param};
use burn::tensor::Tensor;

/// A pattern with a dfdx `Tie` impl only: at the config's (runtime) sizes a Burn layer needs its
/// `tied::RuntimePattern` map, and says so at the type.
struct Checkerboard;

impl<const I: usize, const O: usize> tied::Tie<I, O> for Checkerboard {
    type Stored = tied::dfdx::shapes::Rank1<2>;
    const NAME: &'static str = "checkerboard";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some((i + j) % 2)
    }
}

#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct Board {
    #[tied(pattern = Checkerboard, shape = [n, n])]
    pub weight: Param<Tensor<2>>,
}

fn main() {}
