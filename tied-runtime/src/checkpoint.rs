//! Loading a safetensors checkpoint all or nothing: every tensor's name, shape and dtype is checked
//! against the model first, and the model changes only if the whole load succeeds.
//!
//! dfdx's `load_safetensors` stops at the first mismatch with some tensors already overwritten, and
//! does not check dtypes. A tied layer makes shape mismatches likely (a dense checkpoint holds
//! `weight` as I×O, a rows tie stores I values), so `tied` checks first and says which tensor.

use core::fmt;
use std::path::{Path, PathBuf};

use ::safetensors::SafeTensors;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName,
};
use dfdx::nn::LoadFromSafetensors;
use dfdx::prelude::*;
use dfdx::tensor::safetensors::SafeDtype;

/// Why a checkpoint was not loaded. The model is unchanged in every case.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io(PathBuf, std::io::Error),
    /// The file is not a safetensors file.
    Format(PathBuf, String),
    /// The file does not fit the model: one line per tensor that does not.
    Mismatch(PathBuf, Vec<String>),
    /// dfdx failed while copying the data in.
    Load(PathBuf, String),
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
            LoadError::Load(path, err) => write!(f, "loading {} failed: {err}", path.display()),
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

/// `load_safetensors`, checked first and all or nothing.
pub trait LoadChecked<E: Dtype + SafeDtype, D: Device<E>>: TensorCollection<E, D> + Clone {
    /// Loads every parameter from the safetensors file at `path`, or returns why not and leaves
    /// `self` as it was.
    fn load_safetensors_checked<P: AsRef<Path>>(&mut self, path: P) -> Result<(), LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| LoadError::Io(path.to_owned(), e))?;
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| LoadError::Format(path.to_owned(), format!("{e:?}")))?;
        let mut check = Check {
            file: &file,
            problems: Vec::new(),
        };
        Self::iter_tensors(&mut RecursiveWalker {
            m: String::new(),
            f: &mut check,
        })
        .map_err(|e| LoadError::Load(path.to_owned(), format!("{e:?}")))?;
        if !check.problems.is_empty() {
            return Err(LoadError::Mismatch(path.to_owned(), check.problems));
        }
        // Tensors are copy-on-write: loading into a clone leaves `self`'s data untouched.
        let mut loaded = self.clone();
        loaded
            .load_safetensors(path)
            .map_err(|e| LoadError::Load(path.to_owned(), format!("{e:?}")))?;
        *self = loaded;
        Ok(())
    }
}

impl<E: Dtype + SafeDtype, D: Device<E>, M: TensorCollection<E, D> + Clone> LoadChecked<E, D>
    for M
{
}

struct Check<'a, 'data> {
    file: &'a SafeTensors<'data>,
    problems: Vec<String>,
}

impl<E: Dtype + SafeDtype, D: Device<E>> TensorVisitor<E, D> for Check<'_, '_> {
    type Viewer = ViewTensorName;
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, E, D>,
        name: String,
    ) -> Result<Option<Tensor<S, E, D>>, Self::Err> {
        let want: Vec<usize> = opts.shape.concrete().into_iter().collect();
        match self.file.tensor(&name) {
            Err(_) => self
                .problems
                .push(format!("`{name}` is missing (this model stores {want:?})")),
            Ok(view) => {
                if view.shape() != want.as_slice() {
                    self.problems.push(format!(
                        "`{name}` has shape {:?} in the file, this model stores {want:?}{}",
                        view.shape(),
                        if view.shape().iter().product::<usize>() > want.iter().product::<usize>() {
                            " (a tied weight stores only its distinct values)"
                        } else {
                            ""
                        }
                    ));
                }
                if view.dtype() != E::safe_dtype() {
                    self.problems.push(format!(
                        "`{name}` is {:?} in the file, this model is {:?}",
                        view.dtype(),
                        E::safe_dtype()
                    ));
                }
            }
        }
        Ok(None)
    }
}
