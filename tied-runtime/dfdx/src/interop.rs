//! PyTorch checkpoints both ways: a tied layer's effective weights written as a dense safetensors
//! file with `nn.Linear` conventions, and a dense checkpoint projected onto a layer's ties.
//!
//! Elsewhere these are where tied weights break: safetensors refuses shared tensors, a tied head is
//! silently untied (or dropped) on load, an export duplicates the tied tensor without saying so. Here
//! the export writes each effective weight as its own dense tensor (what `nn.Linear` holds) and
//! records in the file's metadata which tensors are tied to which; the import accepts a dense
//! checkpoint only as far as it honours the ties, and says by how much it does not.
//!
//! A layer describes its weights to these functions through [`TiedWeights`]: one
//! [`EffectiveField`] per weight and bias (name, stored parameter, shape, pattern). The format
//! itself (writing, reading, the projection) is `tied-interop`'s, shared with the Burn front end.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::*;
use dfdx::tensor::safetensors::SafeDtype;
use num_traits::Float;

use crate::Tie;
use tied_interop::OwnNames;
pub use tied_interop::{
    DenseManifest, DenseNames, EffectiveField, FieldFit, ImportReport, IndexFn, InteropError,
    NegatedFn, TiedTo, Violation,
};

/// A dfdx layer's effective fields ([`TieField::weight`] and [`TieField::bias`] from a
/// `Tie` type at its const sizes), in the prelude as `tied::TieField`.
pub trait TieField: Sized {
    /// A weight `W` (I×O) with pattern `P`, whose values are stored in `parameter`.
    fn weight<P: Tie<I, O>, const I: usize, const O: usize>(
        name: &'static str,
        parameter: &'static str,
        tied_to: Option<TiedTo>,
    ) -> Self;

    /// A bias of length `O` with pattern `P` (a plain bias is [`crate::Dense`]: `b[j]` is stored
    /// value `j`), whose values are stored in `parameter`.
    fn bias<P: Tie<1, O>, const O: usize>(
        name: &'static str,
        parameter: &'static str,
        tied_to: Option<TiedTo>,
    ) -> Self;
}

impl TieField for EffectiveField {
    fn weight<P: Tie<I, O>, const I: usize, const O: usize>(
        name: &'static str,
        parameter: &'static str,
        tied_to: Option<TiedTo>,
    ) -> Self {
        let field = EffectiveField::new(name, parameter, tied_to, false, (I, O), P::NAME, P::index);
        if P::SIGNED {
            field.with_signs(P::negated)
        } else {
            field
        }
    }

    fn bias<P: Tie<1, O>, const O: usize>(
        name: &'static str,
        parameter: &'static str,
        tied_to: Option<TiedTo>,
    ) -> Self {
        EffectiveField::new(name, parameter, tied_to, true, (1, O), P::NAME, P::index)
    }
}

/// Every stored tensor's values as f64, the format's own precision (exact for f32 and f64).
fn as_f64<E: Float>(stored: BTreeMap<String, Vec<E>>) -> BTreeMap<String, Vec<f64>> {
    stored
        .into_iter()
        .map(|(name, values)| {
            (
                name,
                values
                    .into_iter()
                    .map(|v| v.to_f64().unwrap_or(f64::NAN))
                    .collect(),
            )
        })
        .collect()
}

/// A layer whose effective weights can be written to and read from a dense checkpoint.
///
/// One [`EffectiveField`] per weight and bias, stored or tied to another, named as the
/// `TensorCollection` names the stored tensors. For a tied autoencoder (`dec` declared
/// `transpose_of = enc`) the list is:
///
/// ```text
/// EffectiveField::weight::<Dense, I, H>("enc", "enc", None),
/// EffectiveField::bias::<Dense, H>("enc_bias", "enc_bias", None),
/// EffectiveField::weight::<Transposed<Dense>, H, I>("dec", "enc", Some(TiedTo::TransposeOf("enc".into()))),
/// EffectiveField::bias::<Dense, I>("dec_bias", "dec_bias", None),
/// ```
///
/// `#[tied::layer]` is to implement it for every layer from the same facts it generates the
/// accessors from; implement it by hand for a struct of your own. dfdx's `Linear` implements it
/// (`weight`, `bias`).
pub trait TiedWeights {
    /// Every weight and bias, stored or tied to another field, in declaration order.
    fn effective_fields() -> Vec<EffectiveField>;
}

impl<const I: usize, const O: usize, E: Dtype, D: Device<E>> TiedWeights
    for dfdx::nn::modules::Linear<I, O, E, D>
{
    fn effective_fields() -> Vec<EffectiveField> {
        // dfdx's `Linear` stores its weight out×in, as PyTorch does: `W` (in×out) is its transpose.
        vec![
            EffectiveField::weight::<crate::Transposed<crate::Dense>, I, O>(
                "weight", "weight", None,
            ),
            EffectiveField::bias::<crate::Dense, O>("bias", "bias", None),
        ]
    }
}

/// Modules without parameters (dfdx's activations, dropout, reshapes): no fields, so they can sit
/// in a model that is written or read whole.
macro_rules! no_weights {
    ($($module:ty),+ $(,)?) => {$(
        impl TiedWeights for $module {
            fn effective_fields() -> Vec<EffectiveField> {
                Vec::new()
            }
        }
    )+};
}

no_weights!(
    dfdx::nn::modules::ReLU,
    dfdx::nn::modules::FastGeLU,
    dfdx::nn::modules::AccurateGeLU,
    dfdx::nn::modules::Sin,
    dfdx::nn::modules::Cos,
    dfdx::nn::modules::Ln,
    dfdx::nn::modules::Exp,
    dfdx::nn::modules::Sigmoid,
    dfdx::nn::modules::Tanh,
    dfdx::nn::modules::Square,
    dfdx::nn::modules::Sqrt,
    dfdx::nn::modules::Abs,
    dfdx::nn::modules::Softmax,
    dfdx::nn::modules::LogSoftmax,
    dfdx::nn::modules::Dropout,
);

impl<E: Dtype> TiedWeights for dfdx::nn::modules::LeakyReLU<E> {
    fn effective_fields() -> Vec<EffectiveField> {
        Vec::new()
    }
}

impl<const N: usize> TiedWeights for dfdx::nn::modules::DropoutOneIn<N> {
    fn effective_fields() -> Vec<EffectiveField> {
        Vec::new()
    }
}

/// A dfdx tuple model: each element's fields under its index, `0.weight`, `2.dec`, as dfdx's
/// `TensorCollection` names them (and as PyTorch's `nn.Sequential` names its layers' tensors,
/// when the tuple lists the activations too).
macro_rules! tuple_weights {
    ($($m:ident $k:tt),+) => {
        impl<$($m: TiedWeights),+> TiedWeights for ($($m,)+) {
            fn effective_fields() -> Vec<EffectiveField> {
                let mut fields = Vec::new();
                $(
                    let prefix = concat!(stringify!($k), ".");
                    fields.extend($m::effective_fields().into_iter().map(|f| f.prefixed(prefix)));
                )+
                fields
            }
        }
    };
}

tuple_weights!(M0 0);
tuple_weights!(M0 0, M1 1);
tuple_weights!(M0 0, M1 1, M2 2);
tuple_weights!(M0 0, M1 1, M2 2, M3 3);
tuple_weights!(M0 0, M1 1, M2 2, M3 3, M4 4);
tuple_weights!(M0 0, M1 1, M2 2, M3 3, M4 4, M5 5);

/// Writes `model`'s effective weights to a safetensors file PyTorch loads with one call, each
/// field under its own name. See [`export_dense_as`].
pub fn export_dense<M, E, D>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<DenseManifest, InteropError>
where
    M: TiedWeights + TensorCollection<E, D>,
    E: Dtype + SafeDtype + Float,
    D: Device<E>,
{
    export_dense_as(model, path, OwnNames)
}

/// Writes `model`'s effective weights to a safetensors file with PyTorch `nn.Linear` conventions,
/// under the names `names` gives each field.
///
/// Each weight is written as its dense effective value, transposed to PyTorch's out×in
/// (`weight[j, i] = W[i, j]`); each bias as a length-O vector, in the model's dtype. A field tied
/// to another is written too (a `transpose_of` decoder as its own dense weight), so
/// `model.load_state_dict(safetensors.torch.load_file(path))` fills an untied PyTorch model, and
/// the file's metadata says which are tied (`__metadata__`, read with
/// `safetensors.safe_open(path, "pt").metadata()`):
///
/// - `"format"`: `"pt"`;
/// - `"tied_weights_keys"`: JSON `{"decoder.weight": {"source": "encoder.weight", "transpose":
///   true}}`;
/// - `"patterns"`: JSON `{"encoder.weight": "dense", ...}`.
pub fn export_dense_as<M, E, D>(
    model: &M,
    path: impl AsRef<Path>,
    names: impl DenseNames,
) -> Result<DenseManifest, InteropError>
where
    M: TiedWeights + TensorCollection<E, D>,
    E: Dtype + SafeDtype + Float,
    D: Device<E>,
{
    let fields = M::effective_fields();
    let stored = as_f64(read_parameters(model)?);
    tied_interop::write_dense(&fields, &stored, E::safe_dtype(), path.as_ref(), &names)
}

/// Loads a dense checkpoint into `model`, each field under its own name. See [`import_dense_as`].
pub fn import_dense<M, E, D>(
    model: &mut M,
    path: impl AsRef<Path>,
    tolerance: f64,
) -> Result<ImportReport, InteropError>
where
    M: TiedWeights + TensorCollection<E, D> + Clone,
    E: Dtype + SafeDtype + Float,
    D: Device<E>,
{
    import_dense_as(model, path, tolerance, OwnNames)
}

/// Loads a dense checkpoint (PyTorch `nn.Linear` conventions: weights out×in, biases length O,
/// F32, F64 or BF16) into `model`, under the names `names` gives each field.
///
/// Each stored value becomes the mean of its copies in every dense field that uses it (a
/// `transpose_of` decoder's weight counts as copies of the encoder's): the least-squares
/// projection of the dense weights onto the ties. Structural zeros take no part in it, but a
/// non-zero there counts as a violation. A field tied to another may be absent from the file; every
/// stored tensor needs at least one field present.
///
/// The report gives, per field, the largest `|W_dense − W_projected|`. If any exceeds `tolerance`,
/// nothing is loaded and the error names the field and its worst entry. The model changes only
/// if everything loads.
pub fn import_dense_as<M, E, D>(
    model: &mut M,
    path: impl AsRef<Path>,
    tolerance: f64,
    names: impl DenseNames,
) -> Result<ImportReport, InteropError>
where
    M: TiedWeights + TensorCollection<E, D> + Clone,
    E: Dtype + SafeDtype + Float,
    D: Device<E>,
{
    let fields = M::effective_fields();
    let stored = as_f64(read_parameters(model)?);
    let (projected, report) =
        tied_interop::read_dense(&fields, &stored, path.as_ref(), tolerance, &names)?;

    // All checks passed: write into a copy (tensors are copy-on-write), then swap it in.
    let values: HashMap<String, Vec<E>> = projected
        .into_iter()
        .map(|(name, v)| {
            let v = v
                .into_iter()
                .map(|x| <E as num_traits::NumCast>::from(x).unwrap_or_else(E::nan))
                .collect();
            (name, v)
        })
        .collect();
    let mut loaded = model.clone();
    M::iter_tensors(&mut RecursiveWalker {
        m: (&mut loaded, String::new()),
        f: &mut Writer { values: &values },
    })
    .map_err(|e| InteropError::Layout(format!("device error while loading: {e:?}")))?;
    *model = loaded;
    Ok(report)
}

/// Every stored tensor of `model`, by name, as a flat row-major vector.
fn read_parameters<M, E, D>(model: &M) -> Result<BTreeMap<String, Vec<E>>, InteropError>
where
    M: TensorCollection<E, D>,
    E: Dtype,
    D: Device<E>,
{
    let mut reader = Reader {
        values: BTreeMap::new(),
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut reader,
    })
    .map_err(|e| InteropError::Layout(format!("device error while reading: {e:?}")))?;
    Ok(reader.values)
}

struct Reader<E> {
    values: BTreeMap<String, Vec<E>>,
}

impl<E: Dtype, D: Device<E>> TensorVisitor<E, D> for Reader<E> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (t, name): (&Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, Self::Err> {
        self.values.insert(name, t.as_vec());
        Ok(None)
    }
}

struct Writer<'a, E> {
    values: &'a HashMap<String, Vec<E>>,
}

impl<E: Dtype, D: Device<E>> TensorVisitor<E, D> for Writer<'_, E> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (t, name): (&mut Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, Self::Err> {
        // Checked before: every stored tensor has its projection, of its length.
        if let Some(values) = self.values.get(&name) {
            if values.len() == t.shape().num_elements() {
                t.copy_from(values);
            }
        }
        Ok(None)
    }
}
