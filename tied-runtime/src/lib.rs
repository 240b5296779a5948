//! Runtime of [`tied`](https://docs.rs/tied): tie patterns, their lowerings onto dfdx 0.13, pictures of
//! patterns and finite-difference gradient checks.
//!
//! Use it through the `tied` crate; the code `#[tied::layer]` generates calls into this crate.

mod checkpoint;
mod gradcheck;
mod input;
pub mod kernels;
mod layer;
mod lookup;
mod picture;
mod tie;

pub use checkpoint::{LoadChecked, LoadError};
pub use dfdx;
pub use gradcheck::{gradcheck, gradcheck_with, GradcheckError, GradcheckOptions, GradcheckReport};
pub use input::{Batch, LinearInput};
pub use layer::{
    check_field_pattern, device_ok, fan_in_uniform, refuse_invalid_patterns, try_apply_biased,
    try_build, try_linear, Bias, BuildError, CheckedBias, InvalidPattern, SameSize, TiedBias,
    TiedDtype, TiedLayer,
};
pub use lookup::try_lookup;
pub use picture::Picture;
pub use tie::{
    check_pattern, gather_effective, Banded, Block, Circulant, Cols, Dense, Hankel, PatternError,
    Rows, Scalar, Symmetric, Tie, Tile, Toeplitz, Transposed,
};
