//! The index family's fused CPU kernels (Toeplitz, circulant, Hankel: FFT or direct correlation;
//! banded: band kernel; symmetric and user patterns: `W` materialized and multiplied) against the
//! gather lowering they replace on the CPU (`kernels::with_reference`), the dense reference and f64
//! finite differences: 1-D/2-D/3-D inputs, both tapes, f32 and f64, empty batches, rectangular
//! shapes and transposes, sizes on both sides of the FFT crossover.
//!
//! Tolerances: f64 results agree with the dense reference to 1e-10 (relative, per entry). The FFT
//! path's error is stated relative to the result's norm, `fft_tolerance::<E>(L)` = 4·ε·log₂ L
//! (L the FFT length), and asserted at that bound in f32 against f64 direct sums.

use crate::common::{self, *};
use proptest::prelude::*;
use tied::prelude::*;
use tied::{
    Banded, Batch, Circulant, Hankel, LowerTriangular, Skew, Symmetric, Toeplitz, Transposed,
    UpperTriangular,
};
use tied_dfdx::kernels::fft::{fft_tolerance, ShiftKernel};
use tied_dfdx::kernels::with_reference;
use tied_dfdx::try_linear;

/// Stripes of three values along the anti-diagonals, with a hole at the diagonal: a pattern the
/// runtime knows nothing about (the shared `u32` table kernel).
pub struct Stripes;

/// The map, written once, framework-free: a Burn layer takes `Stripes` itself, dfdx the `Tie`
/// that [`tied::ByMap`] makes of it ([`StripesTie`]).
impl tied::RuntimePattern for Stripes {
    const NAME: &'static str = "stripes";
    fn stored_len(_inputs: usize, _outputs: usize) -> usize {
        3
    }
    fn index(_inputs: usize, _outputs: usize, i: usize, j: usize) -> Option<usize> {
        (i != j).then_some((i + j) % 3)
    }
}

/// [`Stripes`] on dfdx: three stored values at any size.
pub type StripesTie = tied::ByMap<Stripes, 3>;

/// Outputs and every gradient of one run (`y·r` summed as the loss).
#[derive(Debug)]
struct Run {
    y: Vec<f64>,
    y_untaped: Vec<f64>,
    grad_stored: Vec<f64>,
    grad_bias: Vec<f64>,
    grad_x: Vec<f64>,
}

/// A tensor's values (dfdx's `as_vec` panics on an empty tensor).
fn vec_of<S: Shape>(t: &Tensor<S, f64, Cpu>) -> Vec<f64> {
    if t.shape().num_elements() == 0 {
        Vec::new()
    } else {
        t.as_vec()
    }
}

/// `P` on `n` rows through `try_linear` (the generated forward's call), fused or (`reference`)
/// the gather lowering, with both tapes.
fn run<P: Tie<I, O>, const I: usize, const O: usize>(n: usize, seed: u64, reference: bool) -> Run {
    let go = || {
        let dev = Cpu::default();
        let numel = <P::Stored as ConstShape>::NUMEL;
        let stored: Tensor<P::Stored, f64, Cpu> =
            dev.tensor_from_vec(values(numel, seed), Default::default());
        let bias: Tensor<Rank1<O>, f64, Cpu> = dev.tensor_from_vec(values(O, seed + 1), (Const,));
        let x: Batch<I, f64, Cpu, NoneTape> =
            dev.tensor_from_vec(values(n * I, seed + 2), (n, Const));
        let r: Batch<O, f64, Cpu, NoneTape> =
            dev.tensor_from_vec(values(n * O, seed + 3), (n, Const));
        let y_untaped = try_linear::<P, I, O, _, _, _, _>(x.clone(), &stored, &bias).unwrap();
        let y =
            try_linear::<P, I, O, _, _, _, _>(x.trace(Gradients::leaky()), &stored, &bias).unwrap();
        let y_vals = vec_of(&y.retaped::<NoneTape>());
        let grads = if n == 0 {
            // dfdx cannot sum an empty tensor: run the tape from a scalar that carries it, so the
            // fused op's backward still runs (on no rows).
            let (_, tape) = y.split_tape();
            dev.tensor(0.0).put_tape(tape).backward()
        } else {
            (y * r).sum::<Rank0, _>().backward()
        };
        Run {
            y: y_vals,
            y_untaped: vec_of(&y_untaped),
            grad_stored: vec_of(&grads.get(&stored)),
            grad_bias: vec_of(&grads.get(&bias)),
            grad_x: vec_of(&grads.get(&x)),
        }
    };
    if reference {
        with_reference(go)
    } else {
        go()
    }
}

/// The fused kernel of `P` equals the gather lowering and the dense reference on `n` rows.
fn check<P: Tie<I, O>, const I: usize, const O: usize>(n: usize) {
    let what = |part: &str| format!("{} {I}x{O}, n = {n}: {part}", P::NAME);
    let fused = run::<P, I, O>(n, 40, false);
    let gather = run::<P, I, O>(n, 40, true);
    assert_eq!(
        fused.y,
        fused.y_untaped,
        "{}",
        what("OwnedTape and NoneTape differ")
    );
    let dev = Cpu::default();
    let numel = <P::Stored as ConstShape>::NUMEL;
    let stored: Tensor<P::Stored, f64, Cpu> =
        dev.tensor_from_vec(values(numel, 40), Default::default());
    let dense = if n == 0 {
        // No rows: no output, and every gradient is zero.
        Reference {
            y: Vec::new(),
            grad_stored: vec![0.0; numel],
            grad_bias: vec![0.0; O],
            grad_x: Vec::new(),
        }
    } else {
        reference::<P, I, O, f64>(
            &stored.as_vec(),
            Some(&values(O, 41)),
            &values(n * I, 42),
            &values(n * O, 43),
        )
    };
    for (part, got, gather, dense) in [
        ("y", &fused.y, &gather.y, &dense.y),
        (
            "grad(stored)",
            &fused.grad_stored,
            &gather.grad_stored,
            &dense.grad_stored,
        ),
        (
            "grad(bias)",
            &fused.grad_bias,
            &gather.grad_bias,
            &dense.grad_bias,
        ),
        ("grad(x)", &fused.grad_x, &gather.grad_x, &dense.grad_x),
    ] {
        assert_close(&what(&format!("{part} vs gather")), got, gather, 1e-10);
        assert_close(&what(&format!("{part} vs dense")), got, dense, 1e-10);
    }
}

/// The pattern and its transpose, on a few batch sizes including the empty batch.
fn check_both<P, const I: usize, const O: usize>()
where
    P: Tie<I, O>,
{
    for n in [0, 1, 5] {
        check::<P, I, O>(n);
        check::<Transposed<P>, O, I>(n);
    }
}

#[test]
fn toeplitz_square_and_rectangular_on_both_sides_of_the_crossover() {
    check_both::<Toeplitz<7>, 4, 4>();
    check_both::<Toeplitz<12>, 8, 5>();
    check_both::<Toeplitz<99>, 30, 70>();
    check_both::<Toeplitz<127>, 64, 64>();
    check_both::<Toeplitz<255>, 128, 128>();
    check_both::<Toeplitz<300>, 200, 101>();
}

#[test]
fn circulant_on_both_sides_of_the_crossover_and_odd_periods() {
    check_both::<Circulant, 5, 5>();
    check_both::<Circulant, 32, 32>();
    check_both::<Circulant, 64, 64>();
    // A period that is not a fast FFT length (linear correlation on the extended values).
    check_both::<Circulant, 97, 97>();
    check_both::<Circulant, 128, 128>();
    // (A rectangular circulant does not compile: `Circulant`'s own size check wants a square.)
}

#[test]
fn hankel_square_and_rectangular() {
    check_both::<Hankel<6>, 3, 4>();
    check_both::<Hankel<99>, 70, 30>();
    check_both::<Hankel<255>, 128, 128>();
}

#[test]
fn banded_square_and_rectangular() {
    check_both::<Banded<3>, 5, 5>();
    check_both::<Banded<17>, 100, 100>();
    check_both::<Banded<17>, 60, 90>();
    check_both::<Banded<5>, 9, 7>();
    // The widest band the size check allows (bandwidth 9 on a 10×12 weight).
    check_both::<Banded<19>, 10, 12>();
    // (An even K or a band wider than the weight does not compile: `Banded`'s size check.)
}

#[test]
fn symmetric_and_user_patterns() {
    check_both::<Symmetric<10>, 4, 4>();
    check_both::<Symmetric<{ 130 * 131 / 2 }>, 130, 130>();
    check_both::<StripesTie, 7, 9>();
    check_both::<StripesTie, 150, 90>();
}

/// The triangular patterns (the packed-triangle kernel, skipping the zero blocks) and their
/// transposes, around the kernel's block side.
#[test]
fn triangular_patterns() {
    check_both::<UpperTriangular<1>, 1, 1>();
    check_both::<UpperTriangular<10>, 4, 4>();
    check_both::<LowerTriangular<10>, 4, 4>();
    check_both::<UpperTriangular<{ 130 * 131 / 2 }>, 130, 130>();
    check_both::<LowerTriangular<{ 257 * 258 / 2 }>, 257, 257>();
}

/// `skew` (the packed strict triangle with its signs) and its transpose (`−W`), from the
/// smallest weight it fits to sizes around the kernel's block side.
#[test]
fn skew_pattern() {
    check_both::<Skew<1>, 2, 2>();
    check_both::<Skew<6>, 4, 4>();
    check_both::<Skew<{ 130 * 129 / 2 }>, 130, 130>();
    check_both::<Skew<{ 257 * 256 / 2 }>, 257, 257>();
}

/// 1-D and 3-D inputs give the rows of the 2-D result (the kernels see flattened rows).
#[test]
fn vector_and_sequence_inputs() {
    fn one<P: Tie<I, O>, const I: usize, const O: usize>() {
        let dev = Cpu::default();
        let numel = <P::Stored as ConstShape>::NUMEL;
        let stored: Tensor<P::Stored, f64, Cpu> =
            dev.tensor_from_vec(values(numel, 1), Default::default());
        let bias: Tensor<Rank1<O>, f64, Cpu> = dev.tensor_from_vec(values(O, 2), (Const,));
        let xs = values(2 * 3 * I, 3);
        let x3: Tensor<(Const<2>, usize, Const<I>), f64, Cpu> =
            dev.tensor_from_vec(xs.clone(), (Const, 3, Const));
        let x1: Tensor<Rank1<I>, f64, Cpu> = dev.tensor_from_vec(xs[..I].to_vec(), (Const,));
        let fused3 = try_linear::<P, I, O, _, _, _, _>(x3.clone(), &stored, &bias).unwrap();
        let gather3 =
            with_reference(|| try_linear::<P, I, O, _, _, _, _>(x3, &stored, &bias).unwrap());
        assert_close(P::NAME, &fused3.as_vec(), &gather3.as_vec(), 1e-10);
        let fused1 =
            try_linear::<P, I, O, _, _, _, _>(x1.trace(Gradients::leaky()), &stored, &bias)
                .unwrap();
        assert_close(
            P::NAME,
            &fused1.retaped::<NoneTape>().as_vec(),
            &gather3.as_vec()[..O],
            1e-10,
        );
        let grads = fused1.sum::<Rank0, _>().backward();
        let want = reference::<P, I, O, f64>(
            &stored.as_vec(),
            Some(&bias.as_vec()),
            &xs[..I],
            &vec![1.0; O],
        );
        assert_close(
            P::NAME,
            &grads.get(&stored).as_vec(),
            &want.grad_stored,
            1e-10,
        );
        assert_close(P::NAME, &grads.get(&x1).as_vec(), &want.grad_x, 1e-10);
    }
    one::<Toeplitz<159>, 80, 80>();
    one::<Circulant, 64, 64>();
    one::<Hankel<20>, 8, 13>();
    one::<Banded<5>, 11, 11>();
    one::<Symmetric<{ 20 * 21 / 2 }>, 20, 20>();
    one::<LowerTriangular<{ 20 * 21 / 2 }>, 20, 20>();
    one::<StripesTie, 12, 6>();
}

/// f32 kernels against the f64 dense result, relative to its norm.
#[test]
fn f32_kernels_within_tolerance() {
    fn one<P: Tie<I, O>, const I: usize, const O: usize>(tol: f64) {
        let dev = Cpu::default();
        let n = 6;
        let numel = <P::Stored as ConstShape>::NUMEL;
        let (sv, xv, rv) = (values(numel, 5), values(n * I, 6), values(n * O, 7));
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let stored: Tensor<P::Stored, f32, Cpu> =
            dev.tensor_from_vec(f32s(&sv), Default::default());
        let x: Batch<I, f32, Cpu, NoneTape> = dev.tensor_from_vec(f32s(&xv), (n, Const));
        let r: Batch<O, f32, Cpu, NoneTape> = dev.tensor_from_vec(f32s(&rv), (n, Const));
        let y =
            try_linear::<P, I, O, _, _, _, _>(x.trace(Gradients::leaky()), &stored, &()).unwrap();
        let y_vals = y.retaped::<NoneTape>().as_vec();
        let grads = (y * r).sum::<Rank0, _>().backward();
        let want = reference::<P, I, O, f64>(&sv, None, &xv, &rv);
        for (part, got, want) in [
            ("y", y_vals, &want.y),
            (
                "grad(stored)",
                grads.get(&stored).as_vec(),
                &want.grad_stored,
            ),
            ("grad(x)", grads.get(&x).as_vec(), &want.grad_x),
        ] {
            let err = relative_error(&got.iter().map(|&a| a as f64).collect::<Vec<_>>(), want);
            assert!(
                err <= tol,
                "{} {I}x{O} f32 {part}: relative error {err:e} > {tol:e}",
                P::NAME
            );
        }
    }
    // Summing N products in f32 loses about ε·√N relative to the norm; 1e-5 covers N = 1024.
    one::<Toeplitz<2047>, 1024, 1024>(1e-5);
    one::<Circulant, 1024, 1024>(1e-5);
    one::<Hankel<1535>, 512, 1024>(1e-5);
    one::<Banded<17>, 1024, 1024>(1e-5);
    one::<Symmetric<{ 256 * 257 / 2 }>, 256, 256>(1e-5);
    one::<UpperTriangular<{ 256 * 257 / 2 }>, 256, 256>(1e-5);
    one::<LowerTriangular<{ 256 * 257 / 2 }>, 256, 256>(1e-5);
    one::<Skew<{ 256 * 255 / 2 }>, 256, 256>(1e-5);
    one::<StripesTie, 256, 128>(1e-5);
}

/// ‖got − want‖ / ‖want‖.
fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    let diff: f64 = got.iter().zip(want).map(|(g, w)| (g - w) * (g - w)).sum();
    let norm: f64 = want.iter().map(|w| w * w).sum();
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// One kernel of runtime sizes, both paths and f32/f64, against f64 sums from the definition.
fn slice_kernel_case(kind: u8, rows: usize, cols: usize, transposed: bool, n: usize) {
    let base = match kind {
        0 => ShiftKernel::hankel(rows, cols),
        1 => ShiftKernel::toeplitz(rows, cols),
        _ => ShiftKernel::circulant(rows, cols),
    };
    let entry = |i: usize, j: usize| match kind {
        0 => i + j,
        1 => i + cols - 1 - j,
        _ => (j + cols - i % cols) % cols,
    };
    let k = if transposed { base.transposed() } else { base };
    let (fi, fo) = (k.len_in(), k.len_out());
    let (v, x, g) = (values(k.values(), 1), values(n * fi, 2), values(n * fo, 3));
    let at = |a: usize, b: usize| if transposed { entry(b, a) } else { entry(a, b) };
    let (mut y_ref, mut gx_ref, mut gv_ref) =
        (vec![0.0; n * fo], vec![0.0; n * fi], vec![0.0; k.values()]);
    for r in 0..n {
        for a in 0..fi {
            for b in 0..fo {
                let t = at(a, b);
                y_ref[r * fo + b] += x[r * fi + a] * v[t];
                gx_ref[r * fi + a] += g[r * fo + b] * v[t];
                gv_ref[t] += x[r * fi + a] * g[r * fo + b];
            }
        }
    }
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let fft_len = k.forcing(true).fft_len().unwrap();
    for fft in [false, true] {
        let p = k.forcing(fft);
        // f64: both paths to rounding.
        let mut y = vec![0.0; n * fo];
        let spectra = p.forward(&v, &x, &mut y, true);
        let (mut gx, mut gv) = (vec![0.0; n * fi], vec![0.0; k.values()]);
        p.backward(&v, &x, &spectra, &g, Some(&mut gx), Some(&mut gv));
        let tol64 = 1e-12;
        for (part, got, want) in [
            ("y", &y, &y_ref),
            ("gx", &gx, &gx_ref),
            ("gv", &gv, &gv_ref),
        ] {
            let err = relative_error(got, want);
            assert!(
                err <= tol64,
                "kind {kind} {rows}x{cols} t={transposed} fft={fft} f64 {part}: {err:e}"
            );
        }
        // f32 on the FFT path: within the stated tolerance of the exact result.
        if fft {
            let (v32, x32, g32) = (f32s(&v), f32s(&x), f32s(&g));
            let mut y = vec![0.0f32; n * fo];
            p.forward(&v32, &x32, &mut y, false);
            let (mut gx, mut gv) = (vec![0.0f32; n * fi], vec![0.0f32; k.values()]);
            p.backward(&v32, &x32, &[], &g32, Some(&mut gx), Some(&mut gv));
            // The inputs were rounded to f32 too: compare with the exact result on those.
            let tol = fft_tolerance::<f32>(fft_len);
            for (part, got, want) in [
                ("y", &y, &y_ref),
                ("gx", &gx, &gx_ref),
                ("gv", &gv, &gv_ref),
            ] {
                let err = relative_error(&f64s(got), want);
                assert!(
                    err <= tol,
                    "kind {kind} {rows}x{cols} t={transposed} f32 FFT {part}: {err:e} > {tol:e}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(common::proptest_config(48))]

    /// Any shape near and past the crossover: the FFT and direct paths equal the definition.
    #[test]
    fn slice_kernels_match_the_definition(
        kind in 0u8..3,
        rows in 1usize..90,
        cols in 1usize..90,
        transposed: bool,
        n in 0usize..4,
    ) {
        slice_kernel_case(kind, rows, cols, transposed, n);
    }
}

/// The FFT path at N = 4096 in f32, the size the targets are set at.
#[test]
fn f32_fft_tolerance_at_4096() {
    slice_kernel_case(1, 4096, 4096, false, 2);
    slice_kernel_case(2, 4096, 4096, true, 2);
}

/// The FFT path at N ≥ 1024 on odd batches split over several tasks (rows go through the
/// transforms in pairs, the last of a task may be alone), each pattern both ways: a circulant
/// with as many rows as its period, more (summed periods) and fewer, periods that are FFT lengths
/// (the circular path) and one that is not, rectangular Toeplitz and Hankel.
#[test]
fn fft_path_in_pairs_at_large_sizes() {
    for transposed in [false, true] {
        slice_kernel_case(2, 1024, 1024, transposed, 9);
        slice_kernel_case(2, 1500, 1024, transposed, 7);
        slice_kernel_case(2, 700, 1024, transposed, 5);
        slice_kernel_case(2, 1000, 1000, transposed, 3);
        slice_kernel_case(2, 1022, 1022, transposed, 3);
        slice_kernel_case(1, 1024, 1024, transposed, 9);
        slice_kernel_case(1, 1100, 900, transposed, 3);
        slice_kernel_case(0, 1030, 1000, transposed, 9);
    }
}

/// A circulant and a Toeplitz autoencoder (the decoder the encoder's transpose), both on the FFT
/// path, through f64 finite differences on 1-D, 2-D and 3-D inputs.
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct WideCirculant<E: Dtype, D: Device<E>> {
    #[tied(circulant)]
    pub enc: Tensor<Rank2<128, 128>, E, D>,
    pub enc_bias: Tensor<Rank1<128>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<128, 128>, E, D>,
    pub dec_bias: Tensor<Rank1<128>, E, D>,
}

#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct WideToeplitz<E: Dtype, D: Device<E>> {
    #[tied(toeplitz = 175)]
    pub enc: Tensor<Rank2<96, 80>, E, D>,
    pub enc_bias: Tensor<Rank1<80>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<80, 96>, E, D>,
    pub dec_bias: Tensor<Rank1<96>, E, D>,
}

#[test]
fn fft_layers_pass_finite_differences_on_1d_2d_3d_inputs() {
    assert!(ShiftKernel::circulant(128, 128).fft_len().is_some());
    assert!(ShiftKernel::toeplitz(96, 80).fft_len().is_some());
    let dev = Cpu::seed_from_u64(5);
    let opts = GradcheckOptions::default();
    let circ = dev.build_module::<WideCirculantConfig, f64>();
    let x1: Tensor<Rank1<128>, f64, Cpu> = dev.tensor_from_vec(values(128, 1), (Const,));
    let x2: Tensor<(usize, Const<128>), f64, Cpu> =
        dev.tensor_from_vec(values(3 * 128, 2), (3, Const));
    let x3: Tensor<Rank3<2, 3, 128>, f64, Cpu> =
        dev.tensor_from_vec(values(6 * 128, 3), (Const, Const, Const));
    gradcheck(&circ, &x1, opts).unwrap_or_else(|e| panic!("circulant 1-D: {e}"));
    gradcheck(&circ, &x2, opts).unwrap_or_else(|e| panic!("circulant 2-D: {e}"));
    gradcheck(&circ, &x3, opts).unwrap_or_else(|e| panic!("circulant 3-D: {e}"));
    let toep = dev.build_module::<WideToeplitzConfig, f64>();
    let x1: Tensor<Rank1<96>, f64, Cpu> = dev.tensor_from_vec(values(96, 4), (Const,));
    let x2: Tensor<(usize, Const<96>), f64, Cpu> =
        dev.tensor_from_vec(values(5 * 96, 5), (5, Const));
    let x3: Tensor<Rank3<3, 1, 96>, f64, Cpu> =
        dev.tensor_from_vec(values(3 * 96, 6), (Const, Const, Const));
    gradcheck(&toep, &x1, opts).unwrap_or_else(|e| panic!("toeplitz 1-D: {e}"));
    gradcheck(&toep, &x2, opts).unwrap_or_else(|e| panic!("toeplitz 2-D: {e}"));
    gradcheck(&toep, &x3, opts).unwrap_or_else(|e| panic!("toeplitz 3-D: {e}"));
}

/// Generated layers on the fused kernels, through f64 finite differences, past the crossover.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct Big<E: Dtype, D: Device<E>> {
    #[tied(toeplitz = 149)]
    pub weight: Tensor<Rank2<80, 70>, E, D>,
    pub bias: Tensor<Rank1<70>, E, D>,
}

#[tied::layer(forward = [enc + enc_bias, ReLU, dec])]
#[derive(Clone, Debug)]
pub struct CirculantAutoEncoder<E: Dtype, D: Device<E>> {
    #[tied(circulant)]
    pub enc: Tensor<Rank2<64, 64>, E, D>,
    pub enc_bias: Tensor<Rank1<64>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<64, 64>, E, D>,
}

#[test]
fn generated_layers_pass_finite_differences() {
    let dev = Cpu::seed_from_u64(9);
    let opts = GradcheckOptions::default();
    let big = dev.build_module::<BigConfig, f64>();
    let x2: Tensor<Rank2<3, 80>, f64, Cpu> = dev.tensor_from_vec(values(3 * 80, 1), (Const, Const));
    gradcheck(&big, &x2, opts).unwrap_or_else(|e| panic!("toeplitz 80x70: {e}"));
    let ae = dev.build_module::<CirculantAutoEncoderConfig, f64>();
    let x3: Tensor<(Const<2>, usize, Const<64>), f64, Cpu> =
        dev.tensor_from_vec(values(2 * 2 * 64, 2), (Const, 2, Const));
    gradcheck(&ae, &x3, opts).unwrap_or_else(|e| panic!("circulant autoencoder: {e}"));
}

/// The effective weight (`gather_effective`, behind `weight_effective` and `try_effective`) on the
/// CPU's table op equals dfdx's gather, values and the stored values' gradient.
#[test]
fn effective_weight_matches_the_gather() {
    fn one<P: Tie<I, O>, const I: usize, const O: usize>() {
        let dev = Cpu::default();
        let numel = <P::Stored as ConstShape>::NUMEL;
        let stored: Tensor<P::Stored, f64, Cpu> =
            dev.tensor_from_vec(values(numel, 11), Default::default());
        let r: Tensor<Rank2<I, O>, f64, Cpu> =
            dev.tensor_from_vec(values(I * O, 12), (Const, Const));
        let go = || {
            let w =
                tied_dfdx::gather_effective::<P, I, O, f64, Cpu, _>(stored.leaky_trace()).unwrap();
            let w_vals = w.retaped::<NoneTape>().as_vec();
            let grads = (w * r.clone()).sum::<Rank0, _>().backward();
            (w_vals, grads.get(&stored).as_vec())
        };
        let (w, g) = go();
        let (w_ref, g_ref) = with_reference(go);
        assert_eq!(w, w_ref, "{}: W", P::NAME);
        assert_close(P::NAME, &g, &g_ref, 1e-12);
    }
    one::<StripesTie, 40, 30>();
    one::<Symmetric<{ 50 * 51 / 2 }>, 50, 50>();
    one::<UpperTriangular<{ 50 * 51 / 2 }>, 50, 50>();
    one::<Skew<{ 50 * 49 / 2 }>, 50, 50>();
    one::<Banded<5>, 20, 25>();
    one::<Toeplitz<70>, 40, 31>();
}

/// A user pattern with its own lowering (a checkerboard, `x·W` by two sums per row): the
/// generated forward, `matmul_*` and a `transpose_of` weight must run it, never bypass it with the
/// generic table kernel. Counted per call, on this test's thread only.
pub struct OwnLowering;

thread_local! {
    static OWN_LOWERING_CALLS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

impl<const I: usize, const O: usize> Tie<I, O> for OwnLowering {
    type Stored = Rank1<2>;
    const NAME: &'static str = "own_lowering";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some((i + j) % 2)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<2>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        OWN_LOWERING_CALLS.with(|c| c.set(c.get() + 1));
        let w = tied::gather_effective::<Self, I, O, E, D, T>(stored.retaped::<T>())?;
        x.try_matmul(w)
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Rank1<2>, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        OWN_LOWERING_CALLS.with(|c| c.set(c.get() + 1));
        let w = tied::gather_effective::<Transposed<Self>, O, I, E, D, T>(stored.retaped::<T>())?;
        x.try_matmul(w)
    }
}

#[tied::layer]
pub struct OwnLoweringLayer<E: Dtype, D: Device<E>> {
    #[tied(pattern = OwnLowering)]
    pub weight: Tensor<Rank2<6, 4>, E, D>,
    pub bias: Tensor<Rank1<4>, E, D>,
    #[tied(transpose_of = weight)]
    pub back: Tensor<Rank2<4, 6>, E, D>,
}

#[test]
fn a_user_patterns_own_lowering_is_what_runs() {
    let dev = Cpu::default();
    let layer = dev.build_module::<OwnLoweringLayerConfig, f64>();
    let x: Tensor<Rank2<3, 6>, f64, _> = dev.sample_normal();
    let w = layer.weight_effective(NoneTape).array();
    let calls = || OWN_LOWERING_CALLS.with(|c| c.get());

    let before = calls();
    let y = layer.matmul_weight(x.clone()).array();
    assert_eq!(
        calls(),
        before + 1,
        "matmul_weight ran the pattern's own try_apply"
    );
    let x_arr = x.array();
    for n in 0..3 {
        for j in 0..4 {
            let want: f64 = (0..6).map(|i| x_arr[n][i] * w[i][j]).sum();
            assert!(
                (y[n][j] - want).abs() < 1e-12,
                "y[{n}][{j}] = {} vs {want}",
                y[n][j]
            );
        }
    }

    let h: Tensor<Rank2<3, 4>, f64, _> = dev.sample_normal();
    let before = calls();
    let back = layer.matmul_back(h.clone()).array();
    assert_eq!(
        calls(),
        before + 1,
        "the transpose ran the pattern's own try_apply_transposed"
    );
    let h_arr = h.array();
    for n in 0..3 {
        for i in 0..6 {
            let want: f64 = (0..4).map(|j| h_arr[n][j] * w[i][j]).sum();
            assert!((back[n][i] - want).abs() < 1e-12);
        }
    }
}

/// The symmetric kernel's slice API (`SymmetricBlocks`) against a dense f64 product, on sizes
/// around the block side (N < bs, N = bs, N = bs + 1, N not a multiple of bs, N = 1), few and many
/// rows (the forward splits rows into tasks when there are few column blocks), accumulating into
/// gradients that already hold values. f32 against the f64 result, relative to its norm.
#[test]
fn symmetric_blocks_match_the_dense_product() {
    use tied_dfdx::kernels::symmetric::SymmetricBlocks;
    fn dense(n: usize, v: &[f64]) -> Vec<f64> {
        let idx = |i: usize, j: usize| {
            let (a, b) = if i <= j { (i, j) } else { (j, i) };
            a * n - a * a.saturating_sub(1) / 2 + (b - a)
        };
        (0..n * n).map(|p| v[idx(p / n, p % n)]).collect()
    }
    for (n, bs) in [
        (1, 4),
        (3, 4),
        (4, 4),
        (5, 4),
        (13, 4),
        (37, 8),
        (100, 128),
        (128, 128),
        (129, 128),
        (300, 128),
        (64, 1),
    ] {
        let k = SymmetricBlocks::new(n).with_block(bs);
        let v = values(k.stored_len(), n as u64);
        let w = dense(n, &v);
        for m in [1, 3, 70] {
            let what = format!("n = {n}, bs = {bs}, m = {m}");
            let (x, g) = (values(m * n, 1), values(m * n, 2));
            let mut y = vec![f64::NAN; m * n];
            k.multiply(&v, &x, &mut y, false);
            let mut gx = values(m * n, 3);
            k.multiply(&v, &g, &mut gx, true);
            let mut gv = values(k.stored_len(), 4);
            k.weight_grad(&x, &g, &mut gv);
            // Dense: y = x·W, gx += g·Wᵀ, dW = xᵀ·g folded through the index.
            let mut y_ref = vec![0.0; m * n];
            let mut gx_ref = values(m * n, 3);
            let mut dw = vec![0.0; n * n];
            for r in 0..m {
                for i in 0..n {
                    for j in 0..n {
                        y_ref[r * n + j] += x[r * n + i] * w[i * n + j];
                        gx_ref[r * n + i] += g[r * n + j] * w[i * n + j];
                        dw[i * n + j] += x[r * n + i] * g[r * n + j];
                    }
                }
            }
            let mut gv_ref = values(k.stored_len(), 4);
            for i in 0..n {
                for j in i..n {
                    let s = i * n - i * i.saturating_sub(1) / 2 + (j - i);
                    gv_ref[s] += dw[i * n + j] + if i < j { dw[j * n + i] } else { 0.0 };
                }
            }
            assert_close(&format!("{what}: y"), &y, &y_ref, 1e-12);
            assert_close(&format!("{what}: grad(x)"), &gx, &gx_ref, 1e-12);
            assert_close(&format!("{what}: grad(stored)"), &gv, &gv_ref, 1e-12);

            let f32s = |a: &[f64]| a.iter().map(|&t| t as f32).collect::<Vec<f32>>();
            let (v32, x32, g32) = (f32s(&v), f32s(&x), f32s(&g));
            let mut y32 = vec![0.0f32; m * n];
            k.multiply(&v32, &x32, &mut y32, false);
            let mut gv32 = f32s(&values(k.stored_len(), 4));
            k.weight_grad(&x32, &g32, &mut gv32);
            let back = |a: &[f32]| a.iter().map(|&t| t as f64).collect::<Vec<f64>>();
            for (part, got, want) in [("y", back(&y32), &y_ref), ("grad", back(&gv32), &gv_ref)] {
                let err = relative_error(&got, want);
                assert!(err <= 1e-5, "{what} f32 {part}: relative error {err:e}");
            }
        }
    }
}

/// The symmetric pattern through `try_linear` (and its transpose), around the kernel's block side
/// and with many rows, against the gather lowering and the dense reference.
#[test]
fn symmetric_around_the_block_side() {
    check_both::<Symmetric<1>, 1, 1>();
    check_both::<Symmetric<{ 100 * 101 / 2 }>, 100, 100>();
    check_both::<Symmetric<{ 129 * 130 / 2 }>, 129, 129>();
    check_both::<Symmetric<{ 300 * 301 / 2 }>, 300, 300>();
    check::<Symmetric<{ 129 * 130 / 2 }>, 129, 129>(200);
    check::<Transposed<Symmetric<{ 300 * 301 / 2 }>>, 300, 300>(70);
}

/// A symmetric layer past the block side, and a symmetric autoencoder (the decoder its
/// transpose), through f64 finite differences on 1-D, 2-D and 3-D inputs.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct SymmetricBig<E: Dtype, D: Device<E>> {
    #[tied(symmetric = 8385)]
    pub weight: Tensor<Rank2<129, 129>, E, D>,
    pub bias: Tensor<Rank1<129>, E, D>,
}

#[tied::layer(forward = [enc + enc_bias, Tanh, dec])]
#[derive(Clone, Debug)]
pub struct SymmetricAutoEncoder<E: Dtype, D: Device<E>> {
    #[tied(symmetric = 45)]
    pub enc: Tensor<Rank2<9, 9>, E, D>,
    pub enc_bias: Tensor<Rank1<9>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<9, 9>, E, D>,
}

#[test]
fn symmetric_layers_pass_finite_differences() {
    let dev = Cpu::seed_from_u64(10);
    let opts = GradcheckOptions::default();
    let big = dev.build_module::<SymmetricBigConfig, f64>();
    let x1: Tensor<Rank1<129>, f64, Cpu> = dev.tensor_from_vec(values(129, 1), (Const,));
    gradcheck(&big, &x1, opts).unwrap_or_else(|e| panic!("symmetric 129, 1-D: {e}"));
    let x2: Tensor<Rank2<2, 129>, f64, Cpu> =
        dev.tensor_from_vec(values(2 * 129, 2), (Const, Const));
    gradcheck(&big, &x2, opts).unwrap_or_else(|e| panic!("symmetric 129, 2-D: {e}"));
    let ae = dev.build_module::<SymmetricAutoEncoderConfig, f64>();
    let x3: Tensor<(Const<2>, usize, Const<9>), f64, Cpu> =
        dev.tensor_from_vec(values(2 * 3 * 9, 3), (Const, 3, Const));
    gradcheck(&ae, &x3, opts).unwrap_or_else(|e| panic!("symmetric autoencoder: {e}"));
}

/// A masked autoregressive layer (MADE's weight: output `j` sees inputs `i ≥ j` only, a lower
/// triangle) past the kernel's block side, and its transpose as a decoder (upper triangular),
/// through f64 finite differences.
#[tied::layer(forward = [enc + enc_bias, Tanh, dec])]
#[derive(Clone, Debug)]
pub struct Autoregressive<E: Dtype, D: Device<E>> {
    #[tied(lower_triangular = 8385)]
    pub enc: Tensor<Rank2<129, 129>, E, D>,
    pub enc_bias: Tensor<Rank1<129>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<129, 129>, E, D>,
}

#[tied::layer]
#[derive(Clone, Debug)]
pub struct UpperSmall<E: Dtype, D: Device<E>> {
    #[tied(upper_triangular = 45)]
    pub weight: Tensor<Rank2<9, 9>, E, D>,
    pub bias: Tensor<Rank1<9>, E, D>,
}

/// A skew-symmetric weight and its `transpose_of` (`Wᵀ = −W`), the pieces of a Cayley layer.
#[tied::layer(forward = [enc + enc_bias, Tanh, dec])]
#[derive(Clone, Debug)]
pub struct SkewPair<E: Dtype, D: Device<E>> {
    #[tied(skew = 28)]
    pub enc: Tensor<Rank2<8, 8>, E, D>,
    pub enc_bias: Tensor<Rank1<8>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<8, 8>, E, D>,
}

#[test]
fn skew_layer_passes_finite_differences_and_is_antisymmetric() {
    let dev = Cpu::seed_from_u64(12);
    let layer = dev.build_module::<SkewPairConfig, f64>();
    let x: Tensor<Rank2<3, 8>, f64, Cpu> = dev.tensor_from_vec(values(3 * 8, 6), (Const, Const));
    gradcheck(&layer, &x, GradcheckOptions::default()).unwrap_or_else(|e| panic!("skew 8: {e}"));
    // W = −Wᵀ with a zero diagonal, exactly, from the stored values.
    let w = <Skew<28> as Tie<8, 8>>::try_effective(layer.enc.clone())
        .unwrap()
        .as_vec();
    let v = layer.enc.as_vec();
    for i in 0..8 {
        assert_eq!(w[i * 8 + i], 0.0);
        for j in 0..8 {
            assert_eq!(w[i * 8 + j], -w[j * 8 + i], "W[{i}, {j}]");
            if i < j {
                assert_eq!(w[i * 8 + j], v[i * 8 - i * (i + 1) / 2 + j - i - 1]);
            }
        }
    }
}

#[test]
fn triangular_layers_pass_finite_differences() {
    let dev = Cpu::seed_from_u64(11);
    let opts = GradcheckOptions::default();
    let made = dev.build_module::<AutoregressiveConfig, f64>();
    let x2: Tensor<Rank2<2, 129>, f64, Cpu> =
        dev.tensor_from_vec(values(2 * 129, 4), (Const, Const));
    gradcheck(&made, &x2, opts).unwrap_or_else(|e| panic!("lower triangular 129: {e}"));
    let small = dev.build_module::<UpperSmallConfig, f64>();
    let x3: Tensor<(Const<2>, usize, Const<9>), f64, Cpu> =
        dev.tensor_from_vec(values(2 * 3 * 9, 5), (Const, 3, Const));
    gradcheck(&small, &x3, opts).unwrap_or_else(|e| panic!("upper triangular 9: {e}"));
}

/// The timing the triangular patterns promise (about half a dense forward at N = 4096): run by
/// hand, `cargo test -p tied --test it -- --ignored triangular_forward_timing --nocapture`. It
/// prints, never asserts (timings are no test).
#[test]
#[ignore]
fn triangular_forward_timing() {
    const N: usize = 4096;
    const B: usize = 64;
    fn best<P: Tie<N, N>>() -> f64 {
        let dev = Cpu::default();
        let numel = <P::Stored as ConstShape>::NUMEL;
        let stored: Tensor<P::Stored, f32, Cpu> = dev.tensor_from_vec(
            values(numel, 1).iter().map(|&v| v as f32).collect(),
            Default::default(),
        );
        let x: Batch<N, f32, Cpu, NoneTape> = dev.tensor_from_vec(
            values(B * N, 2).iter().map(|&v| v as f32).collect(),
            (B, Const),
        );
        let mut times = Vec::new();
        for _ in 0..7 {
            let start = std::time::Instant::now();
            let y = try_linear::<P, N, N, _, _, _, _>(x.clone(), &stored, &()).unwrap();
            times.push(start.elapsed().as_secs_f64());
            drop(y);
        }
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    }
    let dense = best::<tied::Dense>();
    let upper = best::<UpperTriangular<{ N * (N + 1) / 2 }>>();
    let lower = best::<LowerTriangular<{ N * (N + 1) / 2 }>>();
    let symmetric = best::<Symmetric<{ N * (N + 1) / 2 }>>();
    println!(
        "N = {N}, B = {B}, f32, median of 7: dense {:.2} ms, upper {:.2} ms ({:.2}×), lower {:.2} ms \
         ({:.2}×), symmetric {:.2} ms",
        dense * 1e3,
        upper * 1e3,
        upper / dense,
        lower * 1e3,
        lower / dense,
        symmetric * 1e3
    );
}
