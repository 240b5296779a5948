//! Runtime of [`tied`](https://docs.rs/tied): tie patterns, their lowerings onto dfdx 0.13, pictures of
//! patterns and finite-difference gradient checks.
//!
//! Use it through the `tied` crate; the code `#[tied::layer]` generates calls into this crate
//! through [`__private`] only.
#![deny(missing_docs)]

mod checkpoint;
mod gradcheck;
mod input;
mod interop;
pub mod kernels;
mod layer;
mod lookup;
mod picture;
mod tie;

pub use checkpoint::{LoadChecked, LoadError, LoadOptions, Mismatch};
pub use dfdx;
pub use gradcheck::{gradcheck, gradcheck_with, GradcheckError, GradcheckOptions, GradcheckReport};
pub use input::{Batch, LinearInput};
pub use interop::{
    export_dense, export_dense_as, import_dense, import_dense_as, DenseManifest, DenseNames,
    EffectiveField, FieldFit, ImportReport, IndexFn, InteropError, NegatedFn, TieField, TiedTo,
    TiedWeights, Violation,
};
pub use layer::{
    try_apply_biased, try_build, try_linear, Bias, BuildError, InvalidPattern, TiedDtype, TiedLayer,
};
pub use lookup::try_lookup;
pub use picture::{Picture, PictureOf};
pub use safetensors;
pub use tied_patterns::RuntimePattern;
// Every pattern and its checks: a new pattern in tie.rs is public (and reachable by the macro
// through `__private`) without another list to extend.
pub use tie::*;

/// What the generated code names. Not public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::checkpoint::{LoadChecked, LoadError, LoadOptions};
    pub use crate::input::{Batch, LinearInput};
    pub use crate::interop::{EffectiveField, TieField, TiedTo, TiedWeights};
    pub use crate::layer::{
        assert_tie, check_built, check_field_pattern, device_ok, fan_in_uniform, try_apply_biased,
        try_linear, Bias, CheckedBias, InvalidPattern, SameSize, TiedBias, TiedDtype, TiedLayer,
    };
    pub use crate::lookup::try_lookup;
    pub use crate::picture::{Picture, PictureOf};
    // The built-in patterns, named by the table's `ty` column (`tied_patterns::Pattern::ty`).
    pub use crate::tie::*;
    pub use dfdx;
    pub use dfdx::nn::{
        BuildModule, BuildOnDevice, Module, ModuleVisitor, NonMutableModule, TensorCollection,
    };
    pub use dfdx::shapes::{Dtype, Rank2, ReplaceDimTo, Shape};
    pub use dfdx::tensor::safetensors::SafeDtype;
    pub use dfdx::tensor::{HasErr, PutTape, Tape, Tensor};
    pub use dfdx::tensor_ops::Device;
}
