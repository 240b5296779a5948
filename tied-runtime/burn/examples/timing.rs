//! A quick timing of each lowering against a dense `x·W`, forward and backward, on Burn's flex
//! backend: `cargo run --release -p tied-burn --features flex --example timing [N ...]`.
//! Not a benchmark: the median of a few steps, to see which lowerings are where.

use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use tied_burn::Tie;

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

fn main() {
    let device = burn::tensor::Device::flex().autodiff();
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a size"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1024, 4096]
    } else {
        sizes
    };
    let b = 64;
    for n in sizes {
        let x = Tensor::<2>::random([b, n], Distribution::Default, &device).require_grad();
        for (key, stated) in [
            ("dense", vec![]),
            ("rows", vec![]),
            ("tile", vec![64, 64]),
            ("toeplitz", vec![]),
            ("circulant", vec![]),
            ("banded", vec![9]),
            ("diagonal", vec![]),
            ("symmetric", vec![]),
        ] {
            let tie = Tie::new(key, n, n, &stated).unwrap();
            let ms = if tie.stored_shape().len() == 2 {
                let s = Tensor::<2>::random(
                    [tie.stored_shape()[0], tie.stored_shape()[1]],
                    Distribution::Default,
                    &device,
                )
                .require_grad();
                median_ms(|| {
                    let g = tie.forward(x.clone(), s.clone()).sum().backward();
                    let _ = s.grad(&g).unwrap().into_data();
                })
            } else {
                let s = Tensor::<1>::random([tie.stored_len()], Distribution::Default, &device)
                    .require_grad();
                median_ms(|| {
                    let g = tie.forward(x.clone(), s.clone()).sum().backward();
                    let _ = s.grad(&g).unwrap().into_data();
                })
            };
            println!(
                "N = {n}, B = {b}, {key:>9}: {ms:8.2} ms fwd+bwd ({:?})",
                tie.lowering()
            );
        }
    }
}
