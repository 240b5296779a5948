//! Loading a safetensors checkpoint all or nothing: every tensor's name, shape, dtype and values are
//! checked against the model first, and the model changes only if the whole load succeeds.
//!
//! dfdx's `load_safetensors` stops at the first mismatch with some tensors already overwritten,
//! reinterprets the bytes of any dtype as the model's (an f64 file panics, i32 bytes load as
//! garbage floats) and ignores tensors the model does not have. A tied layer makes mismatches
//! likely (a dense checkpoint holds `weight` as I×O, a rows tie stores I values), so `tied` checks
//! first and says which tensor, and why.

use core::fmt;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ::safetensors::tensor::{Dtype as FileDtype, TensorView};
use ::safetensors::SafeTensors;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
};
use dfdx::prelude::*;
use dfdx::tensor::safetensors::SafeDtype;

/// What a checkpoint may differ in and still load. The defaults refuse every difference that could
/// load a number the checkpoint did not mean:
/// - a tensor in the file that the model does not have (`allow_unknown`): it usually means the
///   wrong model or a name prefix (a file saved from a tuple has `0.weight`), and ignoring it
///   would drop trained values silently — PyTorch's `load_state_dict` is strict by default for
///   the same reason;
/// - another float dtype (`convert_floats`): an f64 file for an f32 model is usually a checkpoint
///   from another configuration, and converting rounds every value; opting in converts F16, BF16,
///   F32 and F64 (a value out of the model dtype's range is then refused as non-finite). Integer
///   and bool tensors are never weights and are always refused;
/// - NaN or ±inf (`allow_non_finite`): a diverged run's checkpoint, which would train on silently.
///
/// ```
/// # use tied_dfdx::LoadOptions;
/// // The first element of a tuple model's checkpoint, converting an f64 file.
/// let options = LoadOptions::default().prefix("0.").convert_floats(true);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    prefix: String,
    allow_unknown: bool,
    allow_non_finite: bool,
    convert_floats: bool,
}

impl LoadOptions {
    /// Reads the model's tensor `name` from the file's `{prefix}name`: loads one element of a
    /// tuple model's checkpoint (`"0."`) or one part of a bigger model's. Only the file's tensors
    /// under `prefix` count as unknown.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Ignores tensors in the file that the model does not have (default: refused).
    pub fn allow_unknown(mut self, allow: bool) -> Self {
        self.allow_unknown = allow;
        self
    }

    /// Loads NaN and ±inf values (default: refused).
    pub fn allow_non_finite(mut self, allow: bool) -> Self {
        self.allow_non_finite = allow;
        self
    }

    /// Converts a float tensor of another dtype (F16, BF16, F32, F64) to the model's dtype
    /// (default: refused). A value out of the model dtype's range is refused as non-finite.
    pub fn convert_floats(mut self, convert: bool) -> Self {
        self.convert_floats = convert;
        self
    }
}

/// Why a checkpoint was not loaded. The model is unchanged in every case.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io(PathBuf, std::io::Error),
    /// The file is not a safetensors file.
    Format(PathBuf, String),
    /// The file does not fit the model: every tensor that does not, and why.
    Mismatch(PathBuf, Vec<Mismatch>),
}

/// One tensor of a checkpoint that does not fit the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// The model's tensor `name` is not in the file.
    Missing {
        /// The model's name for it (`weight`, `0.bias`).
        name: String,
        /// Its shape in the model.
        shape: Vec<usize>,
        /// A tensor of the file whose name differs from `name` only by a prefix.
        similar: Option<String>,
        /// The prefix `name` was looked up under ([`LoadOptions::prefix`]).
        prefix: String,
    },
    /// The shapes differ.
    Shape {
        /// The model's name for it.
        name: String,
        /// Its shape in the file.
        file: Vec<usize>,
        /// Its shape in the model.
        model: Vec<usize>,
    },
    /// The dtypes differ (and [`LoadOptions::convert_floats`] does not apply).
    Dtype {
        /// The model's name for it.
        name: String,
        /// Its dtype in the file (`F64`, `I32`, ...).
        file: String,
        /// The model's dtype.
        model: String,
        /// Whether `convert_floats` would load it.
        convertible: bool,
    },
    /// The file holds NaN or ±inf, or values out of the model dtype's range.
    NonFinite {
        /// The model's name for it.
        name: String,
        /// How many values.
        count: usize,
        /// The first one's position (row-major) and value in the file.
        first: (usize, f64),
    },
    /// The file has a tensor the model does not.
    Unknown {
        /// Its name in the file.
        name: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Missing {
                name,
                shape,
                similar,
                prefix,
            } => {
                write!(
                    f,
                    "`{prefix}{name}` is missing (this model stores {shape:?})"
                )?;
                match similar {
                    Some(found) => {
                        write!(f, "; the file has `{found}`: {}", prefix_hint(name, found))
                    }
                    None => Ok(()),
                }
            }
            Mismatch::Shape { name, file, model } => write!(
                f,
                "`{name}` has shape {file:?} in the file, this model stores {model:?}{}",
                if file.iter().product::<usize>() > model.iter().product::<usize>() {
                    " (a tied weight stores only its distinct values)"
                } else {
                    ""
                }
            ),
            Mismatch::Dtype {
                name,
                file,
                model,
                convertible,
            } => {
                write!(f, "`{name}` is {file} in the file, this model is {model}")?;
                if *convertible {
                    write!(f, " (`LoadOptions::convert_floats(true)` converts it)")
                } else {
                    write!(f, " (not a float: it cannot be loaded as parameters)")
                }
            }
            Mismatch::NonFinite {
                name,
                count,
                first: (at, value),
            } => {
                write!(
                    f,
                    "`{name}` holds {count} value(s) that are not finite numbers in "
                )?;
                if value.is_finite() {
                    write!(
                        f,
                        "this model's dtype (first at {at}: {value:e} is out of range)"
                    )?;
                } else {
                    write!(f, "the file (first at {at}: {value})")?;
                }
                write!(f, " (`LoadOptions::allow_non_finite(true)` loads them)")
            }
            Mismatch::Unknown { name } => write!(
                f,
                "`{name}` is in the file but not in this model \
                 (`LoadOptions::allow_unknown(true)` ignores it)"
            ),
        }
    }
}

/// What to do when the model's `name` is the file's `found` up to a prefix.
fn prefix_hint(name: &str, found: &str) -> String {
    if let Some(prefix) = found.strip_suffix(name) {
        let part = prefix.trim_end_matches('.');
        let into = if part.parse::<usize>().is_ok() {
            format!("load into the tuple's element {part} (`model.{part}`), or ")
        } else {
            String::new()
        };
        format!(
            "did you mean to {into}strip the prefix `{prefix}` \
             (`LoadOptions::default().prefix(\"{prefix}\")`)?"
        )
    } else {
        let prefix = name.strip_suffix(found).unwrap_or_default();
        let part = prefix.trim_end_matches('.');
        format!(
            "the file was saved from this model's `{part}` alone: did you mean to load it into \
             that part (`model.{part}`)?"
        )
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(path, err) => write!(f, "cannot read {}: {err}", path.display()),
            LoadError::Format(path, err) => {
                write!(f, "{} is not a safetensors file: {err}", path.display())
            }
            LoadError::Mismatch(path, problems) => {
                write!(f, "{} does not fit this model:", path.display())?;
                for problem in problems {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io(_, err) => Some(err),
            _ => None,
        }
    }
}

/// `load_safetensors`, checked first and all or nothing, for any dfdx model: a tied layer, a tuple
/// containing tied layers, dfdx's own modules.
pub trait LoadChecked<E: Dtype + SafeDtype, D: Device<E>>: TensorCollection<E, D> {
    /// Loads every parameter from the safetensors file at `path` with the default (strict)
    /// [`LoadOptions`], or returns why not and leaves `self` as it was.
    fn load_safetensors_checked<P: AsRef<Path>>(&mut self, path: P) -> Result<(), LoadError> {
        self.load_safetensors_with(path, LoadOptions::default())
    }

    /// Loads every parameter from the safetensors file at `path` as `options` allow, or returns
    /// why not and leaves `self` as it was.
    fn load_safetensors_with<P: AsRef<Path>>(
        &mut self,
        path: P,
        options: LoadOptions,
    ) -> Result<(), LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| LoadError::Io(path.to_owned(), e))?;
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| LoadError::Format(path.to_owned(), format!("{e:?}")))?;
        self.load_safetensors_from(&file, options)
            .map_err(|problems| LoadError::Mismatch(path.to_owned(), problems))
    }

    /// Loads every parameter from an opened safetensors file as `options` allow, or returns every
    /// tensor that does not fit and leaves `self` as it was.
    fn load_safetensors_from(
        &mut self,
        file: &SafeTensors<'_>,
        options: LoadOptions,
    ) -> Result<(), Vec<Mismatch>> {
        // First every tensor is read and checked; only then is anything written.
        let mut read = Read {
            file,
            options: &options,
            problems: Vec::new(),
            values: Vec::new(),
            wanted: BTreeSet::new(),
        };
        let walked = Self::iter_tensors(&mut RecursiveWalker {
            m: String::new(),
            f: &mut read,
        });
        debug_assert!(walked.is_ok(), "reading a checkpoint has no device errors");
        let mut problems = read.problems;
        // Names off by a prefix: the hints say what to do, and listing every other tensor of the
        // bigger model's file as unknown would bury them.
        let off_by_prefix = problems.iter().any(|p| {
            matches!(
                p,
                Mismatch::Missing {
                    similar: Some(_),
                    ..
                }
            )
        });
        if !options.allow_unknown && !off_by_prefix {
            let mut names = file.names();
            names.sort();
            for name in names {
                if name.starts_with(&options.prefix) && !read.wanted.contains(name) {
                    problems.push(Mismatch::Unknown { name: name.clone() });
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut write = Write {
            values: read.values.into_iter(),
        };
        let walked = Self::iter_tensors(&mut RecursiveWalker {
            m: self,
            f: &mut write,
        });
        debug_assert!(walked.is_ok() && write.values.len() == 0);
        Ok(())
    }
}

impl<E: Dtype + SafeDtype, D: Device<E>, M: TensorCollection<E, D>> LoadChecked<E, D> for M {}

/// Reads and checks every tensor of the model from the file, in the model's walk order.
struct Read<'a, 'data, E> {
    file: &'a SafeTensors<'data>,
    options: &'a LoadOptions,
    problems: Vec<Mismatch>,
    values: Vec<Vec<E>>,
    /// The file names the model's tensors were looked up under.
    wanted: BTreeSet<String>,
}

impl<E: Dtype + SafeDtype, D: Device<E>> TensorVisitor<E, D> for Read<'_, '_, E> {
    type Viewer = ViewTensorName;
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, E, D>,
        name: String,
    ) -> Result<Option<Tensor<S, E, D>>, Self::Err> {
        let shape: Vec<usize> = opts.shape.concrete().into_iter().collect();
        let key = format!("{}{name}", self.options.prefix);
        self.wanted.insert(key.clone());
        let view = match self.file.tensor(&key) {
            Ok(view) => view,
            Err(_) => {
                let similar = similar_name(self.file, &name, &self.wanted);
                self.problems.push(Mismatch::Missing {
                    name,
                    shape,
                    similar,
                    prefix: self.options.prefix.clone(),
                });
                return Ok(None);
            }
        };
        let fits = view.shape() == shape.as_slice();
        if !fits {
            self.problems.push(Mismatch::Shape {
                name: key.clone(),
                file: view.shape().to_vec(),
                model: shape,
            });
        }
        let (file, model) = (view.dtype(), E::safe_dtype());
        if file != model && !(self.options.convert_floats && is_float(file)) {
            self.problems.push(Mismatch::Dtype {
                name: key,
                file: format!("{file:?}"),
                model: format!("{model:?}"),
                convertible: is_float(file),
            });
            return Ok(None);
        }
        if fits {
            match decode::<E>(&view, self.options.allow_non_finite) {
                Ok(values) => self.values.push(values),
                Err((count, first)) => self.problems.push(Mismatch::NonFinite {
                    name: key,
                    count,
                    first,
                }),
            }
        }
        Ok(None)
    }
}

/// A name of the file, not a model tensor's, that differs from the model's `name` only by a
/// prefix (`0.weight` for `weight`, or `weight` for `0.weight`).
fn similar_name(file: &SafeTensors<'_>, name: &str, wanted: &BTreeSet<String>) -> Option<String> {
    let dotted = format!(".{name}");
    let mut names = file.names();
    names.sort();
    names
        .into_iter()
        .filter(|found| !wanted.contains(*found))
        .find(|found| found.ends_with(&dotted) || name.ends_with(&format!(".{found}")))
        .cloned()
}

fn is_float(dtype: FileDtype) -> bool {
    matches!(
        dtype,
        FileDtype::F16 | FileDtype::BF16 | FileDtype::F32 | FileDtype::F64
    )
}

/// The values of a float tensor in the model's dtype, or how many are not finite there and the
/// first one (position, value in the file).
#[allow(clippy::type_complexity)]
fn decode<E: Dtype + SafeDtype>(
    view: &TensorView<'_>,
    allow_non_finite: bool,
) -> Result<Vec<E>, (usize, (usize, f64))> {
    let bytes = view.data();
    let file: Vec<f64> = match view.dtype() {
        FileDtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16_to_f64(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        FileDtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| {
                f64::from(f32::from_bits(
                    u32::from(u16::from_le_bytes([b[0], b[1]])) << 16,
                ))
            })
            .collect(),
        FileDtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        FileDtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect(),
        other => unreachable!("{other:?} is refused before decoding"),
    };
    let values: Vec<E> = file
        .iter()
        .map(|v| E::from_f64(*v).unwrap_or_default())
        .collect();
    if allow_non_finite {
        return Ok(values);
    }
    let mut bad = values
        .iter()
        .zip(&file)
        .enumerate()
        .filter(|(_, (v, _))| !v.to_f64().is_some_and(f64::is_finite));
    match bad.next() {
        None => Ok(values),
        Some((at, (_, value))) => Err((bad.count() + 1, (at, *value))),
    }
}

/// An IEEE 754 half-precision value, exactly.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f64.powi(-24),
        0x1f if mantissa == 0.0 => f64::INFINITY,
        0x1f => f64::NAN,
        _ => (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// Writes the values [`Read`] checked, in the same walk order.
struct Write<E> {
    values: std::vec::IntoIter<Vec<E>>,
}

impl<E: Dtype, D: Device<E>> TensorVisitor<E, D> for Write<E> {
    type Viewer = ViewTensorMut;
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        tensor: &mut Tensor<S, E, D>,
    ) -> Result<Option<Tensor<S, E, D>>, Self::Err> {
        if let Some(values) = self.values.next() {
            tensor.copy_from(&values);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f64;

    #[test]
    fn half_precision_decodes_exactly() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x3555), 0.333251953125);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x8000), 0.0);
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
        assert_eq!(f16_to_f64(0xfc00), f64::NEG_INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
    }
}
