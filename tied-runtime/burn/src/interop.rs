//! Dense checkpoints for Burn layers: the same file format, metadata and least-squares import as
//! the dfdx front end (`tied-interop`), so PyTorch, dfdx and Burn read what any of them writes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::Module;
use burn::tensor::DType;
use tied_interop::safetensors::Dtype as SafeType;
use tied_interop::{
    DenseManifest, DenseNames, EffectiveField, ImportReport, InteropError, OwnNames,
};

/// A Burn layer whose effective weights can be written to and read from a dense checkpoint:
/// `#[tied::burn::layer]` implements it, from the same facts as its forward.
pub trait TiedWeights: Module + Sized {
    /// Every weight and bias, stored or tied to another field, in declaration order, at the
    /// layer's sizes.
    fn effective_fields(&self) -> Vec<EffectiveField>;

    /// Every stored tensor's values, by field name, row-major.
    fn stored_values(&self) -> BTreeMap<String, Vec<f64>>;

    /// The layer with the stored tensors named in `values` replaced (same `ParamId`s, shapes,
    /// devices and dtypes); the others as they were.
    fn with_stored_values(&self, values: &HashMap<String, Vec<f64>>) -> Self;

    /// The dtype of the layer's values (the first stored tensor's).
    fn dtype(&self) -> DType;
}

/// Writes `model`'s effective weights to a safetensors file PyTorch loads with one call, each
/// field under its own name; see [`export_dense_as`].
pub fn export_dense<M: TiedWeights>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<DenseManifest, InteropError> {
    export_dense_as(model, path, OwnNames)
}

/// Writes `model`'s effective weights with PyTorch `nn.Linear` conventions (weights out×in,
/// biases length O, f64 layers in F64 and every other in F32), under the names `names` gives each
/// field, with the ties in the file's metadata: `tied::export_dense_as`'s format, written from a
/// Burn layer.
pub fn export_dense_as<M: TiedWeights>(
    model: &M,
    path: impl AsRef<Path>,
    names: impl DenseNames,
) -> Result<DenseManifest, InteropError> {
    let dtype = match model.dtype() {
        DType::F64 => SafeType::F64,
        _ => SafeType::F32,
    };
    tied_interop::write_dense(
        &model.effective_fields(),
        &model.stored_values(),
        dtype,
        path.as_ref(),
        &names,
    )
}

/// Loads a dense checkpoint into `model`, each field under its own name; see
/// [`import_dense_as`].
pub fn import_dense<M: TiedWeights>(
    model: &mut M,
    path: impl AsRef<Path>,
    tolerance: f64,
) -> Result<ImportReport, InteropError> {
    import_dense_as(model, path, tolerance, OwnNames)
}

/// Loads a dense checkpoint (PyTorch `nn.Linear` conventions, F32, F64 or BF16) into `model`,
/// each stored value the mean of its copies (the least-squares projection onto the ties). A field
/// further from its tie than `tolerance` is refused with the field and its worst entry, and the
/// model is left as it was: it changes only if everything loads.
pub fn import_dense_as<M: TiedWeights>(
    model: &mut M,
    path: impl AsRef<Path>,
    tolerance: f64,
    names: impl DenseNames,
) -> Result<ImportReport, InteropError> {
    let (projected, report) = tied_interop::read_dense(
        &model.effective_fields(),
        &model.stored_values(),
        path.as_ref(),
        tolerance,
        &names,
    )?;
    *model = model.with_stored_values(&projected);
    Ok(report)
}
