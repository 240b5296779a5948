//! Convolution as a tied linear layer, and a pattern of your own.
//!
//! A 1-D convolution with a kernel of 3 ("same" padding) is a linear map whose weight is constant
//! along its 3 central diagonals: `#[tied(banded = 3)]` stores the 3 kernel taps, not N×N weights.
//! A pattern `tied` does not have is a type implementing `tied::Tie`: here a checkerboard, defined
//! in this crate and used in the attribute like a built-in one.
//!
//! Run: `cargo run --release --example conv`

use tied::dfdx::optim::{Optimizer, Sgd, SgdConfig};
use tied::prelude::*;

/// y = conv1d(x, kernel) + bias, as a tied linear layer.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct Conv1d<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(banded = 3)]
    pub kernel: Tensor<Rank2<N, N>, E, D>,
    /// One bias shared by every position, as in a convolution.
    #[tied(scalar)]
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// Two values in a checkerboard: `W[i, j] = v[(i + j) mod 2]`.
pub struct Checkerboard;

impl<const I: usize, const O: usize> Tie<I, O> for Checkerboard {
    type Stored = Rank1<2>;
    const NAME: &'static str = "checkerboard";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some((i + j) % 2)
    }
}

#[tied::layer]
#[derive(Clone, Debug)]
pub struct Board<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(pattern = Checkerboard)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
}

fn main() {
    let dev = Cpu::seed_from_u64(1);

    // Learn a known kernel (a discrete Laplacian, [1, -2, 1]) from input/output pairs.
    let mut conv = dev.build_module::<Conv1dConfig<32>, f32>();
    println!("{}\n", conv.kernel_picture().named("W"));
    let mut teacher = dev.build_module::<Conv1dConfig<32>, f32>();
    teacher.kernel = dev.tensor([1.0, -2.0, 1.0]);
    teacher.bias = dev.tensor([0.25]);
    let x: Tensor<Rank2<64, 32>, f32, _> = dev.sample_normal();
    let y = teacher.forward(x.clone());

    let mut opt = Sgd::new(
        &conv,
        SgdConfig {
            lr: 0.05,
            momentum: None,
            weight_decay: None,
        },
    );
    let mut grads = conv.alloc_grads();
    for step in 0..=300 {
        let loss = mse_loss(conv.forward_mut(x.trace(grads)), y.clone());
        if step % 100 == 0 {
            println!("step {step:>3}  loss {:.6}", loss.array());
        }
        grads = loss.backward();
        opt.update(&mut conv, &grads)
            .expect("every parameter is used");
        conv.zero_grads(&mut grads);
    }
    let kernel = conv.kernel.array();
    println!(
        "learned kernel {kernel:?} and bias {:?} (teacher [1, -2, 1] and 0.25), {} parameters \
         instead of {}\n",
        conv.bias.array(),
        conv.num_trainable_params(),
        32 * 32 + 32
    );
    assert!((kernel[1] + 2.0).abs() < 1e-2, "learned {kernel:?}");

    // Your own pattern: checked when built, drawn, differentiated like any other.
    let board = tied::try_build::<BoardConfig<6>, f64, _>(&dev).expect("a valid pattern");
    println!("{}", board.weight_picture().named("W"));
    let x = dev.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let report = tied::gradcheck(&board, &x, GradcheckOptions::default())
        .expect("gradients match finite differences");
    println!(
        "gradcheck passed: {} values compared, largest error {:.1e}",
        report.checked, report.max_abs_error
    );
}
