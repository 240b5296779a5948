//! Every pattern and its transpose, on several shapes (non-square, not powers of two), against
//! the dense reference: `y`, the input's gradient and the stored values' gradient.

use crate::common::{
    assert_close, check_against_reference, check_against_reference_in, device, float, host, ids,
    stored_tensor, tensor, values, StoredParam,
};
use burn::tensor::DType;
use tied_burn::{Lowering, Tie};

/// `(key, I, O, stated)` cases covering every pattern.
pub fn cases() -> Vec<(&'static str, usize, usize, Vec<usize>)> {
    let mut all = Vec::new();
    for (i, o) in [(3, 5), (5, 3), (1, 4), (4, 4), (7, 6)] {
        for key in ["dense", "rows", "cols", "scalar", "toeplitz", "hankel"] {
            all.push((key, i, o, vec![]));
        }
    }
    for n in [1, 3, 6, 7, 8] {
        for key in [
            "circulant",
            "diagonal",
            "symmetric",
            "upper_triangular",
            "lower_triangular",
        ] {
            all.push((key, n, n, vec![]));
        }
        // A 1×1 skew stores nothing (its only entry is the zero diagonal) and is refused.
        if n > 1 {
            all.push(("skew", n, n, vec![]));
        }
    }
    for (i, o, r, c) in [
        (6, 4, 3, 2),
        (4, 6, 2, 3),
        (5, 7, 5, 1),
        (6, 9, 1, 3),
        (2, 2, 2, 2),
    ] {
        all.push(("tile", i, o, vec![r, c]));
        all.push(("block", i, o, vec![r, c]));
    }
    for (i, o, k) in [
        (5, 5, 3),
        (6, 4, 3),
        (3, 7, 5),
        (7, 3, 1),
        (9, 9, 7),
        (4, 11, 3),
    ] {
        all.push(("banded", i, o, vec![k]));
    }
    all
}

/// Each pattern twice: with the `flex` feature's fused kernels where it has them (on in the
/// workspace's tests: the slice kernels the dfdx side runs, on Flex) and on Burn's portable ops
/// (`without_kernels`).
#[test]
fn every_pattern_and_its_transpose_match_the_dense_reference() {
    let mut seed = 1;
    for (key, i, o, stated) in cases() {
        let tie = Tie::new(key, i, o, &stated).unwrap();
        let fused = !matches!(key, "tile" | "block" | "diagonal");
        assert_eq!(tie.uses_kernels(), cfg!(feature = "flex") && fused, "{key}");
        for form in [tie.clone(), tie.without_kernels()] {
            for n in [1, 3] {
                for transposed in [false, true] {
                    check_against_reference(&form, n, transposed, seed);
                    check_against_reference_in(&form, n, transposed, seed, DType::F32, 1e-5);
                    seed += 10;
                }
            }
        }
    }
}

/// Toeplitz, circulant and Hankel have two forms: the FFT (the `fft` feature, on in the
/// workspace's tests; f32 values) and the `conv1d`, the portable reference and the form for
/// other dtypes. Both, every shape of `cases` and larger ones past a power of two, against the
/// dense f64 reference: f32 to 1e-5 (each form's rounding), and f64 (always `conv1d`) to 1e-10.
#[test]
fn correlations_by_fft_and_by_conv1d_both_match_the_dense_reference() {
    let mut seed = 7;
    let mut shapes: Vec<(&str, usize, usize)> = cases()
        .into_iter()
        .filter(|(key, ..)| matches!(*key, "toeplitz" | "hankel" | "circulant"))
        .map(|(key, i, o, _)| (key, i, o))
        .collect();
    shapes.extend([
        ("toeplitz", 17, 33),
        ("hankel", 33, 17),
        ("circulant", 16, 16),
    ]);
    for (key, i, o) in shapes {
        // Burn's own ops: the fused kernel (tested above) would take their place on Flex.
        let tie = Tie::new(key, i, o, &[]).unwrap().without_kernels();
        assert_eq!(tie.uses_fft(), cfg!(feature = "fft"), "{key}");
        let conv = tie.clone().without_fft();
        assert!(!conv.uses_fft());
        for transposed in [false, true] {
            check_against_reference_in(&tie, 3, transposed, seed, DType::F32, 1e-5);
            check_against_reference_in(&conv, 3, transposed, seed, DType::F32, 1e-5);
            check_against_reference(&tie, 3, transposed, seed + 1);
            seed += 10;
        }
    }
}

/// `symmetric` on Flex has a fused op (the `flex` feature: `W` in one pass, and its adjoint as the
/// backward) and the portable `select` (`without_kernels`): both against the dense f64 reference,
/// in f32 and f64, both directions, on sizes past one thread's rows.
#[test]
fn symmetric_fused_and_portable_both_match_the_dense_reference() {
    let mut seed = 3;
    for n in [1, 2, 5, 33, 64] {
        let tie = Tie::new("symmetric", n, n, &[]).unwrap();
        assert_eq!(tie.uses_kernels(), cfg!(feature = "flex"));
        let portable = tie.clone().without_kernels();
        assert!(!portable.uses_kernels());
        for t in [&tie, &portable] {
            for transposed in [false, true] {
                check_against_reference_in(t, 3, transposed, seed, DType::F32, 1e-5);
                check_against_reference_in(t, 3, transposed, seed + 1, float(), 1e-10);
                seed += 10;
            }
        }
    }
}

/// The triangular patterns on Flex run the packed-triangle block kernel (the dfdx side's, which
/// skips the zero half), and the portable gather elsewhere: both against the dense f64
/// reference, in f32 and f64, both directions, around the kernel's block side.
#[test]
fn triangular_fused_and_portable_both_match_the_dense_reference() {
    let mut seed = 5;
    for n in [1, 2, 5, 129, 130] {
        for key in ["upper_triangular", "lower_triangular", "skew"] {
            if key == "skew" && n == 1 {
                continue;
            }
            let tie = Tie::new(key, n, n, &[]).unwrap();
            let diagonal = if key == "skew" { 0 } else { n };
            assert_eq!(tie.stored_len(), n * (n - 1) / 2 + diagonal);
            assert_eq!(tie.uses_kernels(), cfg!(feature = "flex"), "{key}");
            let portable = tie.clone().without_kernels();
            for t in [&tie, &portable] {
                for transposed in [false, true] {
                    check_against_reference_in(t, 3, transposed, seed, DType::F32, 1e-5);
                    check_against_reference_in(t, 3, transposed, seed + 1, float(), 1e-10);
                    seed += 10;
                }
            }
        }
    }
}

#[test]
fn lowerings_are_the_documented_ones() {
    let lowering = |key, n, stated: &[usize]| Tie::new(key, n, n, stated).unwrap().lowering();
    assert_eq!(lowering("dense", 4, &[]), Lowering::Dense);
    assert_eq!(lowering("rows", 4, &[]), Lowering::Broadcast);
    assert_eq!(lowering("tile", 4, &[2, 2]), Lowering::Broadcast);
    assert_eq!(lowering("toeplitz", 4, &[7]), Lowering::Correlation);
    assert_eq!(lowering("circulant", 4, &[]), Lowering::Correlation);
    assert_eq!(lowering("banded", 4, &[3]), Lowering::Band);
    assert_eq!(lowering("diagonal", 4, &[]), Lowering::Elementwise);
    assert_eq!(lowering("symmetric", 4, &[]), Lowering::Gather);
    assert_eq!(lowering("upper_triangular", 4, &[]), Lowering::Gather);
    assert_eq!(lowering("lower_triangular", 4, &[10]), Lowering::Gather);
    assert_eq!(lowering("skew", 4, &[6]), Lowering::Gather);
}

/// `skew`: `W = −Wᵀ` with a zero diagonal exactly, `−w` drawn below the diagonal, and a 1×1
/// weight (nothing stored) refused with the sizes.
#[test]
fn skew_is_antisymmetric_and_drawn_with_signs() {
    let device = device();
    let tie = Tie::new("skew", 5, 5, &[10]).unwrap();
    let stored = values(10, 3);
    let w = match stored_tensor(&tie, stored.clone(), &device) {
        StoredParam::Vector(s) => host(&tie.effective(s)),
        StoredParam::Matrix(_) => unreachable!("skew stores a vector"),
    };
    for i in 0..5 {
        assert_eq!(w[i * 5 + i], 0.0);
        for j in 0..5 {
            assert_eq!(w[i * 5 + j], -w[j * 5 + i], "W[{i}, {j}]");
        }
    }
    assert_eq!(w[1], stored[0]);
    assert_eq!(w[5], -stored[0]);
    let picture = tie.picture("W", "w", false);
    assert_eq!((picture.label(0, 1), picture.label(1, 0)), ("w1", "-w1"));
    assert_eq!(picture.label(2, 2), "0");
    let transposed = tie.picture("W", "w", true);
    assert_eq!(
        (transposed.label(0, 1), transposed.label(1, 0)),
        ("-w1", "w1")
    );
    let err = Tie::new("skew", 1, 1, &[]).unwrap_err().to_string();
    assert!(err.contains("1×1") && err.contains("at least 1"), "{err}");
    assert!(Tie::new("skew", 4, 4, &[10]).is_err());
}

#[test]
fn the_forum_layer_gets_four_times_x() {
    // Rows-tied 4×4, x = [1, 2, 3, 4]: y[j] = x·w for every j, so d(Σ y)/dw = 4·x.
    let device = device();
    let tie = Tie::new("rows", 4, 4, &[4]).unwrap();
    let w = tensor(vec![0.1, -0.2, 0.3, -0.4], [4], &device).require_grad();
    let x = tensor(vec![1.0, 2.0, 3.0, 4.0], [1, 4], &device);
    let y = tie.forward(x, w.clone());
    assert_close("y", &host(&y), &[-1.0; 4], 1e-12);
    let grads = y.sum().backward();
    assert_eq!(host(&w.grad(&grads).unwrap()), [4.0, 8.0, 12.0, 16.0]);
}

#[test]
fn effective_is_the_index_map() {
    let device = device();
    for (key, i, o, stated) in cases() {
        let tie = Tie::new(key, i, o, &stated).unwrap();
        let stored = values(tie.stored_len(), 7);
        let want = crate::common::dense_w(&tie, &stored);
        let got = match stored_tensor(&tie, stored, &device) {
            StoredParam::Vector(s) => tie.effective(s),
            StoredParam::Matrix(s) => tie.effective(s),
        };
        assert_eq!(got.dims(), [i, o], "{key}");
        assert_close(&format!("{key} {i}×{o} W"), &host(&got), &want, 1e-12);
    }
}

#[test]
fn lookup_gives_rows_of_w_and_their_gradients() {
    let device = device();
    for (key, i, o, stated) in cases() {
        let tie = Tie::new(key, i, o, &stated).unwrap();
        let stored = values(tie.stored_len(), 11);
        let w = crate::common::dense_w(&tie, &stored);
        let picks: Vec<i64> = (0..6).map(|k| ((k * 5 + 2) % i) as i64).collect();
        let r = values(picks.len() * o, 12);
        let s = stored_tensor(&tie, stored, &device);
        let id = ids(picks.clone(), [2, 3], &device);
        let rows: burn::tensor::Tensor<3> = match &s {
            StoredParam::Vector(t) => tie.lookup(id, t.clone()),
            StoredParam::Matrix(t) => tie.lookup(id, t.clone()),
        };
        assert_eq!(rows.dims(), [2, 3, o]);
        let want: Vec<f64> = picks
            .iter()
            .flat_map(|&p| w[p as usize * o..(p as usize + 1) * o].to_vec())
            .collect();
        assert_close(&format!("{key} lookup"), &host(&rows), &want, 1e-12);
        let grads = rows
            .mul(tensor(r.clone(), [2, 3, o], &device))
            .sum()
            .backward();
        let mut dstored = vec![0.0; tie.stored_len()];
        for (m, &p) in picks.iter().enumerate() {
            for j in 0..o {
                if let Some((k, negated)) = tie.entry(p as usize, j) {
                    dstored[k] += if negated { -r[m * o + j] } else { r[m * o + j] };
                }
            }
        }
        assert_close(
            &format!("{key} lookup dstored"),
            &s.grad(&grads),
            &dstored,
            1e-12,
        );
    }
}

#[test]
fn inputs_of_any_rank() {
    let device = device();
    let tie = Tie::new("toeplitz", 3, 5, &[]).unwrap();
    let v = tensor(values(7, 3), [7], &device);
    let x3 = tensor(values(2 * 4 * 3, 4), [2, 4, 3], &device);
    let y3 = tie.forward(x3.clone(), v.clone());
    assert_eq!(y3.dims(), [2, 4, 5]);
    let y2 = tie.forward(x3.reshape([8, 3]), v.clone());
    assert_close("rank 3", &host(&y3), &host(&y2), 0.0);
    let x1 = tensor(values(3, 5), [3], &device);
    assert_eq!(tie.forward(x1, v.clone()).dims(), [5]);
    let back = tie.forward_transposed(y3, v);
    assert_eq!(back.dims(), [2, 4, 3]);
}

#[test]
fn an_empty_batch_gives_an_empty_output() {
    let device = device();
    let tie = Tie::new("circulant", 4, 4, &[]).unwrap();
    let v = tensor(values(4, 3), [4], &device);
    let x = tensor(vec![], [0, 4], &device);
    assert_eq!(tie.forward(x, v).dims(), [0, 4]);
}
