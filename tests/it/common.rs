//! Shared by the integration tests: the layers under test and a dense reference that materializes
//! `W` from a pattern's `index` and differentiates `x·W + b` with plain dfdx ops.
#![allow(dead_code)]

use tied::prelude::*;

/// The forum's layer: square, rows-tied, with bias.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct TiedLinear<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(rows = N)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// Rows-tied, rectangular, no bias.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct RowsNoBias<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
}

/// Columns-tied, rectangular, with bias.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct ColsLinear<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    #[tied(cols = O)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// One value for the whole weight, with bias.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct ScalarLinear<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    #[tied(scalar)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// No tie: must behave exactly like dfdx's `Linear` (with `W` stored I×O).
#[tied::layer]
#[derive(Clone, Debug)]
pub struct DenseLinear<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    pub weight: Tensor<Rank2<I, O>, E, D>,
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// `y = x·W + b` computed densely from `W[i, j] = stored[P::index(i, j)]`, with the gradients of
/// the loss `Σ y ⊙ r`. The stored gradient is folded from `dL/dW` through `index`: it is what a
/// tied layer must produce.
pub struct Reference<E> {
    pub y: Vec<E>,
    pub grad_stored: Vec<E>,
    pub grad_bias: Vec<E>,
    pub grad_x: Vec<E>,
}

pub fn reference<P, const I: usize, const O: usize, E>(
    stored: &[E],
    bias: Option<&[E]>,
    x: &[E],
    r: &[E],
) -> Reference<E>
where
    P: Tie<I, O>,
    E: Dtype + num_like::Zero,
    Cpu: Device<E>,
{
    let dev = Cpu::default();
    let n = x.len() / I;
    // A signed tie's negated entry (`skew` below its diagonal) is `−v`.
    let sign = |i: usize, j: usize, v: E| {
        if P::negated(i, j) {
            E::zero() - v
        } else {
            v
        }
    };
    let w: Vec<E> = (0..I * O)
        .map(|k| {
            let (i, j) = (k / O, k % O);
            P::index(i, j).map_or(E::zero(), |s| sign(i, j, stored[s]))
        })
        .collect();
    let w: Tensor<Rank2<I, O>, E, Cpu> = dev.tensor_from_vec(w, (Const, Const));
    let b: Tensor<Rank1<O>, E, Cpu> = dev.tensor_from_vec(
        bias.map_or_else(|| vec![E::zero(); O], <[E]>::to_vec),
        (Const,),
    );
    let xt: Tensor<(usize, Const<I>), E, Cpu> = dev.tensor_from_vec(x.to_vec(), (n, Const));
    let rt: Tensor<(usize, Const<O>), E, Cpu> = dev.tensor_from_vec(r.to_vec(), (n, Const));
    let y = xt
        .trace(Gradients::leaky())
        .matmul(w.retaped::<OwnedTape<E, Cpu>>())
        + b.retaped::<OwnedTape<E, Cpu>>()
            .broadcast_like(&(n, Const::<O>));
    let y_vals = y.retaped::<NoneTape>().as_vec();
    let grads = (y * rt).sum::<Rank0, _>().backward();
    let gw = grads.get(&w).as_vec();
    let mut grad_stored = vec![E::zero(); stored.len()];
    for i in 0..I {
        for j in 0..O {
            if let Some(k) = P::index(i, j) {
                grad_stored[k] += sign(i, j, gw[i * O + j]);
            }
        }
    }
    Reference {
        y: y_vals,
        grad_stored,
        grad_bias: grads.get(&b).as_vec(),
        grad_x: grads.get(&xt).as_vec(),
    }
}

pub type Owned = OwnedTape<f64, Cpu>;

/// Forward and every gradient of `layer` on input `x` equal the dense reference; the `NoneTape`
/// forward equals the `OwnedTape` one.
pub fn check_reference<M, P, const I: usize, const O: usize, S, S2>(
    layer: &M,
    stored: &Tensor<P::Stored, f64, Cpu>,
    bias: Option<&Tensor<Rank1<O>, f64, Cpu>>,
    x: Tensor<S, f64, Cpu>,
) where
    P: Tie<I, O>,
    S: Shape,
    S2: Shape,
    M: Module<Tensor<S, f64, Cpu, Owned>, Output = Tensor<S2, f64, Cpu, Owned>>
        + Module<Tensor<S, f64, Cpu>, Output = Tensor<S2, f64, Cpu>>,
{
    let dev = Cpu::default();
    let y_plain = layer.forward(x.clone());
    let r = values(y_plain.shape().num_elements(), 7);
    let rt: Tensor<S2, f64, Cpu> = dev.tensor_from_vec(r.clone(), *y_plain.shape());

    let y = layer.forward(x.trace(Gradients::leaky()));
    assert_eq!(
        y.as_vec(),
        y_plain.as_vec(),
        "OwnedTape and NoneTape forwards differ"
    );
    let grads = (y * rt).sum::<Rank0, _>().backward();

    let want = reference::<P, I, O, f64>(
        &stored.as_vec(),
        bias.map(|b| b.as_vec()).as_deref(),
        &x.as_vec(),
        &r,
    );
    assert_close("y", &y_plain.as_vec(), &want.y, 1e-12);
    assert_close(
        "grad(stored)",
        &grads.get(stored).as_vec(),
        &want.grad_stored,
        1e-12,
    );
    if let Some(b) = bias {
        assert_close("grad(bias)", &grads.get(b).as_vec(), &want.grad_bias, 1e-12);
    }
    assert_close("grad(x)", &grads.get(&x).as_vec(), &want.grad_x, 1e-12);
}

/// `Zero` without a dependency on num-traits.
pub mod num_like {
    pub trait Zero {
        fn zero() -> Self;
    }
    impl Zero for f32 {
        fn zero() -> Self {
            0.0
        }
    }
    impl Zero for f64 {
        fn zero() -> Self {
            0.0
        }
    }
}

/// Asserts two slices agree to `tol` relative to the larger magnitude (and absolutely near 0).
pub fn assert_close<E: Into<f64> + Copy>(what: &str, got: &[E], want: &[E], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w): (f64, f64) = (g.into(), w.into());
        let scale = g.abs().max(w.abs()).max(1.0);
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{k}]: got {g}, want {w} (tolerance {tol})"
        );
    }
}

/// Deterministic values in [-1, 1) (SplitMix64).
pub fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// A property test's configuration: `cases` cases from a fixed seed, so `cargo test` and CI run
/// the same inputs every time and a red run means the code changed, not the dice. Set
/// `PROPTEST_RNG_SEED` (any `u64`; and `PROPTEST_CASES` for more cases) to explore new inputs.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let env = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            env.rng_seed
        } else {
            RngSeed::Fixed(0x7115_d0c5)
        },
        ..env
    }
}
