//! Every generated layer (rows, cols, scalar, dense) against the dense reference and against finite
//! differences, for 1-D, 2-D (const and runtime batch) and 3-D inputs, on both tapes.

use crate::common::*;
use tied::prelude::*;
use tied::{Cols, Dense, Rows, Scalar};

/// One input of each accepted kind: a vector, a const batch, a runtime batch, a batch of sequences.
#[allow(clippy::type_complexity)]
fn inputs<const I: usize>(
    seed: u64,
) -> (
    Tensor<Rank1<I>, f64, Cpu>,
    Tensor<Rank2<3, I>, f64, Cpu>,
    Tensor<(usize, Const<I>), f64, Cpu>,
    Tensor<(Const<2>, usize, Const<I>), f64, Cpu>,
) {
    let dev = Cpu::default();
    (
        dev.tensor_from_vec(values(I, seed), (Const,)),
        dev.tensor_from_vec(values(3 * I, seed + 1), (Const, Const)),
        dev.tensor_from_vec(values(5 * I, seed + 2), (5, Const)),
        dev.tensor_from_vec(values(2 * 3 * I, seed + 3), (Const, 3, Const)),
    )
}

/// Runs the reference comparison and the finite-difference check for all four input kinds.
macro_rules! check_layer {
    ($layer:expr, $tie:ty, $i:literal, $o:literal, |$l:ident| $bias:expr) => {{
        let layer = $layer;
        let $l = &layer;
        let bias = $bias;
        let (x1, x2, x2r, x3) = inputs::<$i>(11);
        check_reference::<_, $tie, $i, $o, _, _>(&layer, &layer.weight, bias, x1.clone());
        check_reference::<_, $tie, $i, $o, _, _>(&layer, &layer.weight, bias, x2.clone());
        check_reference::<_, $tie, $i, $o, _, _>(&layer, &layer.weight, bias, x2r.clone());
        check_reference::<_, $tie, $i, $o, _, _>(&layer, &layer.weight, bias, x3.clone());
        let opts = GradcheckOptions::default();
        let r1 = gradcheck(&layer, &x1, opts).unwrap_or_else(|e| panic!("1-D: {e}"));
        gradcheck(&layer, &x2, opts).unwrap_or_else(|e| panic!("2-D: {e}"));
        gradcheck(&layer, &x2r, opts).unwrap_or_else(|e| panic!("2-D runtime batch: {e}"));
        gradcheck(&layer, &x3, opts).unwrap_or_else(|e| panic!("3-D: {e}"));
        r1
    }};
}

fn build<M: BuildOnDevice<Cpu, f64>>() -> M::Built {
    Cpu::seed_from_u64(3).build_module::<M, f64>()
}

#[test]
fn rows_matches_dense_reference_and_finite_differences() {
    let report = check_layer!(build::<TiedLinearConfig<4>>(), Rows, 4, 4, |l| Some(
        &l.bias
    ));
    // 4 stored weights + 4 biases + 4 inputs were each compared.
    assert_eq!(report.checked, 12);
    assert_eq!(
        report.parameters,
        vec![("weight".to_owned(), 4), ("bias".to_owned(), 4)]
    );
}

#[test]
fn rectangular_rows_without_bias() {
    let report = check_layer!(build::<RowsNoBiasConfig<5, 3>>(), Rows, 5, 3, |_l| None);
    assert_eq!(report.parameters, vec![("weight".to_owned(), 5)]);
}

#[test]
fn cols_matches_dense_reference_and_finite_differences() {
    let report = check_layer!(build::<ColsLinearConfig<5, 3>>(), Cols, 5, 3, |l| Some(
        &l.bias
    ));
    assert_eq!(
        report.parameters,
        vec![("weight".to_owned(), 3), ("bias".to_owned(), 3)]
    );
}

#[test]
fn scalar_matches_dense_reference_and_finite_differences() {
    let report = check_layer!(build::<ScalarLinearConfig<5, 3>>(), Scalar, 5, 3, |l| Some(
        &l.bias
    ));
    assert_eq!(
        report.parameters,
        vec![("weight".to_owned(), 1), ("bias".to_owned(), 3)]
    );
}

#[test]
fn dense_matches_reference_and_dfdx_linear() {
    check_layer!(build::<DenseLinearConfig<5, 3>>(), Dense, 5, 3, |l| Some(
        &l.bias
    ));

    // Same numbers as dfdx's own Linear, whose weight is stored transposed (O×I).
    let dev = Cpu::default();
    let ours = build::<DenseLinearConfig<5, 3>>();
    let mut theirs = dev.build_module::<Linear<5, 3>, f64>();
    theirs.weight = ours.weight.clone().permute::<Rank2<3, 5>, _>().contiguous();
    theirs.bias = ours.bias.clone();
    let (_, x, _, _) = inputs::<5>(5);
    assert_close(
        "y",
        &ours.forward(x.clone()).as_vec(),
        &theirs.forward(x).as_vec(),
        1e-12,
    );
}

#[test]
fn the_forum_thread_gradient_is_four_x() {
    let dev = Cpu::default();
    let layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    let x = dev.tensor([0.5f32, -1.0, 2.0, 3.0]);
    let grads = layer.forward(x.trace(layer.alloc_grads())).sum().backward();
    assert_eq!(grads.get(&layer.weight).array(), [2.0, -4.0, 8.0, 12.0]);
    assert_eq!(grads.get(&layer.bias).array(), [1.0; 4]);
}

#[test]
fn effective_weight_is_the_pattern_and_carries_gradients() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<RowsNoBiasConfig<3, 2>, f64>();
    layer.weight = dev.tensor([1.0, 2.0, 3.0]);
    let w = layer.weight_effective(NoneTape);
    assert_eq!(w.array(), [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]);

    // A hand-written forward through the accessor: gradients reach the 3 stored values.
    let x: Tensor<Rank2<1, 3>, f64, _> = dev.tensor([[1.0, 10.0, 100.0]]);
    let tape_x = x.trace(layer.alloc_grads());
    let grads = tape_x
        .matmul(layer.weight_effective(OwnedTape::default()))
        .sum()
        .backward();
    assert_eq!(grads.get(&layer.weight).array(), [2.0, 20.0, 200.0]);

    // `matmul_weight` is the structure-aware `x·W` without bias.
    let y = layer.matmul_weight(dev.tensor([1.0, 10.0, 100.0]));
    assert_eq!(y.array(), [321.0, 321.0]);
}

#[test]
fn pictures_draw_the_pattern() {
    let layer = build::<TiedLinearConfig<4>>();
    let picture = layer.weight_picture();
    assert_eq!(picture.stored(), 4);
    assert_eq!(picture.shape(), (4, 4));
    assert_eq!(
        picture.named("W").to_string(),
        "W = [ w1 w1 w1 w1\n      w2 w2 w2 w2\n      w3 w3 w3 w3\n      w4 w4 w4 w4 ]\n\
         (4×4 rows: 4 stored values instead of 16)"
    );
    let cols = build::<ColsLinearConfig<2, 3>>().weight_picture();
    assert_eq!(cols.label(1, 2), "w3");
    assert_eq!(cols.label(0, 2), "w3");
}
