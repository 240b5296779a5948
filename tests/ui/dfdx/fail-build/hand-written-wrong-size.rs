//! A built-in pattern used by hand, without the macro: `Toeplitz<4>` on a 3×3 weight needs
//! I + O − 1 = 5 stored values. The runtime's own size check refuses it at compile time.
use tied::prelude::*;
use tied::Toeplitz;

fn main() {
    let dev = Cpu::default();
    let stored: Tensor<Rank1<4>, f32, Cpu> = dev.tensor([1.0, 2.0, 3.0, 4.0]);
    let _w = <Toeplitz<4> as Tie<3, 3>>::try_effective(stored);
}
