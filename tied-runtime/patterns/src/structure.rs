//! What each built-in map *is*, as arithmetic: the one description from which both front ends pick
//! a kernel (`tied_kernels::kernel_for`) and a lowering (Burn's portable ops).

/// How a side of `W` (its inputs or its outputs) folds onto a side of a stored matrix `V`: entry
/// `k` of a side of `len` entries reads row (or column) `group(k)` of `V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// `k mod g`: `V` repeated (tile).
    Mod(usize),
    /// `k / (len/g)`: each entry of `V` over a block of `len/g` (block; rows, cols and scalar,
    /// where `g` is the whole side or 1).
    Div(usize),
}

impl Fold {
    /// `g`: how many rows (or columns) of `V` this side reads.
    pub const fn groups(self) -> usize {
        match self {
            Fold::Mod(g) | Fold::Div(g) => g,
        }
    }
}

/// The correlations: one stored vector slid along the weight, `W[i, j] = v[shift(i, j)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// `W[i, j] = v[i − j + O − 1]`, `I + O − 1` values.
    Toeplitz,
    /// `W[i, j] = v[(j − i) mod O]`, `O` values.
    Circulant,
    /// `W[i, j] = v[i + j]`, `I + O − 1` values.
    Hankel,
}

/// The structure of a built-in map on an `I`×`O` weight: what a kernel or a lowering needs to
/// compute `x·W` without the index map (see [`Map::structure`](crate::Map::structure)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    /// No tie: `W` stored whole, `I`×`O`, row-major.
    Dense,
    /// `W[i, j] = V[rows(i), cols(j)]` with `V` stored `R`×`C` row-major, `R = rows.groups()`,
    /// `C = cols.groups()`: rows (`Div(I)`, `Div(1)`), cols (`Div(1)`, `Div(O)`), scalar
    /// (`Div(1)`, `Div(1)`), tile (`Mod(R)`, `Mod(C)`), block (`Div(R)`, `Div(C)`).
    Fold {
        /// How the inputs fold onto `V`'s rows.
        rows: Fold,
        /// How the outputs fold onto `V`'s columns.
        cols: Fold,
    },
    /// A correlation of each row of `x` with the stored vector.
    Shift(Shift),
    /// `W[i, j] = v[i − j + k/2]` where `0 ≤ i − j + k/2 < k`, a structural zero elsewhere.
    Band {
        /// The number of diagonals stored.
        k: usize,
    },
    /// `W[i, i] = v[i]` on a square weight, a structural zero elsewhere.
    Diagonal,
    /// A packed triangle on a square weight: `symmetric`, `skew`, `upper_triangular`,
    /// `lower_triangular` and their transposes ([`Packing`] says which).
    Packed(Packing),
}

/// How one stored triangle fills the other side of the diagonal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// The stored value.
    Plus,
    /// Its negation.
    Minus,
    /// A structural zero.
    Zero,
}

impl Sign {
    /// `+1`, `−1` or `0`.
    pub const fn value(self) -> i8 {
        match self {
            Sign::Plus => 1,
            Sign::Minus => -1,
            Sign::Zero => 0,
        }
    }
}

/// A packed triangle: the stored values are an upper triangle `U` of an `N`×`N` weight, row by
/// row, with its diagonal or without it (row `a` starts at [`Packing::row_start`]), and
/// `W[i, j] = above·U[i, j]` for `i < j`, `below·U[j, i]` for `i > j`, `U[i, i]` on the diagonal
/// when it is stored and a structural zero otherwise.
///
/// `lower_triangular` stores its lower triangle column by column, which is the upper triangle of
/// `Wᵀ` row by row: it is `upper_triangular` transposed, on the same stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packing {
    /// The sign of the entries above the diagonal.
    pub above: Sign,
    /// The sign of the entries below it.
    pub below: Sign,
    /// Whether the diagonal is stored (else it is a structural zero).
    pub diagonal: bool,
}

impl Packing {
    /// `W = Wᵀ`.
    pub const SYMMETRIC: Packing = Packing {
        above: Sign::Plus,
        below: Sign::Plus,
        diagonal: true,
    };
    /// `W = −Wᵀ`: a zero diagonal.
    pub const SKEW: Packing = Packing {
        above: Sign::Plus,
        below: Sign::Minus,
        diagonal: false,
    };
    /// Zeros below the diagonal.
    pub const UPPER: Packing = Packing {
        above: Sign::Plus,
        below: Sign::Zero,
        diagonal: true,
    };
    /// Zeros above the diagonal.
    pub const LOWER: Packing = Packing {
        above: Sign::Zero,
        below: Sign::Plus,
        diagonal: true,
    };

    /// The packing of `Wᵀ` on the same stored values: the two signs swapped.
    pub const fn transposed(self) -> Packing {
        Packing {
            above: self.below,
            below: self.above,
            diagonal: self.diagonal,
        }
    }

    /// How many values an `n`×`n` weight stores: `n(n + 1)/2` with the diagonal, `n(n − 1)/2`
    /// without it; `None` on overflow.
    pub const fn stored_len(self, n: usize) -> Option<usize> {
        let (a, b) = if self.diagonal {
            (n, n.checked_add(1))
        } else {
            (n, n.checked_sub(1))
        };
        match b {
            Some(b) => match a.checked_mul(b) {
                Some(twice) => Some(twice / 2),
                None => None,
            },
            None => Some(0),
        }
    }

    /// Where stored row `a` of an `n`×`n` weight starts.
    #[inline]
    pub const fn row_start(self, a: usize, n: usize) -> usize {
        if self.diagonal {
            packed_row_start(a, n)
        } else {
            strict_row_start(a, n)
        }
    }

    /// The stored position of `U[a, b]`, `a ≤ b` (`a < b` without the diagonal).
    #[inline]
    pub const fn at(self, a: usize, b: usize, n: usize) -> usize {
        self.row_start(a, n) + b - a - if self.diagonal { 0 } else { 1 }
    }

    /// `W[i, j]` of an `n`×`n` weight: its stored position and sign, or `None` for a structural
    /// zero.
    #[inline]
    pub const fn entry(self, n: usize, i: usize, j: usize) -> Option<(usize, Sign)> {
        if i == j {
            return if self.diagonal {
                Some((self.at(i, i, n), Sign::Plus))
            } else {
                None
            };
        }
        let (a, b, sign) = if i < j {
            (i, j, self.above)
        } else {
            (j, i, self.below)
        };
        match sign {
            Sign::Zero => None,
            sign => Some((self.at(a, b, n), sign)),
        }
    }
}

impl Structure {
    /// How many values this structure stores on an `inputs`×`outputs` weight; `None` where the
    /// sizes do not fit it (a packed or diagonal weight that is not square) or the count
    /// overflows `usize`.
    pub const fn stored_len(self, inputs: usize, outputs: usize) -> Option<usize> {
        match self {
            Structure::Dense => inputs.checked_mul(outputs),
            Structure::Fold { rows, cols } => rows.groups().checked_mul(cols.groups()),
            Structure::Shift(Shift::Toeplitz | Shift::Hankel) => {
                match inputs.checked_add(outputs) {
                    Some(sum) if sum > 0 => Some(sum - 1),
                    _ => None,
                }
            }
            Structure::Shift(Shift::Circulant) => Some(outputs),
            Structure::Band { k } => Some(k),
            Structure::Diagonal if inputs == outputs => Some(outputs),
            Structure::Packed(p) if inputs == outputs => p.stored_len(outputs),
            Structure::Diagonal | Structure::Packed(_) => None,
        }
    }

    /// The structure of `Wᵀ` (`O`×`I`) on the same stored values, read as it needs them: a fold
    /// swaps its sides and reads `Vᵀ`; a band, and a Toeplitz weight, read their values backwards;
    /// a circulant reads `v[(−m) mod N]`; a packed triangle swaps its signs (symmetric is its own
    /// transpose, upper triangular becomes lower); Hankel and diagonal weights are their own kind
    /// transposed (the last its own transpose); a dense weight is read by columns.
    pub const fn transposed(self) -> Structure {
        match self {
            Structure::Packed(p) => Structure::Packed(p.transposed()),
            Structure::Fold { rows, cols } => Structure::Fold {
                rows: cols,
                cols: rows,
            },
            other => other,
        }
    }
}

/// Where row `a` of an `n`×`n` packed upper triangle starts in the stored values: rows `0..a` hold
/// `n + (n − 1) + … + (n − a + 1)` values. Entry `(a, b)`, `a ≤ b`, is at
/// `packed_row_start(a, n) + b − a`.
#[inline]
pub const fn packed_row_start(a: usize, n: usize) -> usize {
    a * n - a * a.saturating_sub(1) / 2
}

/// Where row `a` of an `n`×`n` strict upper triangle (no diagonal) starts in the stored values:
/// rows `0..a` hold `(n − 1) + … + (n − a)` values. Entry `(a, b)`, `a < b`, is at
/// `strict_row_start(a, n) + b − a − 1`.
#[inline]
pub const fn strict_row_start(a: usize, n: usize) -> usize {
    packed_row_start(a, n.saturating_sub(1))
}
