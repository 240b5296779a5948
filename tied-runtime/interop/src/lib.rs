//! The dense checkpoint format of [`tied`](https://docs.rs/tied), for both front ends (dfdx and
//! Burn): a tied layer's effective weights written as a dense safetensors file with `nn.Linear`
//! conventions, and a dense checkpoint projected onto a layer's ties. No framework is named here:
//! a layer is described by its [`EffectiveField`]s (name, stored parameter, shape, pattern and
//! index map) and its stored values as f64; each front end reads and writes its own tensors.
//!
//! Elsewhere these are where tied weights break: safetensors refuses shared tensors, a tied head is
//! silently untied (or dropped) on load, an export duplicates the tied tensor without saying so.
//! Here the export writes each effective weight as its own dense tensor (what `nn.Linear` holds)
//! and records in the file's metadata which tensors are tied to which; the import accepts a dense
//! checkpoint only as far as it honours the ties, and says by how much it does not.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use core::fmt;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use safetensors::tensor::{Dtype as SafeType, TensorView};
use safetensors::SafeTensors;

/// The safetensors crate the format is written with.
pub use safetensors;

/// How an effective field shares its values with another field of the same layer (named as its
/// [`EffectiveField::name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TiedTo {
    /// `#[tied(transpose_of = field)]`: this weight is the other's transpose.
    TransposeOf(Cow<'static, str>),
    /// `#[tied(same_as = field)]`: this weight (or bias) is the other one.
    SameAs(Cow<'static, str>),
}

impl TiedTo {
    /// The field this one is tied to.
    pub fn source(&self) -> &str {
        match self {
            TiedTo::TransposeOf(source) | TiedTo::SameAs(source) => source,
        }
    }

    /// The same tie, to the field under `prefix`.
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            TiedTo::TransposeOf(s) => TiedTo::TransposeOf(format!("{prefix}{s}").into()),
            TiedTo::SameAs(s) => TiedTo::SameAs(format!("{prefix}{s}").into()),
        }
    }
}

/// One effective weight (`W`, I×O, `y = x·W`) or bias (`b`, 1×O) of a layer, as the dense
/// checkpoint functions see it.
#[derive(Clone)]
pub struct EffectiveField {
    /// The field's name as declared (`dec`); in a model of several layers, with the path to its
    /// layer (`2.dec` for the third element of a tuple, as dfdx names its tensors).
    pub name: Cow<'static, str>,
    /// The name of the stored tensor (the parameter) that holds its values, as dfdx's
    /// `TensorCollection` names it: the field itself, or the field it is tied to (`enc`).
    pub parameter: Cow<'static, str>,
    /// The tie to another field, if any.
    pub tied_to: Option<TiedTo>,
    /// A bias (written as a length-`outputs` vector) rather than a weight.
    pub is_bias: bool,
    /// `I`: rows of the effective weight (1 for a bias).
    pub inputs: usize,
    /// `O`: columns of the effective weight (the bias length).
    pub outputs: usize,
    /// The pattern's name (`dense`, `rows`, `transpose`, ...).
    pub pattern: &'static str,
    /// The pattern's index map: the stored value at effective entry `W[i, j]`, `None` for a
    /// structural zero (a dfdx `Tie::index`, or a Burn tie's runtime geometry).
    pub index: IndexFn,
    /// For a signed tie (`skew`), whether effective entry `W[i, j]` is its stored value negated;
    /// `None` where no entry is ([`EffectiveField::with_signs`]).
    pub negated: Option<NegatedFn>,
}

/// An index map `(i, j) → stored position` of runtime sizes, shared by clones.
pub type IndexFn = Arc<dyn Fn(usize, usize) -> Option<usize> + Send + Sync>;

/// A signed tie's signs `(i, j) → W[i, j]` is its stored value negated, shared by clones.
pub type NegatedFn = Arc<dyn Fn(usize, usize) -> bool + Send + Sync>;

impl fmt::Debug for EffectiveField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EffectiveField")
            .field("name", &self.name)
            .field("parameter", &self.parameter)
            .field("tied_to", &self.tied_to)
            .field("is_bias", &self.is_bias)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

impl EffectiveField {
    /// A weight (`is_bias` false: `inputs`×`outputs`, `y = x·W`) or a bias (`inputs` 1) of
    /// pattern `pattern`, whose effective entry `W[i, j]` is stored value `index(i, j)` of the
    /// parameter `parameter`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        parameter: impl Into<Cow<'static, str>>,
        tied_to: Option<TiedTo>,
        is_bias: bool,
        (inputs, outputs): (usize, usize),
        pattern: &'static str,
        index: impl Fn(usize, usize) -> Option<usize> + Send + Sync + 'static,
    ) -> Self {
        EffectiveField {
            name: name.into(),
            parameter: parameter.into(),
            tied_to,
            is_bias,
            inputs,
            outputs,
            pattern,
            index: Arc::new(index),
            negated: None,
        }
    }

    /// The same field as a signed tie: `W[i, j]` is its stored value negated where
    /// `negated(i, j)` (`skew` below its diagonal). Export writes `−v` there, and import counts
    /// `−W[i, j]` as a copy of `v` in the least-squares projection.
    pub fn with_signs(
        self,
        negated: impl Fn(usize, usize) -> bool + Send + Sync + 'static,
    ) -> Self {
        EffectiveField {
            negated: Some(Arc::new(negated)),
            ..self
        }
    }

    /// The same field inside a larger model, at `prefix` (`"2."`): its name, its parameter and
    /// the field it is tied to, all prefixed.
    pub fn prefixed(self, prefix: &str) -> Self {
        EffectiveField {
            name: format!("{prefix}{}", self.name).into(),
            parameter: format!("{prefix}{}", self.parameter).into(),
            tied_to: self.tied_to.map(|t| t.prefixed(prefix)),
            ..self
        }
    }

    /// The tensor's shape in a PyTorch checkpoint: `[O, I]` for a weight (`nn.Linear.weight` is
    /// out×in), `[O]` for a bias.
    pub fn dense_shape(&self) -> Vec<usize> {
        if self.is_bias {
            vec![self.outputs]
        } else {
            vec![self.outputs, self.inputs]
        }
    }

    /// The stored value at PyTorch entry `flat` (row-major in [`Self::dense_shape`]): `W[i, j]` is
    /// at `j·I + i`.
    pub fn stored_at(&self, flat: usize) -> Option<usize> {
        let (j, i) = (flat / self.inputs, flat % self.inputs);
        (self.index)(i, j)
    }

    /// The stored value at PyTorch entry `flat` and its sign (`1.0`, or `−1.0` where the entry is
    /// the value negated): `W[i, j] = sign·v[k]`.
    pub fn signed_at(&self, flat: usize) -> Option<(usize, f64)> {
        let k = self.stored_at(flat)?;
        let (i, j) = self.entry(flat);
        let negated = self.negated.as_ref().is_some_and(|negated| negated(i, j));
        Some((k, if negated { -1.0 } else { 1.0 }))
    }

    /// `(i, j)` of `W` for PyTorch entry `flat`.
    pub fn entry(&self, flat: usize) -> (usize, usize) {
        (flat % self.inputs, flat / self.inputs)
    }
}

/// The names fields get in a dense checkpoint.
///
/// The default ([`OwnNames`]) is the field's own name, as dfdx names the
/// tensor. To match a PyTorch module, give pairs (`[("enc", "encoder.weight"), ..]`: fields not
/// listed keep their name) or a closure `|field| ..`.
pub trait DenseNames {
    /// The checkpoint name of `field`.
    fn dense_name(&self, field: &str) -> String;
}

impl<F: Fn(&str) -> String> DenseNames for F {
    fn dense_name(&self, field: &str) -> String {
        self(field)
    }
}

impl DenseNames for [(&str, &str)] {
    fn dense_name(&self, field: &str) -> String {
        self.iter()
            .find(|(from, _)| *from == field)
            .map_or(field, |(_, to)| to)
            .to_owned()
    }
}

impl<const N: usize> DenseNames for [(&str, &str); N] {
    fn dense_name(&self, field: &str) -> String {
        self.as_slice().dense_name(field)
    }
}

/// Each field under its own name (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnNames;

impl DenseNames for OwnNames {
    fn dense_name(&self, field: &str) -> String {
        field.to_owned()
    }
}

/// Why a dense checkpoint was not written or read. On import the model is unchanged in every case.
#[derive(Debug)]
pub enum InteropError {
    /// The file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// The file is not a safetensors file, or could not be serialized.
    Format(PathBuf, String),
    /// The model names a stored tensor no field describes, or a field's parameter it does not
    /// store: its field list does not match its parameters.
    Layout(String),
    /// A field's tensor is not in the file.
    Missing {
        /// The field.
        field: String,
        /// The name looked up in the file.
        name: String,
    },
    /// A field's tensor has the wrong shape or an unsupported dtype in the file.
    Shape {
        /// The field.
        field: String,
        /// The name in the file.
        name: String,
        /// What was expected (`[O, I]` of dtype F32, ...).
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// A field's dense values are further from its tied pattern than the tolerance allows.
    TieViolated(Violation),
}

/// The worst entry of a dense weight that its tie cannot represent.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The field.
    pub field: String,
    /// Its name in the file.
    pub name: String,
    /// The field's pattern.
    pub pattern: &'static str,
    /// A bias: the file's entry is `[j]`.
    pub is_bias: bool,
    /// The entry `W[i, j]` of the effective (I×O) weight; the file's entry is `[j, i]`.
    pub i: usize,
    /// See [`Violation::i`].
    pub j: usize,
    /// The dense value in the file.
    pub dense: f64,
    /// The value the tie gives it: the mean of every copy of its stored value (0 for a structural
    /// zero).
    pub projected: f64,
    /// The tolerance it exceeds.
    pub tolerance: f64,
}

impl Violation {
    /// `|dense − projected|`.
    pub fn distance(&self) -> f64 {
        (self.dense - self.projected).abs()
    }
}

impl fmt::Display for InteropError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InteropError::Io(path, err) => write!(f, "cannot access {}: {err}", path.display()),
            InteropError::Format(path, err) => {
                write!(f, "{}: not a safetensors file: {err}", path.display())
            }
            InteropError::Layout(err) => write!(f, "the model's field list is wrong: {err}"),
            InteropError::Missing { field, name } => {
                write!(f, "field `{field}`: the file has no tensor `{name}`")
            }
            InteropError::Shape {
                field,
                name,
                expected,
                found,
            } => write!(
                f,
                "field `{field}`: `{name}` is {found} in the file, expected {expected}"
            ),
            InteropError::TieViolated(v) => {
                let at = if v.is_bias {
                    format!("{}[{}]", v.name, v.j)
                } else {
                    format!("{}[{}, {}]", v.name, v.j, v.i)
                };
                write!(
                    f,
                    "field `{}` ({}): `{}` is not tied within {:e}: W[{}, {}] (`{at}` in the \
                     file) is {} but its tied value is {} (off by {:e})",
                    v.field,
                    v.pattern,
                    v.name,
                    v.tolerance,
                    v.i,
                    v.j,
                    v.dense,
                    v.projected,
                    v.distance()
                )
            }
        }
    }
}

impl std::error::Error for InteropError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InteropError::Io(_, err) => Some(err),
            _ => None,
        }
    }
}

/// What [`write_dense`] wrote: each tensor's name, and the ties between them (also in the file's
/// metadata, see [`write_dense`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseManifest {
    /// `(field, name in the file, pattern)` for every tensor written, in declaration order.
    pub tensors: Vec<(String, String, String)>,
    /// `(name, source name, transposed)`: `name` holds the same values as `source` (transposed or
    /// not). Like transformers' `_tied_weights_keys`: PyTorch code that ties them itself may drop
    /// `name` and re-tie it.
    pub tied: Vec<(String, String, bool)>,
}

/// How well a dense checkpoint fit a field's tie, from [`read_dense`].
#[derive(Debug, Clone, PartialEq)]
pub struct FieldFit {
    /// The field.
    pub field: String,
    /// Its name in the file.
    pub name: String,
    /// Its pattern.
    pub pattern: &'static str,
    /// The largest `|W_dense − W_projected|` over its entries (0 for a dense field, up to
    /// rounding).
    pub max_violation: f64,
}

/// What [`read_dense`] loaded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportReport {
    /// One line per field found in the file, in declaration order.
    pub fields: Vec<FieldFit>,
    /// Tied fields absent from the file: their values came from the field they are tied to.
    pub absent: Vec<String>,
    /// Tensors in the file that no field uses.
    pub unused: Vec<String>,
}

impl ImportReport {
    /// The largest violation over all fields.
    pub fn max_violation(&self) -> f64 {
        self.fields
            .iter()
            .map(|f| f.max_violation)
            .fold(0.0, f64::max)
    }
}

/// Writes `fields`' effective weights, from the `stored` values of each parameter (row-major,
/// as f64), to a safetensors file with PyTorch `nn.Linear` conventions, under the names `names`
/// gives each field, in `dtype` (F64, or F32 for every other).
///
/// Each weight is written as its dense effective value, transposed to PyTorch's out×in
/// (`weight[j, i] = W[i, j]`); each bias as a length-O vector. A field tied to another is written
/// too (a `transpose_of` decoder as its own dense weight), so
/// `model.load_state_dict(safetensors.torch.load_file(path))` fills an untied PyTorch model, and
/// the file's metadata says which are tied (`__metadata__`, read with
/// `safetensors.safe_open(path, "pt").metadata()`):
///
/// - `"format"`: `"pt"`;
/// - `"tied_weights_keys"`: JSON `{"decoder.weight": {"source": "encoder.weight", "transpose":
///   true}}`;
/// - `"patterns"`: JSON `{"encoder.weight": "dense", ...}`.
pub fn write_dense(
    fields: &[EffectiveField],
    stored: &BTreeMap<String, Vec<f64>>,
    dtype: SafeType,
    path: &Path,
    names: &dyn DenseNames,
) -> Result<DenseManifest, InteropError> {
    let mut manifest = DenseManifest {
        tensors: Vec::new(),
        tied: Vec::new(),
    };
    let mut tensors = Vec::new();
    for field in fields {
        let values = parameter(stored, field)?;
        let name = names.dense_name(&field.name);
        let numel = field.inputs * field.outputs;
        let dense = (0..numel).map(|flat| {
            field
                .signed_at(flat)
                .map_or(0.0, |(k, sign)| sign * values[k])
        });
        let bytes: Vec<u8> = match dtype {
            SafeType::F64 => dense.flat_map(f64::to_le_bytes).collect(),
            _ => dense.flat_map(|v| (v as f32).to_le_bytes()).collect(),
        };
        manifest.tensors.push((
            field.name.to_string(),
            name.clone(),
            field.pattern.to_owned(),
        ));
        if let Some(tie) = &field.tied_to {
            let transposed = matches!(tie, TiedTo::TransposeOf(_));
            manifest
                .tied
                .push((name.clone(), names.dense_name(tie.source()), transposed));
        }
        tensors.push((name, field.dense_shape(), bytes));
    }
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| InteropError::Format(path.to_owned(), format!("{e:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = HashMap::from([
        ("format".to_owned(), "pt".to_owned()),
        ("tied_weights_keys".to_owned(), tied_json(&manifest.tied)),
        (
            "patterns".to_owned(),
            json_object(
                manifest
                    .tensors
                    .iter()
                    .map(|(_, name, pattern)| (name.as_str(), json_string(pattern))),
            ),
        ),
    ]);
    ::safetensors::serialize_to_file(views, &Some(metadata), path).map_err(|e| match e {
        ::safetensors::SafeTensorError::IoError(err) => InteropError::Io(path.to_owned(), err),
        other => InteropError::Format(path.to_owned(), format!("{other:?}")),
    })?;
    Ok(manifest)
}
/// Reads a dense checkpoint (PyTorch `nn.Linear` conventions: weights out×in, biases length O,
/// F32, F64 or BF16) for `fields`, under the names `names` gives each, and projects it onto their
/// ties: the new values of every parameter in `stored` (whose lengths it checks), or the error.
///
/// Each stored value becomes the mean of its copies in every dense field that uses it (a
/// `transpose_of` decoder's weight counts as copies of the encoder's; a negated entry of a signed
/// tie counts negated, so a dense `W` imported into `skew` gets the strict upper triangle of
/// `(W − Wᵀ)/2`): the least-squares projection of the dense weights onto the ties. Structural zeros take no part in it, but a
/// non-zero there counts as a violation. A field tied to another may be absent from the file; every
/// stored tensor needs at least one field present.
///
/// The report gives, per field, the largest `|W_dense − W_projected|`. If any exceeds
/// `tolerance`, the error names the field and its worst entry; nothing is returned to load.
pub fn read_dense(
    fields: &[EffectiveField],
    stored: &BTreeMap<String, Vec<f64>>,
    path: &Path,
    tolerance: f64,
    names: &dyn DenseNames,
) -> Result<(HashMap<String, Vec<f64>>, ImportReport), InteropError> {
    let bytes = std::fs::read(path).map_err(|e| InteropError::Io(path.to_owned(), e))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| InteropError::Format(path.to_owned(), format!("{e:?}")))?;

    // Every field's dense values, in PyTorch's row-major [O, I].
    let mut report = ImportReport::default();
    let mut dense = Vec::new();
    for field in fields {
        let name = names.dense_name(&field.name);
        match file.tensor(&name) {
            Ok(view) => dense.push((field, name.clone(), read_tensor(field, &name, &view)?)),
            Err(_) if field.tied_to.is_some() => report.absent.push(field.name.to_string()),
            Err(_) => {
                return Err(InteropError::Missing {
                    field: field.name.to_string(),
                    name,
                })
            }
        }
    }
    let used: Vec<&str> = dense.iter().map(|(_, name, _)| name.as_str()).collect();
    report.unused = file
        .names()
        .into_iter()
        .filter(|n| !used.contains(&n.as_str()))
        .cloned()
        .collect();
    report.unused.sort();

    // The projection: sum and count every copy of every stored value.
    let mut sums: BTreeMap<&str, (Vec<f64>, Vec<usize>)> = BTreeMap::new();
    for (field, _, values) in &dense {
        let numel = parameter(stored, field)?.len();
        let (sum, count) = sums
            .entry(&field.parameter)
            .or_insert_with(|| (vec![0.0; numel], vec![0; numel]));
        for (flat, value) in values.iter().enumerate() {
            // A negated copy (`skew` below its diagonal) is a copy of `−v`.
            if let Some((k, sign)) = field.signed_at(flat) {
                sum[k] += sign * value;
                count[k] += 1;
            }
        }
    }
    let mut projected: HashMap<String, Vec<f64>> = HashMap::new();
    for (parameter, (sum, count)) in &sums {
        let means = sum
            .iter()
            .zip(count)
            .map(|(s, &c)| if c == 0 { 0.0 } else { s / c as f64 })
            .collect();
        projected.insert((*parameter).to_owned(), means);
    }
    for (name, values) in stored {
        if !projected.contains_key(name) {
            let field = fields
                .iter()
                .find(|f| f.parameter == name.as_str())
                .ok_or_else(|| InteropError::Layout(format!("no field describes `{name}`")))?;
            return Err(InteropError::Missing {
                field: field.name.to_string(),
                name: names.dense_name(&field.name),
            });
        }
        debug_assert_eq!(projected[name].len(), values.len());
    }

    // How far each field is from its projection; refuse past the tolerance.
    for (field, name, values) in &dense {
        let means = &projected[field.parameter.as_ref()];
        let mut worst: Option<(usize, f64)> = None;
        for (flat, value) in values.iter().enumerate() {
            let tied = field
                .signed_at(flat)
                .map_or(0.0, |(k, sign)| sign * means[k]);
            // A NaN (in the file or from a NaN copy) counts as the worst possible.
            let distance = match (value - tied).abs() {
                d if d.is_nan() => f64::INFINITY,
                d => d,
            };
            if worst.is_none_or(|(_, d)| distance > d) {
                worst = Some((flat, distance));
            }
        }
        let max_violation = worst.map_or(0.0, |(_, d)| d);
        if let Some((flat, distance)) = worst {
            if distance > tolerance {
                let (i, j) = field.entry(flat);
                return Err(InteropError::TieViolated(Violation {
                    field: field.name.to_string(),
                    name: name.clone(),
                    pattern: field.pattern,
                    is_bias: field.is_bias,
                    i,
                    j,
                    dense: values[flat],
                    projected: field
                        .signed_at(flat)
                        .map_or(0.0, |(k, sign)| sign * means[k]),
                    tolerance,
                }));
            }
        }
        report.fields.push(FieldFit {
            field: field.name.to_string(),
            name: name.clone(),
            pattern: field.pattern,
            max_violation,
        });
    }

    Ok((projected, report))
}
/// The stored values of `field`'s parameter, checked to cover every index the pattern uses.
fn parameter<'a>(
    stored: &'a BTreeMap<String, Vec<f64>>,
    field: &EffectiveField,
) -> Result<&'a [f64], InteropError> {
    let values = stored.get(field.parameter.as_ref()).ok_or_else(|| {
        InteropError::Layout(format!(
            "field `{}` names parameter `{}`, which the model does not store (it stores {:?})",
            field.name,
            field.parameter,
            stored.keys().collect::<Vec<_>>()
        ))
    })?;
    let numel = field.inputs * field.outputs;
    if let Some(flat) = (0..numel).find(|&f| field.stored_at(f).is_some_and(|k| k >= values.len()))
    {
        let (i, j) = field.entry(flat);
        return Err(InteropError::Layout(format!(
            "field `{}`: pattern `{}` maps W[{i}, {j}] past the {} values of `{}`",
            field.name,
            field.pattern,
            values.len(),
            field.parameter
        )));
    }
    Ok(values)
}

/// A field's tensor in the file as f64, checked against its PyTorch shape.
fn read_tensor(
    field: &EffectiveField,
    name: &str,
    view: &TensorView<'_>,
) -> Result<Vec<f64>, InteropError> {
    let expected = field.dense_shape();
    let shape_error = || InteropError::Shape {
        field: field.name.to_string(),
        name: name.to_owned(),
        expected: format!("{expected:?} of F32, F64 or BF16"),
        found: format!("{:?} of {:?}", view.shape(), view.dtype()),
    };
    if view.shape() != expected.as_slice() {
        return Err(shape_error());
    }
    let data = view.data();
    let values = match view.dtype() {
        SafeType::F32 => data
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        SafeType::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        // bf16 is the top half of an f32.
        SafeType::BF16 => data
            .chunks_exact(2)
            .map(|b| f64::from(f32::from_le_bytes([0, 0, b[0], b[1]])))
            .collect(),
        _ => return Err(shape_error()),
    };
    Ok(values)
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_object<'a>(entries: impl Iterator<Item = (&'a str, String)>) -> String {
    let body: Vec<String> = entries
        .map(|(key, value)| format!("{}: {value}", json_string(key)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

fn tied_json(tied: &[(String, String, bool)]) -> String {
    json_object(tied.iter().map(|(name, source, transposed)| {
        (
            name.as_str(),
            format!(
                "{{\"source\": {}, \"transpose\": {transposed}}}",
                json_string(source)
            ),
        )
    }))
}
