//! The large case: N = 1024 inputs and outputs, B = 256, 16 rayon threads, repeated. dfdx 0.13's
//! CPU matmul races when a stride-0 (broadcast) tensor on the tape is an operand, so wrong
//! gradients show up only in some runs, at large sizes, with many threads: exactly this setting.
//! Every lowering and the effective-weight accessor must match the dense reference every time.
//!
//! The test is sensitive: with a stride-0 `broadcast()` in place of the effective weight it failed
//! in each of 3 runs here (1–3 of the 10 repeats with a wrong gradient entry).
//!
//! One test in this binary, so `RAYON_NUM_THREADS` is set before rayon's pool exists.

mod common;

use common::*;
use tied::prelude::*;
use tied::Rows;

const N: usize = 1024;
const B: usize = 256;
const REPEATS: u64 = 10;

#[test]
fn rows_layer_matches_the_dense_reference_under_16_threads() {
    std::env::set_var("RAYON_NUM_THREADS", "16");
    let dev = Cpu::default();
    let mut mismatches = Vec::new();
    for run in 0..REPEATS {
        let mut layer = dev.build_module::<TiedLinearConfig<N>, f64>();
        layer.weight = dev.tensor_from_vec(values(N, 100 + run), (Const,));
        layer.bias = dev.tensor_from_vec(values(N, 200 + run), (Const,));
        let x: Tensor<(usize, Const<N>), f64, Cpu> =
            dev.tensor_from_vec(values(B * N, 300 + run), (B, Const));
        let r = values(B * N, 400 + run);
        let rt: Tensor<(usize, Const<N>), f64, Cpu> = dev.tensor_from_vec(r.clone(), (B, Const));
        let want = reference::<Rows, N, N, f64>(
            &layer.weight.as_vec(),
            Some(&layer.bias.as_vec()),
            &x.as_vec(),
            &r,
        );

        // The generated forward (structure-aware, no N×N tensor).
        let y = layer.forward(x.trace(Gradients::leaky()));
        let y_vals = y.retaped::<NoneTape>().as_vec();
        let grads = (y * rt.clone()).sum::<Rank0, _>().backward();
        let got = [
            ("forward: y", y_vals, &want.y),
            (
                "forward: grad(weight)",
                grads.get(&layer.weight).as_vec(),
                &want.grad_stored,
            ),
            (
                "forward: grad(bias)",
                grads.get(&layer.bias).as_vec(),
                &want.grad_bias,
            ),
            ("forward: grad(x)", grads.get(&x).as_vec(), &want.grad_x),
        ];

        // A hand-written forward through the effective weight, which goes into matmul.
        let w = layer.weight_effective(OwnedTape::default());
        let y2 = x.trace(Gradients::leaky()).matmul(w);
        let grads2 = (y2 * rt).sum::<Rank0, _>().backward();
        let w_grad = grads2.get(&layer.weight).as_vec();

        for (what, got, want) in got
            .iter()
            .map(|(w, g, t)| (*w, g.as_slice(), t.as_slice()))
            .chain([(
                "effective: grad(weight)",
                w_grad.as_slice(),
                want.grad_stored.as_slice(),
            )])
        {
            let bad = got
                .iter()
                .zip(want)
                .filter(|(g, w)| (*g - *w).abs() > 1e-9 * g.abs().max(w.abs()).max(1.0))
                .count();
            if bad > 0 {
                mismatches.push(format!("run {run}: {what}: {bad} entries differ"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
