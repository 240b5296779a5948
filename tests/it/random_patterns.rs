//! Random patterns: proptest draws index tables (structural zeros included, valid or not), shapes
//! from a set of compile-time sizes and batch sizes including 0, and checks a layer built on the
//! table against plain loops over the same table:
//! - the pattern check (`tied::check_pattern` and `tied::try_build`) against an independent one;
//! - for a valid table, the forward, `matmul_*` and `*_effective` of the weight and of its
//!   transpose (`transpose_of`), and every gradient (input, stored values, bias).

use crate::common;

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use tied::prelude::*;
use tied::{BuildError, PatternError};

thread_local! {
    /// The pattern under test: `W[i, j]` is stored value `TABLE[i·O + j]`, or a structural zero.
    static TABLE: RefCell<Vec<Option<usize>>> = const { RefCell::new(Vec::new()) };
}

/// A pattern that reads [`TABLE`], with `K` stored values.
pub struct Table<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for Table<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = "table";
    fn index(i: usize, j: usize) -> Option<usize> {
        TABLE.with(|t| {
            let t = t.borrow();
            assert_eq!(t.len(), I * O, "the table is set for another shape");
            t[i * O + j]
        })
    }
}

/// A layer on the table, with a bias: the generated `Module` forward.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct TableLayer<const I: usize, const O: usize, const K: usize, E: Dtype, D: Device<E>> {
    #[tied(pattern = Table<K>)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// The table and its transpose on the same stored values.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct TablePair<const I: usize, const O: usize, const K: usize, E: Dtype, D: Device<E>> {
    #[tied(pattern = Table<K>)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
    #[tied(transpose_of = weight)]
    pub back: Tensor<Rank2<O, I>, E, D>,
}

/// The check `check_pattern` must agree with, written from its definition: the first entry
/// (row-major) past the stored values, else the first stored value no entry uses.
fn independent_check(table: &[Option<usize>], o: usize, k: usize) -> Result<(), PatternError> {
    if k == 0 {
        return Err(PatternError::NothingStored { pattern: "table" });
    }
    for (at, index) in table.iter().enumerate() {
        if let Some(index) = *index {
            if index >= k {
                return Err(PatternError::OutOfRange {
                    pattern: "table",
                    i: at / o,
                    j: at % o,
                    index,
                    stored: k,
                });
            }
        }
    }
    match (0..k).find(|v| !table.contains(&Some(*v))) {
        Some(index) => Err(PatternError::Unused {
            pattern: "table",
            index,
            stored: k,
        }),
        None => Ok(()),
    }
}

/// `y = x·W + b` and the gradients of `L = Σ y ⊙ r`, by loops over the table.
struct Dense {
    y: Vec<f64>,
    grad_x: Vec<f64>,
    grad_stored: Vec<f64>,
    grad_bias: Vec<f64>,
}

/// `W` (I×O) from the table; `transpose` gives `Wᵀ` (O×I) instead.
fn weight(
    table: &[Option<usize>],
    stored: &[f64],
    i: usize,
    o: usize,
    transpose: bool,
) -> Vec<f64> {
    let mut w = vec![0.0; i * o];
    for a in 0..i {
        for b in 0..o {
            let v = table[a * o + b].map_or(0.0, |k| stored[k]);
            w[if transpose { b * i + a } else { a * o + b }] = v;
        }
    }
    w
}

/// The reference for `x` (n×IN) through the table's `W` (I×O), or `Wᵀ` when `transpose`
/// (then IN = O, OUT = I).
#[allow(clippy::too_many_arguments)]
fn dense(
    table: &[Option<usize>],
    stored: &[f64],
    bias: &[f64],
    x: &[f64],
    r: &[f64],
    (i, o): (usize, usize),
    n: usize,
    transpose: bool,
) -> Dense {
    let (fan_in, fan_out) = if transpose { (o, i) } else { (i, o) };
    let w = weight(table, stored, i, o, transpose);
    let mut y = vec![0.0; n * fan_out];
    let mut grad_x = vec![0.0; n * fan_in];
    let mut grad_w = vec![0.0; fan_in * fan_out];
    let mut grad_bias = vec![0.0; fan_out];
    for row in 0..n {
        for b in 0..fan_out {
            let mut sum = bias.get(b).copied().unwrap_or(0.0);
            for a in 0..fan_in {
                sum += x[row * fan_in + a] * w[a * fan_out + b];
                grad_x[row * fan_in + a] += r[row * fan_out + b] * w[a * fan_out + b];
                grad_w[a * fan_out + b] += x[row * fan_in + a] * r[row * fan_out + b];
            }
            y[row * fan_out + b] = sum;
            grad_bias[b] += r[row * fan_out + b];
        }
    }
    let mut grad_stored = vec![0.0; stored.len()];
    for a in 0..i {
        for b in 0..o {
            if let Some(k) = table[a * o + b] {
                let at = if transpose { b * i + a } else { a * o + b };
                grad_stored[k] += grad_w[at];
            }
        }
    }
    Dense {
        y,
        grad_x,
        grad_stored,
        grad_bias,
    }
}

#[track_caller]
fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (at, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
            "{what}[{at}]: {g} != {w}"
        );
    }
}

/// The values of a tensor, also an empty one (dfdx's `as_vec` reads element 0 of any tensor).
fn vec_of<S: Shape, T>(t: &Tensor<S, f64, Cpu, T>) -> Vec<f64> {
    if t.shape().num_elements() == 0 {
        Vec::new()
    } else {
        t.as_vec()
    }
}

/// One drawn case: the table's raw draws, the values, the batch size.
#[derive(Debug, Clone)]
struct Case {
    /// Per entry of `W`: a draw deciding its stored value or structural zero.
    cells: Vec<u32>,
    /// Per entry of `W`: its rank in a random order, for placing each stored value once.
    order: Vec<u32>,
    /// Build a valid table (every value used, all in range) or take the raw draws as they come.
    valid: bool,
    values: Vec<f64>,
    batch: usize,
}

/// The table for `W` (I×O) with `K` stored values: a valid one places each stored value at one
/// random entry and fills the rest with random values or structural zeros (1 in 4); a raw one
/// draws every entry from `0..=K` (so `K` is out of range) or a structural zero.
fn table_of(case: &Case, i: usize, o: usize, k: usize) -> Vec<Option<usize>> {
    let cell = |c: u32| (!c.is_multiple_of(4)).then_some(c as usize / 4);
    if !case.valid {
        return (0..i * o)
            .map(|at| cell(case.cells[at]).map(|v| v % (k + 1)))
            .collect();
    }
    let mut table: Vec<Option<usize>> = (0..i * o)
        .map(|at| cell(case.cells[at]).map(|v| v % k.max(1)))
        .collect();
    let mut entries: Vec<usize> = (0..i * o).collect();
    entries.sort_by_key(|at| (case.order[*at], *at));
    for (value, at) in entries.into_iter().take(k).enumerate() {
        table[at] = Some(value);
    }
    table
}

fn check<const I: usize, const O: usize, const K: usize>(case: &Case) {
    let table = table_of(case, I, O, K);
    TABLE.with(|t| *t.borrow_mut() = table.clone());
    // `Tie::index` is meant to be pure, and the CPU kernels cache its table per (type, I, O):
    // this pattern changes it per case, so drop the cached tables.
    tied_dfdx::kernels::forget_index_tables();
    let expected = independent_check(&table, O, K);
    assert_eq!(
        tied::check_pattern::<Table<K>, I, O>(),
        expected,
        "{table:?}"
    );
    let dev = Cpu::default();
    let built = tied::try_build::<TableLayerConfig<I, O, K>, f64, _>(&dev);
    let mut layer = match (built, &expected) {
        (Ok(layer), Ok(())) => layer,
        (Err(BuildError::Pattern(err)), Err(want)) => {
            assert_eq!(&err.error, want);
            assert_eq!((err.layer, err.field), ("TableLayer", "weight"));
            return;
        }
        (built, _) => panic!(
            "{table:?}: built {:?}, expected {expected:?}",
            built.is_ok()
        ),
    };
    let mut pair = tied::try_build::<TablePairConfig<I, O, K>, f64, _>(&dev).unwrap();

    let n = case.batch;
    let v = &case.values;
    let (stored, bias) = (v[..K].to_vec(), v[K..K + O].to_vec());
    let x: Vec<f64> = v[K + O..][..n * I].to_vec();
    let r: Vec<f64> = v[K + O + n * I..][..n * O].to_vec();
    layer.weight = dev.tensor_from_vec(stored.clone(), (Const,));
    layer.bias = dev.tensor_from_vec(bias.clone(), (Const,));
    pair.weight = layer.weight.clone();

    let w = weight(&table, &stored, I, O, false);
    assert_close("W", &layer.weight_effective(NoneTape).as_vec(), &w);
    let wt = weight(&table, &stored, I, O, true);
    assert_close("Wᵀ", &pair.back_effective(NoneTape).as_vec(), &wt);

    let xt: Tensor<(usize, Const<I>), f64, Cpu> = dev.tensor_from_vec(x.clone(), (n, Const));
    let rt: Tensor<(usize, Const<O>), f64, Cpu> = dev.tensor_from_vec(r.clone(), (n, Const));
    // The loss reduces the batch first: dfdx's `sum()` to a scalar panics on an empty tensor.
    let loss = |y: Tensor<(usize, Const<O>), f64, Cpu, OwnedTape<f64, Cpu>>| {
        (y * rt.clone()).sum::<Rank1<O>, _>().sum().backward()
    };

    // The forward with its bias, and `matmul_weight` without.
    for (what, with_bias) in [("forward", true), ("matmul_weight", false)] {
        let bias = if with_bias { bias.clone() } else { Vec::new() };
        let want = dense(&table, &stored, &bias, &x, &r, (I, O), n, false);
        let y = if with_bias {
            layer.forward(xt.leaky_trace())
        } else {
            layer.matmul_weight(xt.leaky_trace())
        };
        assert_close(&format!("{what}: y"), &vec_of(&y), &want.y);
        let grads = loss(y);
        assert_close(
            &format!("{what}: grad x"),
            &vec_of(&grads.get(&xt)),
            &want.grad_x,
        );
        assert_close(
            &format!("{what}: grad stored"),
            &grads.get(&layer.weight).as_vec(),
            &want.grad_stored,
        );
        if with_bias {
            let got = grads.get(&layer.bias).as_vec();
            assert_close(&format!("{what}: grad bias"), &got, &want.grad_bias);
        }
    }

    // The transpose: `x·Wᵀ` on an n×O input.
    let xb: Vec<f64> = v[K + O + n * I + n * O..][..n * O].to_vec();
    let rb: Vec<f64> = v[K + O + n * I + 2 * n * O..][..n * I].to_vec();
    let want = dense(&table, &stored, &[], &xb, &rb, (I, O), n, true);
    let xbt: Tensor<(usize, Const<O>), f64, Cpu> = dev.tensor_from_vec(xb, (n, Const));
    let rbt: Tensor<(usize, Const<I>), f64, Cpu> = dev.tensor_from_vec(rb, (n, Const));
    let y = pair.matmul_back(xbt.leaky_trace());
    assert_close("matmul_back: y", &vec_of(&y), &want.y);
    let grads = (y * rbt).sum::<Rank1<I>, _>().sum().backward();
    assert_close(
        "matmul_back: grad x",
        &vec_of(&grads.get(&xbt)),
        &want.grad_x,
    );
    let got = grads.get(&pair.weight).as_vec();
    assert_close("matmul_back: grad stored", &got, &want.grad_stored);
}

/// The compile-time shapes (I, O, K) drawn from, as a dispatch on a drawn index.
macro_rules! shapes {
    ($(($i:literal, $o:literal, $k:literal)),* $(,)?) => {
        const SHAPES: &[(usize, usize, usize)] = &[$(($i, $o, $k)),*];
        fn check_shape(shape: usize, case: &Case) {
            let mut arms = 0..;
            $(
                if arms.next() == Some(shape) {
                    return check::<$i, $o, $k>(case);
                }
            )*
            unreachable!("shape {shape}");
        }
    };
}

shapes!(
    (1, 1, 1),
    (1, 3, 2),
    (2, 3, 4),
    (3, 2, 3),
    (4, 4, 6),
    (3, 5, 2),
    (5, 2, 7),
    (2, 2, 4),
    (4, 3, 1),
    (2, 2, 0),
);

/// The most values one case needs: stored + bias + (x, r) twice at the largest batch.
const MAX_BATCH: usize = 5;
const MAX_VALUES: usize = 7 + 5 + 4 * MAX_BATCH * 5;

fn cases() -> impl Strategy<Value = (usize, Case)> {
    (
        0..SHAPES.len(),
        prop::collection::vec(any::<u32>(), 20),
        prop::collection::vec(any::<u32>(), 20),
        prop::bool::weighted(0.7),
        prop::collection::vec(-2.0f64..2.0, MAX_VALUES),
        prop::sample::select(vec![0, 0, 1, 2, 3, MAX_BATCH]),
    )
        .prop_map(|(shape, cells, order, valid, values, batch)| {
            let case = Case {
                cells,
                order,
                valid,
                values,
                batch,
            };
            (shape, case)
        })
}

proptest! {
    #![proptest_config(common::proptest_config(256))]

    #[test]
    fn random_tables_match_the_dense_reference((shape, case) in cases()) {
        check_shape(shape, &case);
    }
}

/// The draws above do reach every outcome of the check, on every shape.
#[test]
fn the_draws_cover_valid_out_of_range_and_unused_tables() {
    let (mut valid, mut out_of_range, mut unused, mut nothing) = (0, 0, 0, 0);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..512 {
        let (shape, case) = cases().new_tree(&mut runner).unwrap().current();
        let (i, o, k) = SHAPES[shape];
        match independent_check(&table_of(&case, i, o, k), o, k) {
            Ok(()) => valid += 1,
            Err(PatternError::OutOfRange { .. }) => out_of_range += 1,
            Err(PatternError::Unused { .. }) => unused += 1,
            Err(PatternError::NothingStored { .. }) => nothing += 1,
        }
    }
    assert!(
        valid > 100 && out_of_range > 20 && unused > 5 && nothing > 5,
        "{valid} {out_of_range} {unused} {nothing}"
    );
}
