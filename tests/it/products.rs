//! The products `tied` computes itself on faer's multiply (`tied::kernels::dense`): dense fields,
//! their `transpose_of` and `same_as` uses, with plain and tied biases. Each against the dfdx-op
//! lowering it replaced (`with_reference`: dfdx's `matmul` on its own gemm), a dense f64
//! reference, and f64 finite differences on 1-D, 2-D and 3-D inputs, on both tapes, in f32 and
//! f64. The 16-thread repeats are in `tests/multithreaded.rs`.

use crate::common::*;
use tied::kernels::with_reference;
use tied::prelude::*;
use tied::{try_apply_biased, Batch, Dense, Tie, Transposed};
use tied_dfdx::__private::TiedBias;

/// Values of a `P`-stored tensor, a bias and an input; `y = x·W + b` and every gradient of
/// `Σ y ⊙ r`, fused and with kernels off, against the dense reference.
fn check<P: Tie<I, O>, const I: usize, const O: usize, E>(n: usize, tol: f64, tied_bias: bool)
where
    E: Dtype + Into<f64> + crate::common::num_like::Zero,
    Cpu: Device<E>,
{
    let dev = Cpu::default();
    let of = |v: Vec<f64>| -> Vec<E> { v.into_iter().map(|v| E::from_f64(v).unwrap()).collect() };
    let numel = <P::Stored as ConstShape>::NUMEL;
    let stored: Tensor<P::Stored, E, Cpu> =
        dev.tensor_from_vec(of(values(numel, 11)), Default::default());
    let bias: Tensor<Rank1<O>, E, Cpu> = dev.tensor_from_vec(of(values(O, 12)), (Const,));
    let scalar: Tensor<Rank1<1>, E, Cpu> = dev.tensor_from_vec(of(values(1, 13)), (Const,));
    let x: Batch<I, E, Cpu, NoneTape> = dev.tensor_from_vec(of(values(n * I, 14)), (n, Const));
    let r = of(values(n * O, 15));
    let rt: Batch<O, E, Cpu, NoneTape> = dev.tensor_from_vec(r.clone(), (n, Const));
    let what = format!(
        "{} {I}x{O} n={n} {} tied bias: {tied_bias}",
        P::NAME,
        std::any::type_name::<E>()
    );

    let run = |tape: bool| -> [Vec<f64>; 4] {
        let f64s = |v: Vec<E>| v.into_iter().map(Into::into).collect::<Vec<f64>>();
        let apply = |x: Batch<I, E, Cpu, OwnedTape<E, Cpu>>| {
            if tied_bias {
                try_apply_biased::<P, I, O, E, Cpu, _, _>(
                    x,
                    &stored,
                    &TiedBias::<tied::Scalar, O, E, Cpu>::new(&scalar),
                )
            } else {
                try_apply_biased::<P, I, O, E, Cpu, _, _>(x, &stored, &bias)
            }
            .unwrap()
        };
        if !tape {
            let y = if tied_bias {
                try_apply_biased::<P, I, O, E, Cpu, _, _>(
                    x.clone(),
                    &stored,
                    &TiedBias::<tied::Scalar, O, E, Cpu>::new(&scalar),
                )
            } else {
                try_apply_biased::<P, I, O, E, Cpu, _, _>(x.clone(), &stored, &bias)
            };
            return [f64s(y.unwrap().as_vec()), vec![], vec![], vec![]];
        }
        let y = apply(x.trace(Gradients::leaky()));
        let y_vals = f64s(y.retaped::<NoneTape>().as_vec());
        let grads = (y * rt.clone()).sum::<Rank0, _>().backward();
        let gb = if tied_bias {
            grads.get(&scalar).as_vec()
        } else {
            grads.get(&bias).as_vec()
        };
        [
            y_vals,
            f64s(grads.get(&x).as_vec()),
            f64s(grads.get(&stored).as_vec()),
            f64s(gb),
        ]
    };
    let fused = run(true);
    let untaped = run(false);
    let ops = with_reference(|| run(true));
    let names = ["y", "grad(x)", "grad(stored)", "grad(bias)"];
    assert_close(&format!("{what}: NoneTape y"), &untaped[0], &fused[0], tol);
    for k in 0..4 {
        assert_close(
            &format!("{what}: {} fused vs dfdx ops", names[k]),
            &fused[k],
            &ops[k],
            tol,
        );
    }

    // The dense reference, in f64 whatever E is.
    let f64s = |v: Vec<E>| v.into_iter().map(Into::into).collect::<Vec<f64>>();
    let bias_values = if tied_bias {
        vec![f64s(scalar.as_vec())[0]; O]
    } else {
        f64s(bias.as_vec())
    };
    let want = reference::<P, I, O, f64>(
        &f64s(stored.as_vec()),
        Some(&bias_values),
        &f64s(x.as_vec()),
        &f64s(r),
    );
    let want_bias = if tied_bias {
        vec![want.grad_bias.iter().sum()]
    } else {
        want.grad_bias
    };
    for (k, want) in [want.y, want.grad_x, want.grad_stored, want_bias]
        .iter()
        .enumerate()
    {
        assert_close(
            &format!("{what}: {} fused vs dense", names[k]),
            &fused[k],
            want,
            tol,
        );
    }
}

macro_rules! check_shapes {
    ($e:ty, $tol:expr) => {
        for n in [1, 3, 17] {
            for tied_bias in [false, true] {
                check::<Dense, 4, 6, $e>(n, $tol, tied_bias);
                check::<Dense, 6, 4, $e>(n, $tol, tied_bias);
                check::<Dense, 1, 5, $e>(n, $tol, tied_bias);
                check::<Dense, 33, 17, $e>(n, $tol, tied_bias);
                check::<Transposed<Dense>, 4, 6, $e>(n, $tol, tied_bias);
                check::<Transposed<Dense>, 6, 4, $e>(n, $tol, tied_bias);
                check::<Transposed<Dense>, 5, 1, $e>(n, $tol, tied_bias);
                check::<Transposed<Dense>, 33, 17, $e>(n, $tol, tied_bias);
            }
        }
    };
}

#[test]
fn dense_products_match_the_dfdx_ops_and_the_dense_reference_f64() {
    check_shapes!(f64, 1e-12);
}

#[test]
fn dense_products_match_the_dfdx_ops_and_the_dense_reference_f32() {
    check_shapes!(f32, 1e-5);
}

/// Large enough that `gemm` packs and splits over threads, in both directions.
#[test]
fn dense_products_at_layer_sizes() {
    check::<Dense, 300, 200, f64>(64, 1e-12, false);
    check::<Transposed<Dense>, 300, 200, f64>(64, 1e-12, false);
    check::<Dense, 257, 129, f32>(65, 1e-4, true);
    check::<Transposed<Dense>, 257, 129, f32>(65, 1e-4, true);
}

/// A tied autoencoder: the decoder is the encoder's transpose.
#[tied::layer(forward = [enc + enc_bias, Tanh, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct AutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    pub enc: Tensor<Rank2<I, H>, E, D>,
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

/// The same tie the other way round: the encoder is the decoder's transpose, and the stored
/// matrix is H×I.
#[tied::layer(forward = [enc + enc_bias, Tanh, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct DecoderStored<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    #[tied(transpose_of = dec)]
    pub enc: Tensor<Rank2<I, H>, E, D>,
    #[tied(scalar)]
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

/// One weight used twice (`same_as`), a dense field with a tied bias between.
#[tied::layer(forward = [first + first_bias, Tanh, second + second_bias])]
#[derive(Clone, Debug)]
pub struct Shared<const N: usize, E: Dtype, D: Device<E>> {
    pub first: Tensor<Rank2<N, N>, E, D>,
    #[tied(scalar)]
    pub first_bias: Tensor<Rank1<N>, E, D>,
    #[tied(same_as = first)]
    pub second: Tensor<Rank2<N, N>, E, D>,
    pub second_bias: Tensor<Rank1<N>, E, D>,
}

/// `layer` on 1-D, 2-D and 3-D inputs: finite differences in f64, the `NoneTape` forward equal to
/// the `OwnedTape` one, and the fused forward and gradients (the input's, and the stored
/// parameters' as `grads_of` lists them) equal to the dfdx-op lowering's.
fn check_layer<M, const I: usize>(
    layer: &M,
    what: &str,
    grads_of: fn(&M, &Gradients<f64, Cpu>) -> Vec<Vec<f64>>,
) where
    M: Clone
        + TensorCollection<f64, Cpu>
        + Module<Tensor<Rank1<I>, f64, Cpu, Owned>, Output = Tensor<Rank1<I>, f64, Cpu, Owned>>
        + Module<Tensor<Rank1<I>, f64, Cpu>, Output = Tensor<Rank1<I>, f64, Cpu>>
        + Module<Batch<I, f64, Cpu, Owned>, Output = Batch<I, f64, Cpu, Owned>>
        + Module<Batch<I, f64, Cpu, NoneTape>, Output = Batch<I, f64, Cpu, NoneTape>>
        + Module<
            Tensor<(usize, usize, Const<I>), f64, Cpu, Owned>,
            Output = Tensor<(usize, usize, Const<I>), f64, Cpu, Owned>,
        > + Module<
            Tensor<(usize, usize, Const<I>), f64, Cpu>,
            Output = Tensor<(usize, usize, Const<I>), f64, Cpu>,
        >,
{
    let dev = Cpu::default();
    let x1: Tensor<Rank1<I>, f64, Cpu> = dev.tensor_from_vec(values(I, 1), (Const,));
    let x2: Batch<I, f64, Cpu, NoneTape> = dev.tensor_from_vec(values(4 * I, 2), (4, Const));
    let x3: Tensor<(usize, usize, Const<I>), f64, Cpu> =
        dev.tensor_from_vec(values(6 * I, 3), (2, 3, Const));
    let opts = GradcheckOptions::default();
    gradcheck(layer, &x1, opts).unwrap_or_else(|e| panic!("{what} 1-D: {e}"));
    gradcheck(layer, &x2, opts).unwrap_or_else(|e| panic!("{what} 2-D: {e}"));
    gradcheck(layer, &x3, opts).unwrap_or_else(|e| panic!("{what} 3-D: {e}"));

    let run = || {
        let y_plain = layer.forward(x3.clone()).as_vec();
        let y = layer.forward(x3.leaky_trace());
        assert_eq!(
            y.as_vec(),
            y_plain,
            "{what}: OwnedTape and NoneTape forwards differ"
        );
        let grads = y.square().sum::<Rank0, _>().backward();
        let mut all = vec![y_plain, grads.get(&x3).as_vec()];
        all.extend(grads_of(layer, &grads));
        all
    };
    let fused = run();
    let ops = with_reference(run);
    assert_eq!(fused.len(), ops.len());
    for (k, (got, want)) in fused.iter().zip(&ops).enumerate() {
        assert_close(
            &format!("{what}: part {k} fused vs dfdx ops"),
            got,
            want,
            1e-12,
        );
    }
}

#[test]
fn tied_products_pass_finite_differences_on_1d_2d_3d_inputs() {
    let dev = Cpu::default();
    check_layer::<_, 7>(
        &dev.build_module::<AutoEncoderConfig<7, 3>, f64>(),
        "autoencoder (dec = encᵀ)",
        |m, g| {
            vec![
                g.get(&m.enc).as_vec(),
                g.get(&m.enc_bias).as_vec(),
                g.get(&m.dec_bias).as_vec(),
            ]
        },
    );
    check_layer::<_, 7>(
        &dev.build_module::<DecoderStoredConfig<7, 3>, f64>(),
        "autoencoder (enc = decᵀ), scalar bias",
        |m, g| {
            vec![
                g.get(&m.dec).as_vec(),
                g.get(&m.enc_bias).as_vec(),
                g.get(&m.dec_bias).as_vec(),
            ]
        },
    );
    check_layer::<_, 5>(
        &dev.build_module::<SharedConfig<5>, f64>(),
        "same_as, scalar bias",
        |m, g| {
            vec![
                g.get(&m.first).as_vec(),
                g.get(&m.first_bias).as_vec(),
                g.get(&m.second_bias).as_vec(),
            ]
        },
    );
    check_layer::<_, 6>(
        &dev.build_module::<DenseLinearConfig<6, 6>, f64>(),
        "dense field",
        |m, g| vec![g.get(&m.weight).as_vec(), g.get(&m.bias).as_vec()],
    );
}

/// An optimizer step sees the one stored encoder: after Adam steps the decoder is still exactly
/// its transpose, and the fused and dfdx-op lowerings train to the same weights.
#[test]
fn training_through_the_fused_products_matches_the_dfdx_ops() {
    let dev = Cpu::seed_from_u64(3);
    let start = dev.build_module::<AutoEncoderConfig<8, 3>, f64>();
    let x: Batch<8, f64, Cpu, NoneTape> = dev.tensor_from_vec(values(5 * 8, 9), (5, Const));
    let train = || {
        let mut ae = start.clone();
        let mut opt = Adam::new(&ae, Default::default());
        let mut grads = ae.alloc_grads();
        for _ in 0..20 {
            let loss = (ae.forward_mut(x.trace(grads)) - x.clone()).square().mean();
            grads = loss.backward();
            opt.update(&mut ae, &grads).unwrap();
            ae.zero_grads(&mut grads);
        }
        ae
    };
    let fused = train();
    let ops = with_reference(train);
    assert_close("enc", &fused.enc.as_vec(), &ops.enc.as_vec(), 1e-10);
    assert_close(
        "dec_bias",
        &fused.dec_bias.as_vec(),
        &ops.dec_bias.as_vec(),
        1e-10,
    );
    let enc = fused.enc.as_vec();
    let dec = fused.dec_effective(NoneTape).as_vec();
    for i in 0..8 {
        for h in 0..3 {
            assert_eq!(
                dec[h * 8 + i],
                enc[i * 3 + h],
                "dec[{h}, {i}] is enc[{i}, {h}]"
            );
        }
    }
}
