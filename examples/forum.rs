//! The forum thread's layer, end to end: "tied weights within one linear layer".
//!
//! Every row of `W` is one number, `W[i, j] = w[i]`: 4 stored weights instead of 16. This prints
//! `W` as the thread draws it, checks that autograd sums the gradient over all 4 copies of each
//! weight (grad = 4·x for `sum(layer(x))`), compares parameter counts with a dense layer, and
//! trains the layer with Adam.
//!
//! Run: `cargo run --release --example forum`

use tied::dfdx::optim::{Adam, Optimizer};
use tied::prelude::*;

/// The layer from the thread: `h = x·W + b` with `W[i, j] = weight[i]`.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct TiedLinear<const N: usize, E: Dtype, D: Device<E>> {
    /// One weight per input, shared by all of that input's outgoing connections.
    #[tied(rows = N)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<N>, E, D>,
}

fn main() {
    let dev = Cpu::seed_from_u64(0);
    let mut layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    layer.weight = dev.tensor([0.1, -0.2, 0.3, -0.4]);

    println!(
        "The stored weights fill W as the thread draws it:\n{}\n",
        layer.weight_picture().named("W")
    );
    println!("with values");
    for (i, row) in layer.weight_effective(NoneTape).array().iter().enumerate() {
        let start = if i == 0 { "W = [" } else { "     " };
        let end = if i == 3 { " ]" } else { "" };
        let cells: Vec<String> = row.iter().map(|v| format!("{v:5.1}")).collect();
        println!("{start} {}{end}", cells.join(" "));
    }
    println!();

    // The thread's experiment: out = sum(layer(x)); out.backward().
    let x = dev.tensor([1.0f32, 2.0, 3.0, 4.0]);
    let out = layer.forward(x.trace(layer.alloc_grads())).sum();
    let grads = out.backward();
    let grad = grads.get(&layer.weight).array();
    let four_x = x.array().map(|v| 4.0 * v);
    println!("x              = {:?}", x.array());
    println!("grad(weight)   = {grad:?}");
    println!("4·x            = {four_x:?}");
    assert_eq!(grad, four_x, "each weight's gradient sums its 4 copies");
    println!("grad(weight) == 4·x: autograd summed the gradient over every copy.\n");

    let dense = dev.build_module::<Linear<4, 4>, f32>();
    println!(
        "trainable parameters: tied {} vs dense Linear<4, 4> {}\n",
        layer.num_trainable_params(),
        dense.num_trainable_params()
    );

    train(&dev, &mut layer);
}

/// Fits the layer to data made by a hidden tied layer, with Adam, printing the loss as it falls.
fn train(dev: &Cpu, layer: &mut TiedLinear<4, f32, Cpu>) {
    let teacher_w = dev.tensor([0.5f32, -1.0, 1.5, 2.0]);
    let teacher_b = dev.tensor([0.1f32, 0.2, -0.3, 0.0]);
    let x: Tensor<Rank2<64, 4>, f32, _> = dev.sample_normal();
    // y[b, j] = Σ_i x[b, i]·w[i] + b[j]: exactly what a rows-tied layer computes.
    let dot = (x.clone() * teacher_w.clone().broadcast()).sum::<Rank1<64>, _>();
    let y: Tensor<Rank2<64, 4>, f32, _> = dot.broadcast() + teacher_b.broadcast();

    let mut opt = Adam::new(
        layer,
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let mut grads = layer.alloc_grads();
    println!("training with Adam on 64 samples:");
    let mut first = None;
    let mut last = 0.0;
    for step in 0..=300 {
        let pred = layer.forward_mut(x.trace(grads));
        let loss = mse_loss(pred, y.clone());
        last = loss.array();
        first.get_or_insert(last);
        if step % 50 == 0 {
            println!("  step {step:>3}  loss {last:.6}");
        }
        grads = loss.backward();
        opt.update(layer, &grads)
            .expect("every parameter has a gradient");
        layer.zero_grads(&mut grads);
    }
    let first = first.unwrap_or(last);
    assert!(last < first * 1e-3, "the loss fell from {first} to {last}");
    println!("loss fell from {first:.4} to {last:.2e}");
    println!(
        "learned weight = {:?} (teacher {:?})",
        layer.weight.array(),
        teacher_w.array()
    );
}
