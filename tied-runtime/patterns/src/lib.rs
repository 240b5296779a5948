//! The built-in tie patterns of [`tied`](https://docs.rs/tied), one row each: the attribute key,
//! the form of its value, the runtime type, the stored-size rule, whether the weight must be square,
//! and its documentation line.
//!
//! The runtime (`tied-dfdx`) and the macro (`tied-macros`) both compile this crate: the runtime's
//! `Tie` impls assert their stored size with [`Pattern::assert_fits`] at compile time, and the macro
//! parses, validates, suggests and reports from [`PATTERNS`]. Adding a pattern is its `Tie` impl,
//! one row here, and its tests.
//!
//! Each pattern's index map lives here too, with runtime sizes ([`Map::index`], checked as a
//! [`Geometry`]): the dfdx `Tie::index` impls and the Burn lowerings (`tied-burn`) both call it.
//!
//! The symmetry-group ties live here too: a layer that commutes with a group acting on its
//! positions stores one value per orbit of the position pairs ([`Orbits`]), for the built-in groups
//! ([`Group`]) and the user's ([`RuntimeGroup`]).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod check;
mod geometry;
mod group;
mod message;
mod picture;
mod structure;

pub use check::{check_map, MapError};
pub use geometry::{Geometry, Map, Misfit};
pub use group::{Action, Generator, Group, GroupError, Orbits, RuntimeGroup, Side, MAX_PAIRS};
pub use message::Message;
pub use picture::Picture;
pub use structure::{packed_row_start, strict_row_start, Fold, Packing, Shift, Sign, Structure};

/// What follows a pattern's key in `#[tied(..)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `circulant`: no value.
    Bare,
    /// `rows` or `rows = N`: the stored length, optional (the shape gives it).
    OptionalSize,
    /// `toeplitz = K`: the stored length, required (its arithmetic is not a type on stable Rust).
    Size,
    /// `tile(R, C)`: the stored block's shape.
    Pair,
}

/// A stored size computed from the weight's `I` inputs and `O` outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    /// `I`, one per input.
    Inputs,
    /// `O`, one per output.
    Outputs,
    /// `1`.
    One,
    /// `N` of a square `N`×`N` weight.
    Side,
    /// `I + O − 1`, one per diagonal.
    Diagonals,
    /// `N(N + 1)/2`, the upper triangle of a square weight.
    Triangle,
    /// `N(N − 1)/2`, the strict upper triangle (no diagonal) of a square weight.
    StrictTriangle,
}

impl Formula {
    /// The stored size for an `i`×`o` weight; `None` where it overflows `usize` (or is `0 − 1`).
    pub const fn eval(self, i: usize, o: usize) -> Option<usize> {
        match self {
            Formula::Inputs | Formula::Side => Some(i),
            Formula::Outputs => Some(o),
            Formula::One => Some(1),
            Formula::Diagonals => match i.checked_add(o) {
                Some(sum) if sum > 0 => Some(sum - 1),
                _ => None,
            },
            Formula::Triangle => match i.checked_add(1) {
                Some(next) => match next.checked_mul(i) {
                    Some(twice) => Some(twice / 2),
                    None => None,
                },
                None => None,
            },
            Formula::StrictTriangle => match i.checked_sub(1) {
                Some(less) => match less.checked_mul(i) {
                    Some(twice) => Some(twice / 2),
                    None => None,
                },
                None => None,
            },
        }
    }

    /// The formula as the docs write it.
    pub const fn text(self) -> &'static str {
        match self {
            Formula::Inputs => "I",
            Formula::Outputs => "O",
            Formula::One => "1",
            Formula::Side => "N",
            Formula::Diagonals => "I + O − 1",
            Formula::Triangle => "N(N + 1)/2",
            Formula::StrictTriangle => "N(N − 1)/2",
        }
    }
}

/// How a pattern's stored values must fit an `I`×`O` weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Exactly this many values: a stated size must equal it.
    Exact(Formula),
    /// `K = 2b + 1` diagonals around the main one: `K` odd, the bandwidth `b` below both sides.
    Band,
    /// An `R`×`C` block: `R` divides `I` and `C` divides `O`, neither 0.
    Divides,
}

/// One built-in pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// The attribute key, also the pattern's `Tie::NAME`: `#[tied(toeplitz = 6)]`.
    pub key: &'static str,
    /// What follows the key.
    pub form: Form,
    /// The runtime type, as `tied::__private::{ty}`, with the stated sizes as const arguments.
    pub ty: &'static str,
    /// How many values are stored.
    pub rule: Rule,
    /// Whether the weight must be square.
    pub square: bool,
    /// Whether a bias (a 1×O row) may take it.
    pub bias: bool,
    /// What is stored, for messages: "one value per diagonal".
    pub stores: &'static str,
    /// The effective weight, for docs: "`W[i, j] = v[i − j + O − 1]`".
    pub doc: &'static str,
    /// Its index map, with the sizes the attribute states left 0 (`Map::Tile { r: 0, c: 0 }`):
    /// [`Geometry::new`] fills them in.
    pub map: Map,
}

/// Every built-in pattern, in the order messages list them.
pub const PATTERNS: &[Pattern] = &[
    ROWS,
    COLS,
    SCALAR,
    TILE,
    BLOCK,
    TOEPLITZ,
    CIRCULANT,
    HANKEL,
    SYMMETRIC,
    SKEW,
    UPPER_TRIANGULAR,
    LOWER_TRIANGULAR,
    BANDED,
    DIAGONAL,
];

/// `W[i, j] = w[i]`.
pub const ROWS: Pattern = Pattern {
    key: "rows",
    form: Form::OptionalSize,
    ty: "Rows",
    rule: Rule::Exact(Formula::Inputs),
    square: false,
    bias: true,
    stores: "one value per input",
    doc: "`W[i, j] = w[i]`: every row one value (the forum's layer)",
    map: Map::Rows,
};

/// `W[i, j] = w[j]`.
pub const COLS: Pattern = Pattern {
    key: "cols",
    form: Form::OptionalSize,
    ty: "Cols",
    rule: Rule::Exact(Formula::Outputs),
    square: false,
    bias: false,
    stores: "one value per output",
    doc: "`W[i, j] = w[j]`: every column one value",
    map: Map::Cols,
};

/// `W[i, j] = w`.
pub const SCALAR: Pattern = Pattern {
    key: "scalar",
    form: Form::Bare,
    ty: "Scalar",
    rule: Rule::Exact(Formula::One),
    square: false,
    bias: true,
    stores: "one value for every entry",
    doc: "`W[i, j] = w`: one value for the whole weight",
    map: Map::Scalar,
};

/// `W[i, j] = V[i mod R, j mod C]`.
pub const TILE: Pattern = Pattern {
    key: "tile",
    form: Form::Pair,
    ty: "Tile",
    rule: Rule::Divides,
    square: false,
    bias: false,
    stores: "the repeated block",
    doc: "`W[i, j] = V[i mod R, j mod C]` (PyTorch `repeat`)",
    map: Map::Tile { r: 0, c: 0 },
};

/// `W[i, j] = V[i / (I/R), j / (O/C)]`.
pub const BLOCK: Pattern = Pattern {
    key: "block",
    form: Form::Pair,
    ty: "Block",
    rule: Rule::Divides,
    square: false,
    bias: false,
    stores: "the stored values",
    doc: "`W[i, j] = V[i / (I/R), j / (O/C)]` (`repeat_interleave`)",
    map: Map::Block { r: 0, c: 0 },
};

/// `W[i, j] = v[i − j + O − 1]`.
pub const TOEPLITZ: Pattern = Pattern {
    key: "toeplitz",
    form: Form::Size,
    ty: "Toeplitz",
    rule: Rule::Exact(Formula::Diagonals),
    square: false,
    bias: false,
    stores: "one value per diagonal",
    doc: "`W[i, j] = v[i − j + O − 1]`: constant along each diagonal",
    map: Map::Toeplitz,
};

/// `W[i, j] = v[(j − i) mod N]`.
pub const CIRCULANT: Pattern = Pattern {
    key: "circulant",
    form: Form::Bare,
    ty: "Circulant",
    rule: Rule::Exact(Formula::Side),
    square: true,
    bias: false,
    stores: "one value per wrapped diagonal",
    doc: "`W[i, j] = v[(j − i) mod N]`: each row the previous one rotated",
    map: Map::Circulant,
};

/// `W[i, j] = v[i + j]`.
pub const HANKEL: Pattern = Pattern {
    key: "hankel",
    form: Form::Size,
    ty: "Hankel",
    rule: Rule::Exact(Formula::Diagonals),
    square: false,
    bias: false,
    stores: "one value per diagonal",
    doc: "`W[i, j] = v[i + j]`: constant along each anti-diagonal",
    map: Map::Hankel,
};

/// `W = Wᵀ`.
pub const SYMMETRIC: Pattern = Pattern {
    key: "symmetric",
    form: Form::Size,
    ty: "Symmetric",
    rule: Rule::Exact(Formula::Triangle),
    square: true,
    bias: false,
    stores: "its upper triangle",
    doc: "`W = Wᵀ`: the upper triangle, row by row",
    map: Map::Symmetric,
};

/// `W = −Wᵀ`.
pub const SKEW: Pattern = Pattern {
    key: "skew",
    form: Form::Size,
    ty: "Skew",
    rule: Rule::Exact(Formula::StrictTriangle),
    square: true,
    bias: false,
    stores: "its strict upper triangle",
    doc: "`W = −Wᵀ`: the strict upper triangle, row by row, negated below, a zero diagonal",
    map: Map::Skew,
};

/// Zeros below the diagonal.
pub const UPPER_TRIANGULAR: Pattern = Pattern {
    key: "upper_triangular",
    form: Form::Size,
    ty: "UpperTriangular",
    rule: Rule::Exact(Formula::Triangle),
    square: true,
    bias: false,
    stores: "its upper triangle",
    doc: "`W[i, j] = 0` for `i > j`: the upper triangle, row by row",
    map: Map::UpperTriangular,
};

/// Zeros above the diagonal.
pub const LOWER_TRIANGULAR: Pattern = Pattern {
    key: "lower_triangular",
    form: Form::Size,
    ty: "LowerTriangular",
    rule: Rule::Exact(Formula::Triangle),
    square: true,
    bias: false,
    stores: "its lower triangle",
    doc: "`W[i, j] = 0` for `i < j`: the lower triangle, column by column",
    map: Map::LowerTriangular,
};

/// `W[i, j] = v[i − j + b]` for `|i − j| ≤ b`.
pub const BANDED: Pattern = Pattern {
    key: "banded",
    form: Form::Size,
    ty: "Banded",
    rule: Rule::Band,
    square: false,
    bias: false,
    stores: "2·bandwidth + 1 diagonals",
    doc: "`W[i, j] = v[i − j + b]` for `|i − j| ≤ b`, a structural 0 elsewhere",
    map: Map::Banded { k: 0 },
};

/// `W[i, i] = v[i]`.
pub const DIAGONAL: Pattern = Pattern {
    key: "diagonal",
    form: Form::Bare,
    ty: "Diagonal",
    rule: Rule::Exact(Formula::Side),
    square: true,
    bias: false,
    stores: "one value per diagonal entry",
    doc: "`W[i, i] = v[i]`, a structural 0 elsewhere",
    map: Map::Diagonal,
};

/// The built-in pattern with attribute key `key`.
pub fn find(key: &str) -> Option<&'static Pattern> {
    PATTERNS.iter().find(|p| p.key == key)
}

/// Why stated sizes do not fit a weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The pattern needs a square weight.
    NotSquare,
    /// The stated size is not the formula's value (`None`: the formula overflows `usize`).
    Size {
        /// The formula.
        formula: Formula,
        /// Its value for this weight.
        want: Option<usize>,
        /// The size stated.
        stated: usize,
    },
    /// A band stores an odd number of diagonals.
    EvenBand,
    /// A band's bandwidth `k / 2` reaches past the shorter side.
    BandTooWide {
        /// The shorter side.
        side: usize,
    },
    /// A block side that is 0 or does not divide the weight's side.
    NotDividing {
        /// The stated side.
        part: usize,
        /// The weight's side it must divide.
        whole: usize,
        /// `true` for the inputs (`R` of `I`), `false` for the outputs (`C` of `O`).
        inputs: bool,
    },
}

impl Pattern {
    /// The first problem with using this pattern, with `stated` sizes (none, `[K]` or `[R, C]`),
    /// on an `i`×`o` weight.
    pub const fn problem(&self, i: usize, o: usize, stated: &[usize]) -> Option<Problem> {
        if self.square && i != o {
            return Some(Problem::NotSquare);
        }
        match self.rule {
            Rule::Exact(formula) => {
                if stated.is_empty() {
                    return None;
                }
                let want = formula.eval(i, o);
                match want {
                    Some(w) if w == stated[0] => None,
                    _ => Some(Problem::Size {
                        formula,
                        want,
                        stated: stated[0],
                    }),
                }
            }
            Rule::Band => {
                if stated.is_empty() {
                    return None;
                }
                let k = stated[0];
                let side = if i < o { i } else { o };
                if k.is_multiple_of(2) {
                    Some(Problem::EvenBand)
                } else if k / 2 >= side {
                    Some(Problem::BandTooWide { side })
                } else {
                    None
                }
            }
            Rule::Divides => {
                if stated.len() < 2 {
                    return None;
                }
                let (r, c) = (stated[0], stated[1]);
                if r == 0 || !i.is_multiple_of(r) {
                    Some(Problem::NotDividing {
                        part: r,
                        whole: i,
                        inputs: true,
                    })
                } else if c == 0 || !o.is_multiple_of(c) {
                    Some(Problem::NotDividing {
                        part: c,
                        whole: o,
                        inputs: false,
                    })
                } else {
                    None
                }
            }
        }
    }

    /// Panics, with the numbers, where [`Pattern::problem`] finds one: the runtime's `Tie` impls
    /// call it in an associated const, so a wrong size is a compile-time error however the pattern
    /// is used.
    #[track_caller]
    pub const fn assert_fits(&self, i: usize, o: usize, stated: &[usize]) {
        if let Some(problem) = self.problem(i, o, stated) {
            let message = self.message(problem, i, o);
            panic!("{}", message.as_str());
        }
    }

    /// `problem` in words, with the numbers: built at compile time, where `format!` is not
    /// available.
    pub const fn message(&self, problem: Problem, i: usize, o: usize) -> Message {
        let m = Message::new()
            .str("tied: `")
            .str(self.key)
            .str("` on a ")
            .num(i)
            .str("×")
            .num(o)
            .str(" weight: ");
        match problem {
            Problem::NotSquare => m.str("the weight must be square"),
            Problem::Size {
                formula,
                want,
                stated,
            } => {
                let m = m
                    .str("it stores ")
                    .str(self.stores)
                    .str(", ")
                    .str(formula.text())
                    .str(" = ");
                let m = match want {
                    Some(w) => m.num(w),
                    None => m.str("more than usize::MAX"),
                };
                m.str(" values, but the stated size is ").num(stated)
            }
            Problem::EvenBand => m.str("a band stores 2·bandwidth + 1 diagonals, an odd number"),
            Problem::BandTooWide { side } => m
                .str("the bandwidth must be below both sides, and the shorter is ")
                .num(side),
            Problem::NotDividing {
                part,
                whole,
                inputs,
            } => m
                .str(if inputs { "R = " } else { "C = " })
                .num(part)
                .str(" must divide the ")
                .str(if inputs { "inputs " } else { "outputs " })
                .num(whole)
                .str(" (and not be 0)"),
        }
    }
}

/// A tie pattern of your own, written once, framework-free: its name, stored length and index map
/// as functions of the weight's sizes.
///
/// `#[tied::burn::layer]` takes it as `pattern = T` (at literal or config sizes); on dfdx,
/// `tied::ByMap<T, K>` is its `Tie<I, O>` (`K` the stored length, a const as dfdx's shapes are),
/// so one definition serves both front ends:
///
/// ```ignore
/// struct Checkerboard;
///
/// impl tied::RuntimePattern for Checkerboard {
///     const NAME: &'static str = "checkerboard";
///     fn stored_len(_inputs: usize, _outputs: usize) -> usize {
///         2
///     }
///     fn index(_inputs: usize, _outputs: usize, i: usize, j: usize) -> Option<usize> {
///         Some((i + j) % 2)
///     }
/// }
///
/// // Burn: #[tied(pattern = Checkerboard, shape = [n, n])]
/// // dfdx: #[tied(pattern = tied::ByMap<Checkerboard, 2>)]
/// ```
///
/// The map is checked when the layer is built, with the same rules as a built-in's: every
/// position inside the stored values, every stored value used.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a pattern: `pattern = {Self}` on a Burn layer needs `tied::RuntimePattern`",
    label = "needs `impl tied::RuntimePattern for {Self}`",
    note = "write the pattern once, framework-free: its name, stored length and index map as functions of the sizes; on dfdx, `tied::ByMap<{Self}, K>` is its `Tie`"
)]
pub trait RuntimePattern {
    /// The pattern's name in messages and pictures.
    const NAME: &'static str;

    /// How many values an `inputs`×`outputs` weight stores.
    fn stored_len(inputs: usize, outputs: usize) -> usize;

    /// Which stored value `W[i, j]` of an `inputs`×`outputs` weight is (row-major in the stored
    /// values), or `None` for a structural zero.
    fn index(inputs: usize, outputs: usize, i: usize, j: usize) -> Option<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_types_are_unique() {
        for (n, a) in PATTERNS.iter().enumerate() {
            for b in &PATTERNS[n + 1..] {
                assert!(a.key != b.key && a.ty != b.ty, "{a:?} and {b:?}");
            }
        }
        assert_eq!(find("toeplitz"), Some(&TOEPLITZ));
        assert_eq!(find("nope"), None);
    }

    #[test]
    fn formulas() {
        assert_eq!(Formula::Diagonals.eval(4, 3), Some(6));
        assert_eq!(Formula::Diagonals.eval(0, 0), None);
        assert_eq!(Formula::Diagonals.eval(usize::MAX, 1), None);
        assert_eq!(Formula::Triangle.eval(4, 4), Some(10));
        assert_eq!(Formula::Triangle.eval(usize::MAX, usize::MAX), None);
        assert_eq!(Formula::StrictTriangle.eval(4, 4), Some(6));
        assert_eq!(Formula::StrictTriangle.eval(1, 1), Some(0));
        assert_eq!(Formula::StrictTriangle.eval(0, 0), None);
        assert_eq!(Formula::StrictTriangle.eval(usize::MAX, usize::MAX), None);
    }

    /// `skew`: `W = −Wᵀ` with a zero diagonal, the strict upper triangle row by row, every
    /// other map unsigned; a 1×1 skew stores nothing and is refused.
    #[test]
    fn skew_is_signed_and_antisymmetric() {
        let g = Geometry::new(&SKEW, 4, 4, &[6]).unwrap();
        assert!(g.signed());
        assert_eq!(g.stored_len(), 6);
        let rows: std::vec::Vec<_> = (0..3).map(|i| [0, 1, 2].map(|j| g.entry(i, j))).collect();
        assert_eq!(
            rows,
            [
                [None, Some((0, false)), Some((1, false))],
                [Some((0, true)), None, Some((3, false))],
                [Some((1, true)), Some((3, true)), None]
            ]
        );
        for n in [2, 3, 5, 8] {
            let g = Geometry::new(&SKEW, n, n, &[]).unwrap();
            for i in 0..n {
                assert_eq!(g.entry(i, i), None);
                for j in 0..n {
                    if i != j {
                        let (k, negated) = g.entry(i, j).unwrap();
                        assert_eq!(g.entry(j, i), Some((k, !negated)), "{n} W[{i}, {j}]");
                        assert_eq!(negated, i > j);
                        assert_eq!(g.index(i, j), Some(k));
                    }
                }
            }
        }
        for g in geometries(5, 5).into_iter().chain(geometries(3, 7)) {
            if g.map() != Map::Skew {
                assert!(!g.signed(), "{g:?}");
                for i in 0..g.inputs() {
                    for j in 0..g.outputs() {
                        assert_eq!(g.entry(i, j), g.index(i, j).map(|k| (k, false)));
                    }
                }
            }
        }
        let m = Geometry::new(&SKEW, 1, 1, &[]).unwrap_err();
        assert_eq!(
            m.message().as_str(),
            "tied: `skew` on a 1×1 weight: a weight needs at least one input and one output, and \
             a stored size that is at least 1 (a parameter) and fits in usize"
        );
        let problem = SKEW.problem(4, 4, &[10]).unwrap();
        assert_eq!(
            SKEW.message(problem, 4, 4).as_str(),
            "tied: `skew` on a 4×4 weight: it stores its strict upper triangle, N(N − 1)/2 = 6 \
             values, but the stated size is 10"
        );
        assert_eq!(SKEW.problem(4, 3, &[6]), Some(Problem::NotSquare));
        let picture = Picture::of_geometry(&Geometry::new(&SKEW, 3, 3, &[]).unwrap(), "W", "w");
        assert_eq!(
            std::format!("{picture}"),
            "W = [   0  w1  w2\n      -w1   0  w3\n      -w2 -w3   0 ]\n(3×3 skew: 3 stored \
             values instead of 9)"
        );
    }

    #[test]
    fn problems_say_the_numbers() {
        assert_eq!(TOEPLITZ.problem(4, 3, &[6]), None);
        let problem = TOEPLITZ.problem(4, 3, &[5]).unwrap();
        assert_eq!(
            TOEPLITZ.message(problem, 4, 3).as_str(),
            "tied: `toeplitz` on a 4×3 weight: it stores one value per diagonal, I + O − 1 = 6 \
             values, but the stated size is 5"
        );
        assert_eq!(SYMMETRIC.problem(4, 3, &[10]), Some(Problem::NotSquare));
        assert_eq!(BANDED.problem(5, 5, &[4]), Some(Problem::EvenBand));
        assert_eq!(
            BANDED.problem(3, 4, &[7]),
            Some(Problem::BandTooWide { side: 3 })
        );
        assert_eq!(
            TILE.problem(4, 6, &[3, 2]),
            Some(Problem::NotDividing {
                part: 3,
                whole: 4,
                inputs: true
            })
        );
        assert!(TILE.problem(4, 6, &[0, 2]).is_some());
        assert_eq!(DIAGONAL.problem(3, 3, &[]), None);
    }

    const _: () = TOEPLITZ.assert_fits(4, 3, &[6]);

    /// Every built-in on `i`×`o` with the sizes the shape gives, or `None` where it does not fit.
    fn geometries(i: usize, o: usize) -> std::vec::Vec<Geometry> {
        let mut all = std::vec![Geometry::dense(i, o).unwrap()];
        for p in PATTERNS {
            let stated: std::vec::Vec<usize> = match p.rule {
                Rule::Exact(_) => std::vec![],
                Rule::Band => std::vec![3],
                Rule::Divides => {
                    let r = (1..=i)
                        .rev()
                        .find(|r| i.is_multiple_of(*r) && *r < i)
                        .unwrap_or(1);
                    let c = (1..=o)
                        .rev()
                        .find(|c| o.is_multiple_of(*c) && *c < o)
                        .unwrap_or(1);
                    std::vec![r, c]
                }
            };
            if let Ok(g) = Geometry::new(p, i, o, &stated) {
                all.push(g);
            }
        }
        all
    }

    #[test]
    fn every_map_stays_in_range_and_uses_every_stored_value() {
        for (i, o) in [(1, 1), (2, 3), (4, 4), (5, 5), (6, 4), (3, 7), (8, 8)] {
            for g in geometries(i, o) {
                let mut used = std::vec![false; g.stored_len()];
                for a in 0..i {
                    for b in 0..o {
                        if let Some(k) = g.index(a, b) {
                            assert!(k < g.stored_len(), "{g:?} W[{a}, {b}] = {k}");
                            used[k] = true;
                        }
                    }
                }
                assert!(
                    used.iter().all(|u| *u),
                    "{g:?} leaves a stored value unused"
                );
                let [r, c] = g.stored_shape();
                assert_eq!(r * c, g.stored_len(), "{g:?}");
                assert_eq!(g.index(i, 0), None);
            }
        }
    }

    #[test]
    fn each_row_names_its_map_and_each_map_its_row() {
        for p in PATTERNS {
            assert_eq!(p.map.pattern(), Some(p), "{}", p.key);
        }
        assert_eq!(Map::Dense.pattern(), None);
    }

    /// A structure stores what the pattern's rule says, and its index map is the structure's
    /// arithmetic (checked here for folds and the packed triangle, where `Structure` says how).
    #[test]
    fn structures_store_what_the_rules_say() {
        for (i, o) in [(1, 1), (2, 3), (4, 4), (5, 5), (6, 4), (3, 7), (8, 8)] {
            for g in geometries(i, o) {
                let s = g.structure();
                assert_eq!(s.stored_len(i, o), Some(g.stored_len()), "{g:?}");
                assert_eq!(s.transposed().transposed(), s);
                match s {
                    Structure::Fold { rows, cols } => {
                        let at = |f: Fold, k: usize, len: usize| match f {
                            Fold::Mod(n) => k % n,
                            Fold::Div(n) => k / (len / n),
                        };
                        for a in 0..i {
                            for b in 0..o {
                                let want = at(rows, a, i) * cols.groups() + at(cols, b, o);
                                assert_eq!(g.index(a, b), Some(want), "{g:?}");
                            }
                        }
                    }
                    Structure::Packed(p) => {
                        for a in 0..i {
                            for b in 0..o {
                                let want = p.entry(o, a, b).map(|(k, _)| k);
                                assert_eq!(g.index(a, b), want, "{g:?}");
                            }
                            if p.diagonal {
                                assert_eq!(g.index(a, a), Some(packed_row_start(a, o)));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(Structure::Packed(Packing::SYMMETRIC).stored_len(3, 4), None);
    }

    #[test]
    fn check_map_finds_the_first_problem_and_says_it() {
        assert_eq!(check_map("ok", 2, 2, 2, |i, j| Some((i + j) % 2)), Ok(()));
        let out = check_map("oor", 1, 4, 3, |_, j| Some(j)).unwrap_err();
        assert_eq!(
            std::format!("{out}"),
            "pattern `oor` maps W[0, 3] to stored value 3, but only 3 values are stored (0..3)"
        );
        let unused = check_map("unused", 2, 2, 3, |_, j| Some(j)).unwrap_err();
        assert_eq!(
            std::format!("{}", unused.predicate()),
            "never uses stored value 2 of 3: it would be a parameter without a gradient"
        );
        assert_eq!(
            check_map("nothing", 2, 2, 0, |_, _| None),
            Err(MapError::NothingStored { pattern: "nothing" })
        );
    }

    #[test]
    fn maps_by_hand() {
        let g = Geometry::new(&TOEPLITZ, 3, 2, &[]).unwrap();
        assert_eq!(
            (g.stored_len(), g.index(0, 0), g.index(0, 1), g.index(2, 0)),
            (4, Some(1), Some(0), Some(3))
        );
        let g = Geometry::new(&SYMMETRIC, 3, 3, &[6]).unwrap();
        let rows: std::vec::Vec<_> = (0..3)
            .map(|i| [0, 1, 2].map(|j| g.index(i, j).unwrap()))
            .collect();
        assert_eq!(rows, [[0, 1, 2], [1, 3, 4], [2, 4, 5]]);
        let g = Geometry::new(&UPPER_TRIANGULAR, 3, 3, &[6]).unwrap();
        let rows: std::vec::Vec<_> = (0..3).map(|i| [0, 1, 2].map(|j| g.index(i, j))).collect();
        assert_eq!(
            rows,
            [
                [Some(0), Some(1), Some(2)],
                [None, Some(3), Some(4)],
                [None, None, Some(5)]
            ]
        );
        // The lower triangle column by column: `upper_triangular` transposed.
        let g = Geometry::new(&LOWER_TRIANGULAR, 3, 3, &[]).unwrap();
        let rows: std::vec::Vec<_> = (0..3).map(|i| [0, 1, 2].map(|j| g.index(i, j))).collect();
        assert_eq!(
            rows,
            [
                [Some(0), None, None],
                [Some(1), Some(3), None],
                [Some(2), Some(4), Some(5)]
            ]
        );
        let problem = UPPER_TRIANGULAR.problem(4, 4, &[9]).unwrap();
        assert_eq!(
            UPPER_TRIANGULAR.message(problem, 4, 4).as_str(),
            "tied: `upper_triangular` on a 4×4 weight: it stores its upper triangle, \
             N(N + 1)/2 = 10 values, but the stated size is 9"
        );
        let g = Geometry::new(&BANDED, 4, 3, &[3]).unwrap();
        assert_eq!(
            (g.index(0, 0), g.index(1, 0), g.index(0, 1), g.index(3, 0)),
            (Some(1), Some(2), Some(0), None)
        );
        let g = Geometry::new(&CIRCULANT, 3, 3, &[]).unwrap();
        assert_eq!((g.index(1, 0), g.index(0, 2)), (Some(2), Some(2)));
        let g = Geometry::new(&TILE, 4, 6, &[2, 3]).unwrap();
        assert_eq!((g.stored_shape(), g.index(3, 4)), ([2, 3], Some(4)));
        let g = Geometry::new(&BLOCK, 4, 6, &[2, 3]).unwrap();
        assert_eq!(g.index(3, 4), Some(5));
        assert_eq!(g.key(), "block");
        assert_eq!(Geometry::dense(2, 3).unwrap().index(1, 2), Some(5));
    }

    #[test]
    fn misfits_say_the_rule_and_the_numbers() {
        let m = Geometry::new(&TOEPLITZ, 4, 3, &[5]).unwrap_err();
        assert_eq!(
            m.message().as_str(),
            "tied: `toeplitz` on a 4×3 weight: it stores one value per diagonal, I + O − 1 = 6 \
             values, but the stated size is 5"
        );
        let m = Geometry::new(&TILE, 4, 6, &[3, 2]).unwrap_err();
        assert_eq!(
            m.message().as_str(),
            "tied: `tile` on a 4×6 weight: R = 3 must divide the inputs 4 (and not be 0)"
        );
        let m = Geometry::new(&TILE, 4, 6, &[2]).unwrap_err();
        assert_eq!(
            m.message().as_str(),
            "tied: `tile` takes two sizes, R and C (the stored block's shape), but 1 was stated"
        );
        let m = Geometry::new(&ROWS, 0, 6, &[]).unwrap_err();
        assert!(
            m.message().as_str().contains("0×6"),
            "{}",
            m.message().as_str()
        );
        assert!(Geometry::new(&CIRCULANT, 3, 4, &[]).is_err());
        assert!(Geometry::new(&BANDED, 4, 4, &[]).is_err());
        assert!(Geometry::dense(usize::MAX, 2).is_err());
        assert!(Geometry::new(&SYMMETRIC, usize::MAX, usize::MAX, &[]).is_err());
    }
}
