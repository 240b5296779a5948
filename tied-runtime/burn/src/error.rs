//! What can go wrong, in words with the numbers: never a panic on a size a user chose.

use std::boxed::Box;
use std::fmt;
use std::string::String;
use std::vec::Vec;

use tied_patterns::{MapError, Misfit};

/// Why a tied weight cannot be described or applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The stated sizes break the pattern's rule: the same sentence as the dfdx runtime's
    /// compile-time check and the macro's.
    Misfit(Misfit),
    /// The key names no built-in pattern.
    UnknownPattern {
        /// The key given.
        key: String,
    },
    /// The stored tensor's shape is not the pattern's.
    StoredShape {
        /// The pattern's key.
        key: &'static str,
        /// The shape it stores.
        want: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// The input's last dimension is not the weight's input side.
    InputShape {
        /// The pattern's key.
        key: &'static str,
        /// The features the weight takes (`I`, or `O` for the transpose).
        want: usize,
        /// The input's shape.
        got: Vec<usize>,
    },
    /// The bias's length is not the side of the product it is added to.
    BiasShape {
        /// The pattern's key.
        key: &'static str,
        /// The outputs of the product (`O`, or `I` for the transpose).
        want: usize,
        /// The bias's length.
        got: usize,
    },
    /// A tensor of the wrong rank: an input of rank 0, or a lookup whose output rank is not the
    /// ids' plus one.
    Rank {
        /// What was wrong, in words.
        what: &'static str,
        /// The rank wanted.
        want: usize,
        /// The rank given.
        got: usize,
    },
    /// An index map points past the stored values.
    OutOfRange {
        /// The entry of `W`.
        i: usize,
        /// The entry of `W`.
        j: usize,
        /// The position the map gave.
        index: usize,
        /// How many values are stored.
        stored: usize,
    },
    /// An index map never uses a stored value: it would be a parameter without a gradient.
    Unused {
        /// The unused stored value.
        index: usize,
        /// How many values are stored.
        stored: usize,
    },
    /// A size of a generated layer's config breaks a rule the attribute states (a bias as long as
    /// its weight's outputs, a `transpose_of` weight the transpose's shape, ...).
    Sizes {
        /// The layer.
        layer: &'static str,
        /// The rule, in the attribute's words.
        rule: &'static str,
        /// The size expressions compared, as written, and their values.
        expected: (&'static str, usize),
        /// The size the rule checks against `expected`.
        actual: (&'static str, usize),
    },
    /// A field of a generated layer: the error of its pattern, and where.
    Field {
        /// The layer.
        layer: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong with its tie.
        source: Box<Error>,
    },
    /// Loading a checkpoint failed (Burn's message names the tensor); the layer is unchanged.
    Load {
        /// The layer.
        layer: &'static str,
        /// Burn's error.
        message: String,
    },
    /// An index map on no stored values, or on a weight without entries.
    Empty {
        /// The weight's inputs.
        inputs: usize,
        /// The weight's outputs.
        outputs: usize,
        /// How many values are stored.
        stored: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Misfit(misfit) => f.write_str(misfit.message().as_str()),
            Error::UnknownPattern { key } => {
                write!(f, "tied: `{key}` is not a built-in pattern (")?;
                for p in tied_patterns::PATTERNS {
                    write!(f, "{}, ", p.key)?;
                }
                f.write_str("or dense for no tie)")
            }
            Error::StoredShape { key, want, got } => write!(
                f,
                "tied: `{key}` stores a tensor of shape {want:?}, but the stored tensor is {got:?}"
            ),
            Error::InputShape { key, want, got } => write!(
                f,
                "tied: `{key}`: the input's last dimension must be {want}, but its shape is {got:?}"
            ),
            Error::BiasShape { key, want, got } => write!(
                f,
                "tied: `{key}`: the bias must have {want} values, one per output, but it has {got}"
            ),
            Error::Rank { what, want, got } => {
                write!(f, "tied: {what} must have rank {want}, not {got}")
            }
            Error::OutOfRange {
                i,
                j,
                index,
                stored,
            } => {
                // The words of the check both front ends run, for a map without a name.
                let error = MapError::OutOfRange {
                    pattern: "",
                    i: *i,
                    j: *j,
                    index: *index,
                    stored: *stored,
                };
                write!(f, "tied: the pattern {}", error.predicate())?;
                Ok(())
            }
            Error::Unused { index, stored } => {
                let error = MapError::Unused {
                    pattern: "",
                    index: *index,
                    stored: *stored,
                };
                write!(f, "tied: the pattern {}", error.predicate())?;
                Ok(())
            }
            Error::Sizes {
                layer,
                rule,
                expected,
                actual,
            } => write!(
                f,
                "tied: `{layer}`: {rule}; here `{}` = {} and `{}` = {}",
                expected.0, expected.1, actual.0, actual.1
            ),
            Error::Field {
                layer,
                field,
                source,
            } => write!(f, "{source} (field `{field}` of `{layer}`)"),
            Error::Load { layer, message } => write!(
                f,
                "tied: cannot load `{layer}`: {message}; the layer is left as it was"
            ),
            Error::Empty {
                inputs,
                outputs,
                stored,
            } => write!(
                f,
                "tied: an index map on a {inputs}×{outputs} weight with {stored} stored values: \
                 a tied weight needs at least one entry and one stored value"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Field { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<Misfit> for Error {
    fn from(misfit: Misfit) -> Self {
        Error::Misfit(misfit)
    }
}
