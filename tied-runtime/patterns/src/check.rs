//! The check of an index map (a pattern of the user's, or any map given as a function): the one
//! both front ends run, with its messages.

use alloc::vec;
use core::fmt;

/// Why an index map cannot be a pattern: the first problem [`check_map`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// `index(i, j)` is `Some(k)` with `k` past the stored values.
    OutOfRange {
        /// The pattern's name.
        pattern: &'static str,
        /// The entry of `W`.
        i: usize,
        /// The entry of `W`.
        j: usize,
        /// The position the pattern gave.
        index: usize,
        /// How many values are stored.
        stored: usize,
    },
    /// No stored values at all: the weight would have no parameter.
    NothingStored {
        /// The pattern's name.
        pattern: &'static str,
    },
    /// A stored value no entry of `W` uses: it would be a parameter with no gradient.
    Unused {
        /// The pattern's name.
        pattern: &'static str,
        /// The unused stored value.
        index: usize,
        /// How many values are stored.
        stored: usize,
    },
}

impl MapError {
    /// The pattern's name.
    pub fn pattern(&self) -> &'static str {
        match *self {
            MapError::OutOfRange { pattern, .. }
            | MapError::NothingStored { pattern }
            | MapError::Unused { pattern, .. } => pattern,
        }
    }

    /// The message after its subject (`maps W[2, 0] to stored value 2, ...`): what [`MapError`]'s
    /// `Display` says after "pattern `name`", for a front end that words the subject itself (a
    /// map without a name).
    pub fn predicate(&self) -> impl fmt::Display + '_ {
        Predicate(self)
    }
}

struct Predicate<'a>(&'a MapError);

impl fmt::Display for Predicate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            MapError::OutOfRange {
                i,
                j,
                index,
                stored,
                ..
            } => write!(
                f,
                "maps W[{i}, {j}] to stored value {index}, but only {stored} values are stored \
                 (0..{stored})"
            ),
            MapError::NothingStored { .. } => f.write_str(
                "stores no values (its `Stored` shape has 0 elements): a tied weight needs at \
                 least one parameter",
            ),
            MapError::Unused { index, stored, .. } => write!(
                f,
                "never uses stored value {index} of {stored}: it would be a parameter without a \
                 gradient"
            ),
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pattern `{}` {}", self.pattern(), self.predicate())
    }
}

impl core::error::Error for MapError {}

/// Checks the index map `index` of the pattern `pattern` on an `inputs`×`outputs` weight with
/// `stored` values: something stored, every position below `stored`, every stored value used.
/// The map is called once per entry, row by row (a caller may build its table on the way).
pub fn check_map(
    pattern: &'static str,
    inputs: usize,
    outputs: usize,
    stored: usize,
    mut index: impl FnMut(usize, usize) -> Option<usize>,
) -> Result<(), MapError> {
    if stored == 0 {
        return Err(MapError::NothingStored { pattern });
    }
    let mut used = vec![false; stored];
    for i in 0..inputs {
        for j in 0..outputs {
            if let Some(k) = index(i, j) {
                match used.get_mut(k) {
                    Some(u) => *u = true,
                    None => {
                        return Err(MapError::OutOfRange {
                            pattern,
                            i,
                            j,
                            index: k,
                            stored,
                        })
                    }
                }
            }
        }
    }
    match used.iter().position(|u| !u) {
        Some(index) => Err(MapError::Unused {
            pattern,
            index,
            stored,
        }),
        None => Ok(()),
    }
}
