//! Every tie pattern on its own (no macro): its picture, its index checks, and its lowering against
//! the dense reference and finite differences.

use crate::common::*;
use tied::prelude::*;
use tied::{
    check_pattern, gradcheck_with, Banded, Block, Circulant, Cols, Diagonal, Hankel,
    LowerTriangular, PatternError, Rows, Scalar, Skew, Symmetric, Tile, Toeplitz, Transposed,
    UpperTriangular,
};

fn labels<P: Tie<I, O>, const I: usize, const O: usize>() -> Vec<Vec<String>> {
    let picture = Picture::of::<P, I, O>("W", "v");
    (0..I)
        .map(|i| (0..O).map(|j| picture.label(i, j).to_owned()).collect())
        .collect()
}

fn grid(rows: &[&str]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn pictures_of_every_pattern() {
    assert_eq!(labels::<Rows, 2, 3>(), grid(&["v1 v1 v1", "v2 v2 v2"]));
    assert_eq!(labels::<Cols, 2, 3>(), grid(&["v1 v2 v3", "v1 v2 v3"]));
    assert_eq!(labels::<Scalar, 2, 2>(), grid(&["v1 v1", "v1 v1"]));
    assert_eq!(
        labels::<Tile<1, 2>, 2, 4>(),
        grid(&["v1 v2 v1 v2", "v1 v2 v1 v2"])
    );
    assert_eq!(
        labels::<Block<2, 2>, 4, 4>(),
        grid(&["v1 v1 v2 v2", "v1 v1 v2 v2", "v3 v3 v4 v4", "v3 v3 v4 v4"])
    );
    assert_eq!(
        labels::<Toeplitz<4>, 3, 2>(),
        grid(&["v2 v1", "v3 v2", "v4 v3"])
    );
    assert_eq!(
        labels::<Circulant, 3, 3>(),
        grid(&["v1 v2 v3", "v3 v1 v2", "v2 v3 v1"])
    );
    assert_eq!(labels::<Hankel<4>, 2, 3>(), grid(&["v1 v2 v3", "v2 v3 v4"]));
    assert_eq!(
        labels::<Symmetric<6>, 3, 3>(),
        grid(&["v1 v2 v3", "v2 v4 v5", "v3 v5 v6"])
    );
    assert_eq!(
        labels::<Skew<3>, 3, 3>(),
        grid(&["0 v1 v2", "-v1 0 v3", "-v2 -v3 0"])
    );
    assert_eq!(
        labels::<UpperTriangular<6>, 3, 3>(),
        grid(&["v1 v2 v3", "0 v4 v5", "0 0 v6"])
    );
    assert_eq!(
        labels::<LowerTriangular<6>, 3, 3>(),
        grid(&["v1 0 0", "v2 v4 0", "v3 v5 v6"])
    );
    assert_eq!(
        labels::<Banded<3>, 4, 4>(),
        grid(&["v2 v1 0 0", "v3 v2 v1 0", "0 v3 v2 v1", "0 0 v3 v2"])
    );
    assert_eq!(
        labels::<Diagonal, 3, 3>(),
        grid(&["v1 0 0", "0 v2 0", "0 0 v3"])
    );
}

#[test]
fn the_forum_picture() {
    assert_eq!(
        Picture::of::<Rows, 4, 4>("W", "w").to_string(),
        "W = [ w1 w1 w1 w1\n      w2 w2 w2 w2\n      w3 w3 w3 w3\n      w4 w4 w4 w4 ]\n\
         (4×4 rows: 4 stored values instead of 16)"
    );
    // Large weights are elided to their corners.
    let big = Picture::of::<Toeplitz<39>, 20, 20>("W", "v").to_string();
    assert_eq!(big.lines().count(), 10);
    assert!(big.contains('…'));
    assert!(big.ends_with("(20×20 toeplitz: 39 stored values instead of 400)"));
}

#[test]
fn check_pattern_accepts_the_right_sizes_and_names_the_wrong_ones() {
    assert_eq!(check_pattern::<Toeplitz<5>, 3, 3>(), Ok(()));
    assert_eq!(check_pattern::<Symmetric<10>, 4, 4>(), Ok(()));
    assert_eq!(check_pattern::<UpperTriangular<10>, 4, 4>(), Ok(()));
    assert_eq!(check_pattern::<Skew<6>, 4, 4>(), Ok(()));
    assert_eq!(check_pattern::<LowerTriangular<10>, 4, 4>(), Ok(()));
    assert_eq!(check_pattern::<Hankel<6>, 4, 3>(), Ok(()));
    assert_eq!(check_pattern::<Banded<3>, 5, 5>(), Ok(()));
    assert_eq!(check_pattern::<Tile<2, 3>, 4, 6>(), Ok(()));
    assert_eq!(check_pattern::<Block<2, 3>, 4, 6>(), Ok(()));
    // A built-in pattern with a wrong size does not compile (tests/ui/hand-written-wrong-size.rs):
    // the wrong sizes here are a user's patterns, which only `check_pattern` can judge.
    assert_eq!(
        check_pattern::<Diagonals<4>, 3, 3>(),
        Err(PatternError::OutOfRange {
            pattern: "diagonals",
            i: 2,
            j: 0,
            index: 4,
            stored: 4
        })
    );
    let unused = check_pattern::<Diagonals<6>, 3, 3>().unwrap_err();
    assert_eq!(
        unused.to_string(),
        "pattern `diagonals` never uses stored value 5 of 6: it would be a parameter without a \
         gradient"
    );
}

/// Toeplitz without the built-in's size check: `W[i, j] = v[i − j + O − 1]`, `K` values.
struct Diagonals<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for Diagonals<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = "diagonals";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some(i + O - 1 - j)
    }
}

/// The stored values of one pattern, as a model for `gradcheck_with`.
#[derive(Clone, Debug)]
struct Stored<S: ConstShape> {
    v: Tensor<S, f64, Cpu>,
}

impl<S: ConstShape> TensorCollection<f64, Cpu> for Stored<S> {
    type To<E2: Dtype, D2: Device<E2>> = Stored<S>;
    fn iter_tensors<V: ModuleVisitor<Self, f64, Cpu>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            Self::tensor("v", |s| &s.v, |s| &mut s.v, TensorOptions::reset_to_zeros()),
            |_| unreachable!("not converted in these tests"),
        )
    }
}

/// `P`'s lowering (`try_apply`) and effective weight against the dense reference and finite
/// differences, for a batch of 3.
fn check_lowering<P: Tie<I, O>, const I: usize, const O: usize>(seed: u64) {
    check_pattern::<P, I, O>().unwrap();
    let dev = Cpu::default();
    let numel = <P::Stored as ConstShape>::NUMEL;
    let stored: Tensor<P::Stored, f64, Cpu> =
        dev.tensor_from_vec(values(numel, seed), Default::default());
    let x: Batch<I, f64, Cpu, NoneTape> = dev.tensor_from_vec(values(3 * I, seed + 1), (3, Const));
    let r = values(3 * O, seed + 2);
    let rt: Batch<O, f64, Cpu, NoneTape> = dev.tensor_from_vec(r.clone(), (3, Const));
    let want = reference::<P, I, O, f64>(&stored.as_vec(), None, &x.as_vec(), &r);

    let y = P::try_apply(x.trace(Gradients::leaky()), &stored).unwrap();
    assert_close("y", &y.retaped::<NoneTape>().as_vec(), &want.y, 1e-12);
    let grads = (y * rt.clone()).sum::<Rank0, _>().backward();
    assert_close(
        "grad(stored)",
        &grads.get(&stored).as_vec(),
        &want.grad_stored,
        1e-12,
    );
    assert_close("grad(x)", &grads.get(&x).as_vec(), &want.grad_x, 1e-12);

    // The effective weight is the pattern, entry by entry.
    let w = P::try_effective(stored.clone()).unwrap().as_vec();
    let sv = stored.as_vec();
    for i in 0..I {
        for j in 0..O {
            let sign = if P::negated(i, j) { -1.0 } else { 1.0 };
            assert_eq!(w[i * O + j], P::index(i, j).map_or(0.0, |k| sign * sv[k]));
        }
    }

    let model = Stored { v: stored };
    gradcheck_with(&model, &x, GradcheckOptions::default(), |m, x| {
        (P::try_apply(x, &m.v).unwrap() * rt.retaped::<Owned>()).sum()
    })
    .unwrap_or_else(|e| panic!("{}: {e}", P::NAME));
}

use tied::Batch;

#[test]
fn broadcast_family_lowerings() {
    check_lowering::<Rows, 4, 3>(1);
    check_lowering::<Cols, 4, 3>(2);
    check_lowering::<Scalar, 4, 3>(3);
    check_lowering::<Tile<2, 3>, 4, 6>(4);
    check_lowering::<Tile<1, 1>, 3, 5>(5);
    check_lowering::<Tile<3, 5>, 3, 5>(6);
    check_lowering::<Block<2, 3>, 4, 6>(7);
    check_lowering::<Block<1, 5>, 3, 5>(8);
    check_lowering::<Block<3, 1>, 6, 2>(9);
}

#[test]
fn index_family_lowerings() {
    check_lowering::<Toeplitz<6>, 4, 3>(10);
    check_lowering::<Circulant, 4, 4>(11);
    check_lowering::<Hankel<6>, 3, 4>(12);
    check_lowering::<Symmetric<10>, 4, 4>(13);
    check_lowering::<UpperTriangular<10>, 4, 4>(30);
    check_lowering::<LowerTriangular<15>, 5, 5>(31);
    check_lowering::<Skew<10>, 5, 5>(34);
    check_lowering::<Skew<1>, 2, 2>(35);
    check_lowering::<Banded<3>, 5, 5>(14);
    check_lowering::<Banded<5>, 4, 6>(15);
}

#[test]
fn diagonal_lowering() {
    // Elementwise, y[n, i] = x[n, i]·v[i]: against the dense reference and finite differences.
    check_lowering::<Diagonal, 4, 4>(16);
    check_lowering::<Diagonal, 1, 1>(17);
    check_lowering::<Transposed<Diagonal>, 5, 5>(18);
}

#[test]
fn transposed_lowerings() {
    // The structured ones compute x·Wᵀ from the structure; the rest gather.
    check_lowering::<Transposed<tied::Dense>, 3, 4>(20);
    check_lowering::<Transposed<Rows>, 3, 4>(21);
    check_lowering::<Transposed<Cols>, 3, 4>(22);
    check_lowering::<Transposed<Scalar>, 3, 4>(23);
    check_lowering::<Transposed<Tile<2, 3>>, 6, 4>(24);
    check_lowering::<Transposed<Block<2, 3>>, 6, 4>(25);
    check_lowering::<Transposed<Toeplitz<6>>, 3, 4>(26);
    check_lowering::<Transposed<Symmetric<6>>, 3, 3>(27);
    check_lowering::<Transposed<UpperTriangular<6>>, 3, 3>(32);
    check_lowering::<Transposed<LowerTriangular<6>>, 3, 3>(33);
    check_lowering::<Transposed<Skew<6>>, 4, 4>(36);
    assert_eq!(
        labels::<Transposed<Skew<3>>, 3, 3>(),
        grid(&["0 -v1 -v2", "v1 0 -v3", "v2 v3 0"]),
        "skewᵀ is −skew, on the same stored values"
    );
    assert_eq!(
        labels::<Transposed<UpperTriangular<6>>, 3, 3>(),
        labels::<LowerTriangular<6>, 3, 3>(),
        "upperᵀ is lower, on the same stored values"
    );
    check_lowering::<Transposed<Transposed<Rows>>, 4, 3>(28);
    assert_eq!(
        labels::<Transposed<Rows>, 2, 3>(),
        labels::<Cols, 2, 3>(),
        "rowsᵀ is cols"
    );
}

/// Each row of the macro's pattern table (`tied_patterns::PATTERNS`, which the macro turns into
/// `tied::__private::{ty}`) is the runtime type of that name, whose `NAME` is the row's key.
#[test]
fn the_pattern_table_names_the_runtime_types() {
    fn row<P: Tie<4, 4>>() -> (&'static str, String) {
        let path = std::any::type_name::<P>();
        let ty = path.split('<').next().unwrap_or(path);
        (P::NAME, ty.rsplit("::").next().unwrap_or(ty).to_owned())
    }
    let types = [
        row::<Rows>(),
        row::<Cols>(),
        row::<Scalar>(),
        row::<Tile<2, 2>>(),
        row::<Block<2, 2>>(),
        row::<Toeplitz<7>>(),
        row::<Circulant>(),
        row::<Hankel<7>>(),
        row::<Symmetric<10>>(),
        row::<Skew<6>>(),
        row::<UpperTriangular<10>>(),
        row::<LowerTriangular<10>>(),
        row::<Banded<3>>(),
        row::<Diagonal>(),
    ];
    let table: Vec<(&str, String)> = tied_patterns::PATTERNS
        .iter()
        .map(|p| (p.key, p.ty.to_owned()))
        .collect();
    assert_eq!(types.to_vec(), table);
}
