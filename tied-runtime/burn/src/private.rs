//! What the code `#[tied::burn::layer]` generates calls, through `::tied::burn::__private`, so a
//! user's scope cannot change its meaning. Not public API.

pub use burn;
pub use std::collections::{BTreeMap, HashMap};
pub use tied_patterns::Picture;

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use crate::{EffectiveField, Error, Tie, TiedTo};

/// The pattern `key` on field `field` of `layer`, `inputs`×`outputs`, checked: its misfit names
/// the field.
pub fn tie(
    layer: &'static str,
    field: &'static str,
    key: &str,
    (inputs, outputs): (usize, usize),
    stated: &[usize],
) -> Result<Tie, Error> {
    Tie::new(key, inputs, outputs, stated).map_err(in_field(layer, field))
}

/// `pattern = P` on field `field` of `layer`: `P`'s [`RuntimePattern`](tied_patterns::RuntimePattern)
/// map at the layer's sizes (literal or the config's), checked as a built-in's.
pub fn runtime_user_tie<P: tied_patterns::RuntimePattern>(
    layer: &'static str,
    field: &'static str,
    (inputs, outputs): (usize, usize),
) -> Result<Tie, Error> {
    Tie::from_index_map(
        P::NAME,
        inputs,
        outputs,
        P::stored_len(inputs, outputs),
        move |i, j| P::index(inputs, outputs, i, j),
    )
    .map_err(in_field(layer, field))
}

/// An error of field `field` of `layer`'s pattern, saying where.
fn in_field(layer: &'static str, field: &'static str) -> impl FnOnce(Error) -> Error {
    move |source| Error::Field {
        layer,
        field,
        source: Box::new(source),
    }
}

/// A rule between two of the config's sizes that the macro could not check (they are runtime).
pub fn same_size(
    layer: &'static str,
    rule: &'static str,
    expected: (&'static str, usize),
    actual: (&'static str, usize),
) -> Result<(), Error> {
    if expected.1 == actual.1 {
        Ok(())
    } else {
        Err(Error::Sizes {
            layer,
            rule,
            expected,
            actual,
        })
    }
}

/// Uniform in ±1/√`fan_in`, as Burn's `Linear` and dfdx's initialize (Kaiming uniform with gain
/// 1/√3).
fn uniform<const D: usize>(shape: [usize; D], fan_in: usize, device: &Device) -> Tensor<D> {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Tensor::random(shape, Distribution::Uniform(-bound, bound), device)
}

/// A tie's stored values, initialized uniform in ±1/√`fan_in`.
pub fn stored<const S: usize>(
    tie: &Tie,
    fan_in: usize,
    device: &Device,
) -> Result<Param<Tensor<S>>, Error> {
    let shape = tie.stored_shape();
    let dims: [usize; S] = shape.as_slice().try_into().map_err(|_| Error::Rank {
        what: "the stored tensor",
        want: shape.len(),
        got: S,
    })?;
    Ok(Param::from_tensor(uniform(dims, fan_in, device)))
}

/// A plain bias of `len`, initialized uniform in ±1/√`fan_in`.
pub fn bias(len: usize, fan_in: usize, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(uniform([len], fan_in, device))
}

/// A tied bias's effective vector (`[O]`): the tie's `1×O` weight.
pub fn bias_effective<const S: usize>(tie: &Tie, stored: Tensor<S>) -> Result<Tensor<1>, Error> {
    Ok(tie.try_effective(stored)?.reshape([tie.outputs()]))
}

/// The module loaded from the burnpack file `path`, or `layer`'s error naming what did not fit;
/// `module` itself is not touched.
pub fn load_file<M: Module>(
    layer: &'static str,
    module: &M,
    path: &std::path::Path,
) -> Result<M, Error> {
    module
        .clone()
        .try_load_file(path)
        .map_err(|err| Error::Load {
            layer,
            message: err.to_string(),
        })
}

/// The message of a failed `init`, as Burn's configs panic.
#[track_caller]
pub fn init_failed(err: Error) -> ! {
    panic!("{err}")
}

/// A weight's effective field: `tie` is its stored field's pattern, `transposed` a
/// `transpose_of` use of it.
pub fn weight_field(
    name: &'static str,
    parameter: &'static str,
    tie: &Tie,
    tied_to: Option<TiedTo>,
    transposed: bool,
) -> EffectiveField {
    let g = tie.clone();
    let (i, o) = (tie.inputs(), tie.outputs());
    let field = if transposed {
        EffectiveField::new(
            name,
            parameter,
            tied_to,
            false,
            (o, i),
            "transpose",
            move |a, b| g.index(b, a),
        )
    } else {
        EffectiveField::new(
            name,
            parameter,
            tied_to,
            false,
            (i, o),
            tie.key(),
            move |a, b| g.index(a, b),
        )
    };
    if !tie.signed() {
        return field;
    }
    let g = tie.clone();
    field.with_signs(move |a, b| {
        let (a, b) = if transposed { (b, a) } else { (a, b) };
        matches!(g.entry(a, b), Some((_, true)))
    })
}

/// A bias's effective field: `tie` for a tied bias (a 1×O pattern), `None` for a plain one (whose
/// length is its stored tensor's).
pub fn bias_field(
    name: &'static str,
    parameter: &'static str,
    tie: Option<&Tie>,
    stored: &Param<Tensor<1>>,
    tied_to: Option<TiedTo>,
) -> EffectiveField {
    let len = tie.map_or_else(|| stored.val().dims()[0], Tie::outputs);
    match tie {
        Some(tie) => {
            let g = tie.clone();
            EffectiveField::new(
                name,
                parameter,
                tied_to,
                true,
                (1, len),
                tie.key(),
                move |a, b| g.index(a, b),
            )
        }
        None => EffectiveField::new(name, parameter, tied_to, true, (1, len), "dense", |_, j| {
            Some(j)
        }),
    }
}

/// A `Param`'s values, row-major, as f64.
pub fn host<const D: usize>(param: &Param<Tensor<D>>) -> Vec<f64> {
    param
        .val()
        .try_to_vec_as::<f64>()
        .expect("a float tensor reads back as f64")
}

/// `param` with `values` (its length, row-major): same id, shape, device and dtype.
pub fn replaced<const D: usize>(param: &Param<Tensor<D>>, values: &[f64]) -> Param<Tensor<D>> {
    param.clone().map(|t| {
        let (dims, device, dtype) = (t.dims(), t.device(), t.dtype());
        let require_grad = t.is_require_grad();
        Tensor::from_data(
            burn::tensor::TensorData::new(values.to_vec(), dims),
            (&device, dtype),
        )
        .set_require_grad(require_grad)
    })
}

/// A `Param`'s dtype.
pub fn dtype<const D: usize>(param: &Param<Tensor<D>>) -> burn::tensor::DType {
    param.val().dtype()
}
