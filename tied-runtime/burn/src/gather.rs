//! The gather lowering: `W` gathered from the stored values through an index map, then a dense
//! `matmul`. It serves `symmetric`, any pattern without a structure-aware lowering, and the
//! patterns users write themselves.

use burn::tensor::{Device, Int, Tensor, TensorData};
use tied_patterns::MapError;

use crate::Error;

/// A pattern given by its index map, with runtime sizes: which stored value each effective entry
/// `W[i, j]` is.
///
/// Implemented by [`tied_patterns::Geometry`] (every built-in) and [`FnMap`] (a closure); a user
/// pattern implements it once and gets the [`GatherTable`] lowering.
pub trait IndexMap {
    /// How many values are stored.
    fn stored_len(&self) -> usize;

    /// The position, in the stored values (row-major), of `W[i, j]`, or `None` for a structural
    /// zero.
    fn index(&self, i: usize, j: usize) -> Option<usize>;

    /// Whether `W[i, j]` is its stored value negated (a signed tie: `skew` below its diagonal).
    /// The provided version says no.
    fn negated(&self, i: usize, j: usize) -> bool {
        let _ = (i, j);
        false
    }
}

impl IndexMap for tied_patterns::Geometry {
    fn stored_len(&self) -> usize {
        tied_patterns::Geometry::stored_len(self)
    }

    fn index(&self, i: usize, j: usize) -> Option<usize> {
        tied_patterns::Geometry::index(self, i, j)
    }

    fn negated(&self, i: usize, j: usize) -> bool {
        matches!(tied_patterns::Geometry::entry(self, i, j), Some((_, true)))
    }
}

/// An [`IndexMap`] from a closure: `FnMap::new(2, |i, j| Some((i + j) % 2))` is a checkerboard.
#[derive(Clone, Copy)]
pub struct FnMap<F> {
    stored_len: usize,
    index: F,
}

impl<F: Fn(usize, usize) -> Option<usize>> FnMap<F> {
    /// `stored_len` values, `W[i, j]` the value `index(i, j)`.
    pub fn new(stored_len: usize, index: F) -> Self {
        FnMap { stored_len, index }
    }
}

impl<F> core::fmt::Debug for FnMap<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FnMap")
            .field("stored_len", &self.stored_len)
            .finish_non_exhaustive()
    }
}

impl<F: Fn(usize, usize) -> Option<usize>> IndexMap for FnMap<F> {
    fn stored_len(&self) -> usize {
        self.stored_len
    }

    fn index(&self, i: usize, j: usize) -> Option<usize> {
        (self.index)(i, j)
    }
}

/// An index map's table on one device: an `Int` tensor of `I·O` positions, structural zeros
/// pointing one past the stored values (at a zero appended when `W` is gathered), and a negated
/// entry of stored value `k` (a signed tie, `skew`) at `stored_len + 1 + k`, in the negated
/// values appended after that zero. Build it once per weight and device; it is checked when
/// built.
///
/// Gathering is Burn's `select`, whose backward adds the gradients of repeated indices: a stored
/// value's gradient is the sum over all its copies.
#[derive(Debug, Clone)]
pub struct GatherTable {
    inputs: usize,
    outputs: usize,
    stored_len: usize,
    has_zeros: bool,
    has_negated: bool,
    table: Tensor<1, Int>,
}

/// A map's table on the host ([`checked_table`]): `I·O` positions row-major into the stored
/// values, then a zero, then the stored values negated.
pub(crate) struct HostTable {
    /// The positions.
    pub(crate) table: Vec<i64>,
    /// Whether some entry is a structural zero (at `stored_len`).
    pub(crate) has_zeros: bool,
    /// Whether some entry is a negated value (`k` at `stored_len + 1 + k`).
    pub(crate) has_negated: bool,
}

/// `map`'s table on the host, `I·O` positions row-major (`stored_len` for a structural zero,
/// `stored_len + 1 + k` for stored value `k` negated); or why the map is not a pattern: a
/// position out of range, a stored value never used, nothing stored.
pub(crate) fn checked_table<M: IndexMap + ?Sized>(
    map: &M,
    inputs: usize,
    outputs: usize,
) -> Result<HostTable, Error> {
    let stored = map.stored_len();
    let entries = inputs.checked_mul(outputs).unwrap_or(0);
    let empty = Error::Empty {
        inputs,
        outputs,
        stored,
    };
    if entries == 0 || i64::try_from(entries).is_err() {
        return Err(empty);
    }
    let mut table = Vec::with_capacity(entries);
    let mut has_zeros = false;
    let mut has_negated = false;
    // The check both front ends run (`tied_patterns::check_map`), building the table on the way.
    let checked = tied_patterns::check_map("", inputs, outputs, stored, |i, j| {
        let index = map.index(i, j);
        match index {
            // A negated position past the range is left to the check to refuse.
            Some(k) if k < stored && map.negated(i, j) => {
                has_negated = true;
                table.push((stored + 1 + k) as i64);
            }
            Some(k) => table.push(k as i64),
            None => {
                has_zeros = true;
                table.push(stored as i64);
            }
        }
        index
    });
    match checked {
        Ok(()) => Ok(HostTable {
            table,
            has_zeros,
            has_negated,
        }),
        Err(MapError::OutOfRange {
            i,
            j,
            index,
            stored,
            ..
        }) => Err(Error::OutOfRange {
            i,
            j,
            index,
            stored,
        }),
        Err(MapError::Unused { index, stored, .. }) => Err(Error::Unused { index, stored }),
        Err(MapError::NothingStored { .. }) => Err(empty),
    }
}

impl GatherTable {
    /// Checks `map` on an `inputs`×`outputs` weight (every position in range, every stored value
    /// used, something stored) and builds its table on `device`.
    pub fn new<M: IndexMap + ?Sized>(
        map: &M,
        inputs: usize,
        outputs: usize,
        device: &Device,
    ) -> Result<GatherTable, Error> {
        let HostTable {
            table,
            has_zeros,
            has_negated,
        } = checked_table(map, inputs, outputs)?;
        let entries = table.len();
        let table = Tensor::from_data(TensorData::new(table, [entries]), device);
        Ok(GatherTable {
            inputs,
            outputs,
            stored_len: map.stored_len(),
            has_zeros,
            has_negated,
            table,
        })
    }

    /// The device the table lives on.
    pub fn device(&self) -> Device {
        self.table.device()
    }

    /// `I`.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// `O`.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// How many values are stored.
    pub fn stored_len(&self) -> usize {
        self.stored_len
    }

    /// The table, `I·O` positions row-major (`stored_len` for a structural zero,
    /// `stored_len + 1 + k` for stored value `k` negated).
    pub fn table(&self) -> &Tensor<1, Int> {
        &self.table
    }

    /// The stored values, flat, with a zero appended where the map has structural zeros, and
    /// the values negated after it where it has negated entries: one `select` then gathers a
    /// signed `W`, and its backward adds a negated copy's gradient negated.
    fn source(&self, stored: Tensor<1>) -> Tensor<1> {
        if self.has_zeros || self.has_negated {
            let zero = Tensor::zeros([1], (&stored.device(), stored.dtype()));
            let mut parts = vec![stored.clone(), zero];
            if self.has_negated {
                parts.push(stored.neg());
            }
            Tensor::cat(parts, 0)
        } else {
            stored
        }
    }

    /// The effective weight `W` (I×O), gathered from `stored` (`stored_len` values, flat).
    pub fn effective(&self, stored: Tensor<1>) -> Tensor<2> {
        self.source(stored)
            .select(0, self.table.clone())
            .reshape([self.inputs, self.outputs])
    }

    /// `y = x·W` for `x` n×I.
    pub fn forward(&self, x: Tensor<2>, stored: Tensor<1>) -> Tensor<2> {
        x.matmul(self.effective(stored))
    }

    /// `y = x·Wᵀ` for `x` n×O.
    pub fn forward_transposed(&self, x: Tensor<2>, stored: Tensor<1>) -> Tensor<2> {
        x.matmul(self.effective(stored).transpose())
    }

    /// Rows `ids` of `W` (m ids, each below `I`): m×O, gathered without building `W`.
    pub fn lookup(&self, ids: Tensor<1, Int>, stored: Tensor<1>) -> Tensor<2> {
        let m = ids.dims()[0];
        let rows = self
            .table
            .clone()
            .reshape([self.inputs, self.outputs])
            .select(0, ids)
            .reshape([m * self.outputs]);
        self.source(stored)
            .select(0, rows)
            .reshape([m, self.outputs])
    }
}
