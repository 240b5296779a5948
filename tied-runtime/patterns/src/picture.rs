//! Pictures of tie patterns: the effective weight drawn as a grid of stored-value labels, the way the
//! forum thread draws it (`W = [w1 w1 w1 w1 / w2 ...]`). Framework-free: the dfdx runtime draws a
//! `Tie` type's map with it, the Burn runtime a [`Geometry`](crate::Geometry)'s.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The effective weight of a tie drawn as labels of its stored values (`w1`, `w2`, ...; `0` for a
/// structural zero).
///
/// `Display` prints the grid; large weights are elided to their corners with `…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    name: String,
    pattern: &'static str,
    rows: usize,
    cols: usize,
    labels: Vec<String>,
    stored: usize,
}

/// How many leading and trailing rows/columns a large picture keeps.
const EDGE: usize = 4;

impl Picture {
    /// The picture of an `rows`×`cols` weight whose entry `W[i, j]` is stored value `index(i, j)`
    /// (`None`: a structural zero), for a weight called `name` of pattern `pattern` with `stored`
    /// values, labelling stored value `k` as `{label}{k + 1}`.
    pub fn from_index(
        name: &str,
        label: &str,
        pattern: &'static str,
        shape: (usize, usize),
        stored: usize,
        index: impl Fn(usize, usize) -> Option<usize>,
    ) -> Self {
        Picture::from_entry(name, label, pattern, shape, stored, |i, j| {
            index(i, j).map(|k| (k, false))
        })
    }

    /// [`Picture::from_index`] for a signed tie: `entry(i, j)` is the stored position and whether
    /// `W[i, j]` is that value negated, drawn `-{label}{k + 1}` (`skew` below its diagonal).
    pub fn from_entry(
        name: &str,
        label: &str,
        pattern: &'static str,
        (rows, cols): (usize, usize),
        stored: usize,
        entry: impl Fn(usize, usize) -> Option<(usize, bool)>,
    ) -> Self {
        let mut labels = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                labels.push(match entry(i, j) {
                    Some((k, false)) => format!("{label}{}", k + 1),
                    Some((k, true)) => format!("-{label}{}", k + 1),
                    None => "0".to_owned(),
                });
            }
        }
        Picture {
            name: name.to_owned(),
            pattern,
            rows,
            cols,
            labels,
            stored,
        }
    }

    /// The picture of a checked geometry (a built-in pattern at its sizes).
    pub fn of_geometry(geometry: &crate::Geometry, name: &str, label: &str) -> Self {
        Picture::from_entry(
            name,
            label,
            geometry.key(),
            (geometry.inputs(), geometry.outputs()),
            geometry.stored_len(),
            |i, j| geometry.entry(i, j),
        )
    }

    /// The same picture under another name, e.g. `W` as the forum thread writes it.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// The label of effective entry `W[i, j]`.
    pub fn label(&self, i: usize, j: usize) -> &str {
        &self.labels[i * self.cols + j]
    }

    /// Rows × columns of the effective weight.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// How many distinct values are stored.
    pub fn stored(&self) -> usize {
        self.stored
    }

    /// The pattern's name (`rows`, `dense`, ...).
    pub fn pattern(&self) -> &'static str {
        self.pattern
    }
}

/// The indices drawn along one axis of `len`: all, or the first and last [`EDGE`] with a gap.
fn shown(len: usize) -> Vec<Option<usize>> {
    if len <= 2 * EDGE + 1 {
        (0..len).map(Some).collect()
    } else {
        (0..EDGE)
            .map(Some)
            .chain(core::iter::once(None))
            .chain((len - EDGE..len).map(Some))
            .collect()
    }
}

impl fmt::Display for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .labels
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(1)
            .max(1);
        let head = format!("{} = [ ", self.name);
        let indent = " ".repeat(head.chars().count());
        let rows = shown(self.rows);
        let cols = shown(self.cols);
        if rows.is_empty() || cols.is_empty() {
            f.write_str(&head)?;
            f.write_str("]")?;
        }
        for (r, row) in rows.iter().enumerate() {
            f.write_str(if r == 0 { &head } else { &indent })?;
            let cells: Vec<String> = cols
                .iter()
                .map(|col| match (row, col) {
                    (Some(i), Some(j)) => format!("{:>width$}", self.label(*i, *j)),
                    _ => format!("{:>width$}", "…"),
                })
                .collect();
            f.write_str(&cells.join(" "))?;
            if r + 1 == rows.len() {
                f.write_str(" ]")?;
            } else {
                f.write_str("\n")?;
            }
        }
        write!(
            f,
            "\n({}×{} {}: {} stored values instead of {})",
            self.rows,
            self.cols,
            self.pattern,
            self.stored,
            self.rows * self.cols
        )
    }
}
