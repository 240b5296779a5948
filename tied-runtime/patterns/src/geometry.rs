//! Each built-in pattern's index map, with runtime sizes: the one definition that the dfdx `Tie`
//! impls (sizes from const generics) and the Burn lowerings (sizes from a config) both call.

use crate::{Fold, Message, Packing, Pattern, Problem, Rule, Shift, Sign, Structure};

/// Which built-in map fills the weight, with the sizes the map needs beyond `I` and `O`.
///
/// Each [`Pattern`] row names its map (`Pattern::map`, sizes left 0 where the attribute states
/// them); [`Map::pattern`] is the way back; [`Map::structure`] is what kernels and lowerings read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    /// No tie: `W[i, j] = w[i·O + j]`, the weight stored `I`×`O`, row-major.
    Dense,
    /// `W[i, j] = w[i]`.
    Rows,
    /// `W[i, j] = w[j]`.
    Cols,
    /// `W[i, j] = w`.
    Scalar,
    /// `W[i, j] = V[i mod r, j mod c]`, `V` stored `r`×`c`.
    Tile {
        /// Rows of the stored block.
        r: usize,
        /// Columns of the stored block.
        c: usize,
    },
    /// `W[i, j] = V[i / (I/r), j / (O/c)]`, `V` stored `r`×`c`.
    Block {
        /// Rows of the stored values.
        r: usize,
        /// Columns of the stored values.
        c: usize,
    },
    /// `W[i, j] = v[i − j + O − 1]`.
    Toeplitz,
    /// `W[i, j] = v[(j − i) mod N]`.
    Circulant,
    /// `W[i, j] = v[i + j]`.
    Hankel,
    /// `W = Wᵀ`: the upper triangle stored row by row.
    Symmetric,
    /// `W = −Wᵀ`: the strict upper triangle stored row by row, negated below the diagonal, a
    /// structural zero on it.
    Skew,
    /// Zeros below the diagonal: the upper triangle stored row by row.
    UpperTriangular,
    /// Zeros above the diagonal: the lower triangle stored column by column.
    LowerTriangular,
    /// `W[i, j] = v[i − j + k/2]` where `|i − j| ≤ k/2`, a structural zero elsewhere.
    Banded {
        /// The number of diagonals stored, `2·bandwidth + 1`.
        k: usize,
    },
    /// `W[i, i] = v[i]`, a structural zero elsewhere.
    Diagonal,
}

impl Map {
    /// The position, in the stored values (row-major), of `W[i, j]` for an `inputs`×`outputs`
    /// weight, or `None` for a structural zero.
    ///
    /// No checks: the sizes must fit the pattern ([`Geometry::new`] checks them; the dfdx `Tie`
    /// impls assert them at compile time). With the sizes known at the call (const generics),
    /// the `match` folds away and this is the bare arithmetic.
    #[inline]
    pub const fn index(self, inputs: usize, outputs: usize, i: usize, j: usize) -> Option<usize> {
        match self {
            Map::Dense => Some(i * outputs + j),
            Map::Rows => Some(i),
            Map::Cols => Some(j),
            Map::Scalar => Some(0),
            Map::Tile { r, c } => Some((i % r) * c + j % c),
            Map::Block { r, c } => Some((i / (inputs / r)) * c + j / (outputs / c)),
            Map::Toeplitz => Some(i + outputs - 1 - j),
            Map::Circulant => Some((j + outputs - i % outputs) % outputs),
            Map::Hankel => Some(i + j),
            Map::Symmetric => Some(Packing::SYMMETRIC.at(
                if i <= j { i } else { j },
                if i <= j { j } else { i },
                outputs,
            )),
            Map::Skew | Map::UpperTriangular | Map::LowerTriangular => {
                match self.entry(inputs, outputs, i, j) {
                    Some((k, _)) => Some(k),
                    None => None,
                }
            }
            Map::Banded { k } => match (i + k / 2).checked_sub(j) {
                Some(d) if d < k => Some(d),
                _ => None,
            },
            Map::Diagonal => {
                if i == j {
                    Some(i)
                } else {
                    None
                }
            }
        }
    }

    /// `W[i, j]` of an `inputs`×`outputs` weight as a signed tie: its stored position and whether
    /// it is that value negated (`true` only for `skew`, below its diagonal), or `None` for a
    /// structural zero. [`Map::index`] is its position.
    ///
    /// No checks, as for [`Map::index`].
    #[inline]
    pub const fn entry(
        self,
        inputs: usize,
        outputs: usize,
        i: usize,
        j: usize,
    ) -> Option<(usize, bool)> {
        match self {
            Map::Skew | Map::UpperTriangular | Map::LowerTriangular => {
                match self.structure(inputs, outputs) {
                    Structure::Packed(p) => match p.entry(outputs, i, j) {
                        Some((k, sign)) => Some((k, matches!(sign, Sign::Minus))),
                        None => None,
                    },
                    _ => None,
                }
            }
            _ => match self.index(inputs, outputs, i, j) {
                Some(k) => Some((k, false)),
                None => None,
            },
        }
    }

    /// Whether some entry of this map is a stored value negated (`skew`): the front ends then
    /// gather with signs, and decline their unsigned tables.
    pub const fn signed(self) -> bool {
        matches!(self, Map::Skew)
    }

    /// The built-in pattern of this map (`None` for [`Map::Dense`], which is no pattern).
    pub const fn pattern(self) -> Option<&'static Pattern> {
        Some(match self {
            Map::Dense => return None,
            Map::Rows => &crate::ROWS,
            Map::Cols => &crate::COLS,
            Map::Scalar => &crate::SCALAR,
            Map::Tile { .. } => &crate::TILE,
            Map::Block { .. } => &crate::BLOCK,
            Map::Toeplitz => &crate::TOEPLITZ,
            Map::Circulant => &crate::CIRCULANT,
            Map::Hankel => &crate::HANKEL,
            Map::Symmetric => &crate::SYMMETRIC,
            Map::Skew => &crate::SKEW,
            Map::UpperTriangular => &crate::UPPER_TRIANGULAR,
            Map::LowerTriangular => &crate::LOWER_TRIANGULAR,
            Map::Banded { .. } => &crate::BANDED,
            Map::Diagonal => &crate::DIAGONAL,
        })
    }

    /// The map's structure on an `inputs`×`outputs` weight: what both front ends read to pick a
    /// kernel and a lowering.
    pub const fn structure(self, inputs: usize, outputs: usize) -> Structure {
        match self {
            Map::Dense => Structure::Dense,
            Map::Rows => Structure::Fold {
                rows: Fold::Div(inputs),
                cols: Fold::Div(1),
            },
            Map::Cols => Structure::Fold {
                rows: Fold::Div(1),
                cols: Fold::Div(outputs),
            },
            Map::Scalar => Structure::Fold {
                rows: Fold::Div(1),
                cols: Fold::Div(1),
            },
            Map::Tile { r, c } => Structure::Fold {
                rows: Fold::Mod(r),
                cols: Fold::Mod(c),
            },
            Map::Block { r, c } => Structure::Fold {
                rows: Fold::Div(r),
                cols: Fold::Div(c),
            },
            Map::Toeplitz => Structure::Shift(Shift::Toeplitz),
            Map::Circulant => Structure::Shift(Shift::Circulant),
            Map::Hankel => Structure::Shift(Shift::Hankel),
            Map::Symmetric => Structure::Packed(Packing::SYMMETRIC),
            Map::Skew => Structure::Packed(Packing::SKEW),
            Map::UpperTriangular => Structure::Packed(Packing::UPPER),
            Map::LowerTriangular => Structure::Packed(Packing::LOWER),
            Map::Banded { k } => Structure::Band { k },
            Map::Diagonal => Structure::Diagonal,
        }
    }

    /// The same map with the sizes stated in the attribute (`[R, C]` for `tile` and `block`,
    /// `[K]` for `banded`); `None` where too few are stated.
    const fn with_sizes(self, stated: &[usize]) -> Option<Map> {
        Some(match (self, stated) {
            (Map::Tile { .. }, [r, c, ..]) => Map::Tile { r: *r, c: *c },
            (Map::Block { .. }, [r, c, ..]) => Map::Block { r: *r, c: *c },
            (Map::Banded { .. }, [k, ..]) => Map::Banded { k: *k },
            (Map::Tile { .. } | Map::Block { .. } | Map::Banded { .. }, _) => return None,
            (map, _) => map,
        })
    }
}

/// Why a [`Geometry`] cannot be made: the pattern's rule with the numbers, or a size that no
/// pattern can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfit {
    /// The stated sizes break the pattern's rule ([`Pattern::problem`]).
    Rule {
        /// The pattern.
        pattern: &'static Pattern,
        /// What is wrong.
        problem: Problem,
        /// The weight's inputs.
        inputs: usize,
        /// The weight's outputs.
        outputs: usize,
    },
    /// Too few or too many sizes stated: `tile` and `block` take `R, C`, `banded` takes `K`, the
    /// others at most their stored length.
    Sizes {
        /// The pattern.
        pattern: &'static Pattern,
        /// How many sizes were stated.
        got: usize,
    },
    /// A `Pattern` that is not one of [`PATTERNS`](crate::PATTERNS): it has no built-in map.
    NotBuiltIn {
        /// Its key.
        key: &'static str,
    },
    /// The weight has no entries (`I` or `O` is 0), its pattern stores nothing at this size (a
    /// 1×1 `skew`, whose only entry is its zero diagonal), or its stored size overflows `usize`.
    Empty {
        /// The pattern's key (`"dense"` for no tie).
        key: &'static str,
        /// The weight's inputs.
        inputs: usize,
        /// The weight's outputs.
        outputs: usize,
    },
}

impl Misfit {
    /// The misfit in words, with the numbers: the same sentence as the compile-time check of the
    /// dfdx runtime and the macro's, for a rule.
    pub const fn message(&self) -> Message {
        match *self {
            Misfit::Rule {
                pattern,
                problem,
                inputs,
                outputs,
            } => pattern.message(problem, inputs, outputs),
            Misfit::Sizes { pattern, got } => Message::new()
                .str("tied: `")
                .str(pattern.key)
                .str(match pattern.rule {
                    Rule::Divides => "` takes two sizes, R and C (the stored block's shape)",
                    Rule::Band => "` takes one size, K = 2·bandwidth + 1 (the stored diagonals)",
                    Rule::Exact(_) => "` takes at most one size (the stored length)",
                })
                .str(", but ")
                .num(got)
                .str(if got == 1 { " was" } else { " were" })
                .str(" stated"),
            Misfit::NotBuiltIn { key } => Message::new()
                .str("tied: `")
                .str(key)
                .str("` is not a built-in pattern"),
            Misfit::Empty {
                key,
                inputs,
                outputs,
            } => Message::new()
                .str("tied: `")
                .str(key)
                .str("` on a ")
                .num(inputs)
                .str("×")
                .num(outputs)
                .str(
                    " weight: a weight needs at least one input and one output, and a stored \
                      size that is at least 1 (a parameter) and fits in usize",
                ),
        }
    }
}

/// A built-in pattern (or no tie) on an `I`×`O` weight whose sizes have been checked: its index
/// map, stored length and stored shape, all at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    map: Map,
    inputs: usize,
    outputs: usize,
    stored: usize,
}

impl Geometry {
    /// `pattern` on an `inputs`×`outputs` weight, with `stated` sizes (none, `[K]` or `[R, C]`, as
    /// in the attribute; `K` may be left out where the shape gives it, `R, C` may not), checked
    /// against the pattern's rule.
    pub const fn new(
        pattern: &'static Pattern,
        inputs: usize,
        outputs: usize,
        stated: &[usize],
    ) -> Result<Geometry, Misfit> {
        if inputs == 0 || outputs == 0 {
            return Err(Misfit::Empty {
                key: pattern.key,
                inputs,
                outputs,
            });
        }
        if let Some(problem) = pattern.problem(inputs, outputs, stated) {
            return Err(Misfit::Rule {
                pattern,
                problem,
                inputs,
                outputs,
            });
        }
        let (least, most) = match pattern.rule {
            Rule::Exact(_) => (0, 1),
            Rule::Band => (1, 1),
            Rule::Divides => (2, 2),
        };
        if stated.len() < least || stated.len() > most {
            return Err(Misfit::Sizes {
                pattern,
                got: stated.len(),
            });
        }
        let map = match pattern.map.with_sizes(stated) {
            Some(Map::Dense) => return Err(Misfit::NotBuiltIn { key: pattern.key }),
            Some(map) => map,
            None => {
                return Err(Misfit::Sizes {
                    pattern,
                    got: stated.len(),
                })
            }
        };
        let stored = match map {
            Map::Tile { r, c } | Map::Block { r, c } => r.checked_mul(c),
            Map::Banded { k } => Some(k),
            _ => match pattern.rule {
                Rule::Exact(formula) => formula.eval(inputs, outputs),
                _ => None,
            },
        };
        match stored {
            // Nothing stored (a 1×1 `skew`): a weight with no parameter.
            Some(stored) if stored > 0 => Ok(Geometry {
                map,
                inputs,
                outputs,
                stored,
            }),
            _ => Err(Misfit::Empty {
                key: pattern.key,
                inputs,
                outputs,
            }),
        }
    }

    /// No tie: every entry its own stored value, stored `inputs`×`outputs`.
    pub const fn dense(inputs: usize, outputs: usize) -> Result<Geometry, Misfit> {
        match inputs.checked_mul(outputs) {
            Some(stored) if stored > 0 => Ok(Geometry {
                map: Map::Dense,
                inputs,
                outputs,
                stored,
            }),
            _ => Err(Misfit::Empty {
                key: "dense",
                inputs,
                outputs,
            }),
        }
    }

    /// The map.
    pub const fn map(&self) -> Map {
        self.map
    }

    /// The map's structure at these sizes ([`Map::structure`]).
    pub const fn structure(&self) -> Structure {
        self.map.structure(self.inputs, self.outputs)
    }

    /// The built-in pattern (`None` for no tie).
    pub const fn pattern(&self) -> Option<&'static Pattern> {
        self.map.pattern()
    }

    /// The pattern's key, `"dense"` for no tie.
    pub const fn key(&self) -> &'static str {
        match self.map.pattern() {
            Some(p) => p.key,
            None => "dense",
        }
    }

    /// `I`: the weight's inputs (rows).
    pub const fn inputs(&self) -> usize {
        self.inputs
    }

    /// `O`: the weight's outputs (columns).
    pub const fn outputs(&self) -> usize {
        self.outputs
    }

    /// How many values are stored.
    pub const fn stored_len(&self) -> usize {
        self.stored
    }

    /// The stored tensor's shape: `[R, C]` for `tile` and `block`, `[I, O]` for no tie (both
    /// row-major), and `[len, 1]` for the patterns that store a vector (a rank-1 tensor).
    pub const fn stored_shape(&self) -> [usize; 2] {
        match self.map {
            Map::Tile { r, c } | Map::Block { r, c } => [r, c],
            Map::Dense => [self.inputs, self.outputs],
            _ => [self.stored, 1],
        }
    }

    /// Whether the stored values are a matrix (`tile`, `block`, no tie) rather than a vector.
    pub const fn stores_matrix(&self) -> bool {
        matches!(self.map, Map::Tile { .. } | Map::Block { .. } | Map::Dense)
    }

    /// The position of `W[i, j]` in the stored values, or `None` for a structural zero (and for
    /// `(i, j)` outside the weight).
    #[inline]
    pub const fn index(&self, i: usize, j: usize) -> Option<usize> {
        if i >= self.inputs || j >= self.outputs {
            return None;
        }
        self.map.index(self.inputs, self.outputs, i, j)
    }

    /// `W[i, j]` as a signed tie ([`Map::entry`]): its stored position and whether it is negated,
    /// or `None` for a structural zero (and for `(i, j)` outside the weight).
    #[inline]
    pub const fn entry(&self, i: usize, j: usize) -> Option<(usize, bool)> {
        if i >= self.inputs || j >= self.outputs {
            return None;
        }
        self.map.entry(self.inputs, self.outputs, i, j)
    }

    /// Whether some entry is a stored value negated ([`Map::signed`]).
    pub const fn signed(&self) -> bool {
        self.map.signed()
    }
}
