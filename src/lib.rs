//! # tied
//!
//! Parameter-tied neural-network layers for [dfdx](https://docs.rs/dfdx) 0.13 (the default
//! `dfdx` feature) and [Burn](https://burn.dev) 0.22 (the `burn` feature), declared with one
//! attribute on a struct field. Each front end is a feature: a user of one builds nothing of the
//! other.
//!
//! See the README for the tour: patterns, what is generated, and how the forward avoids building
//! `W`; the `guide` (with `dfdx`) has a runnable example for every pattern, tie and checkpoint
//! function, and [`burn`] (with `burn`) the same attribute on a Burn module.
#![cfg_attr(
    feature = "dfdx",
    doc = r#"
```
use tied::prelude::*;

/// The forum's layer: every row of `W` is one number.
#[tied::layer]
pub struct TiedLinear<const N: usize, E: Dtype, D: Device<E>> {
    /// `W[i, j] = weight[i]`: N stored values instead of N×N.
    #[tied(rows = N)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    /// One bias per output.
    pub bias: Tensor<Rank1<N>, E, D>,
}

let dev = Cpu::default();
let layer = dev.build_module::<TiedLinearConfig<4>, f32>();
assert_eq!(layer.num_trainable_params(), 8); // 4 weights + 4 biases, not 16 + 4

let x = dev.tensor([1.0, 2.0, 3.0, 4.0]);
let grads = layer.forward(x.traced(layer.alloc_grads())).sum().backward();
// Each stored w[i] is copied into 4 entries of W: its gradient sums all 4.
assert_eq!(grads.get(&layer.weight).array(), [4.0, 8.0, 12.0, 16.0]);
```
"#
)]
#![deny(missing_docs)]

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(all(doctest, feature = "dfdx"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "dfdx")]
pub mod guide;

// Lets the generated `::tied::...` paths resolve in this crate's own tests too.
extern crate self as tied;

/// What a pattern is, framework-free: a pattern of your own written once as a
/// [`RuntimePattern`] serves both front ends (on dfdx through [`ByMap`], with `dfdx`).
pub use tied_patterns::RuntimePattern;

/// The dfdx `tied` is built on (0.13): use it to be sure of the same version.
#[cfg(feature = "dfdx")]
pub use tied_dfdx::dfdx;
/// The safetensors crate dfdx 0.13 saves with: read a checkpoint's header, or load from bytes
/// with [`LoadChecked::load_safetensors_from`].
#[cfg(feature = "dfdx")]
pub use tied_dfdx::safetensors;
#[cfg(feature = "dfdx")]
pub use tied_macros::layer;

/// The Burn 0.22 front end (the `burn` feature): [`burn::layer`], the same attribute on a Burn
/// module struct, and its runtime, every built-in pattern's lowering onto Burn's differentiable
/// ops with runtime sizes ([`burn::Tie`]).
///
/// The forum's layer on Burn: each field states its effective shape, sizes being fields of the
/// generated config.
///
/// ```
/// use tied::burn::burn; // the Burn `tied` is built on; Burn's derives name `burn::..`
/// use burn::module::{Module, Param};
/// use burn::tensor::{Device, Tensor};
///
/// #[tied::burn::layer]
/// #[derive(Module, Debug)]
/// pub struct TiedLinear {
///     /// `W[i, j] = weight[i]`: n stored values instead of n×n.
///     #[tied(rows, shape = [n, n])]
///     pub weight: Param<Tensor<2>>,
///     #[tied(shape = [n])]
///     pub bias: Param<Tensor<1>>,
/// }
///
/// let device = Device::flex().autodiff();
/// let layer = TiedLinearConfig::new(4).init(&device);
/// assert_eq!(layer.num_params(), 8); // 4 weights + 4 biases, not 16 + 4
///
/// let x = Tensor::<1>::from_data([1.0f32, 2.0, 3.0, 4.0], &device);
/// let grads = layer.forward(x).sum().backward();
/// let g = layer.weight.val().grad(&grads).unwrap().try_to_vec_as::<f32>().unwrap();
/// assert_eq!(g, [4.0, 8.0, 12.0, 16.0]); // = 4·x, summed over the copies
///
/// // A size that breaks a pattern's rule is an error at `init`, with the numbers.
/// #[tied::burn::layer]
/// #[derive(Module, Debug)]
/// pub struct Conv {
///     #[tied(toeplitz = k, shape = [i, o])]
///     pub weight: Param<Tensor<2>>,
/// }
/// let err = ConvConfig::new(4, 3, 5).try_init(&device).unwrap_err();
/// assert!(err.to_string().contains("I + O − 1 = 6"));
/// ```
#[cfg(feature = "burn")]
pub mod burn {
    pub use tied_burn::*;
    /// `#[tied::burn::layer]`: a Burn module struct of `Param` fields, each tied field with its
    /// pattern and effective shape (`#[tied(rows, shape = [n, n])]`), becomes a tied Burn
    /// layer: one `Param` per stored tensor, a `Config` with the sizes and `init(&device)`,
    /// `forward(&self, x)`, and per weight its effective tensor, product, row lookup and
    /// picture. See the README's Burn section.
    pub use tied_macros::burn_layer as layer;
}

/// The dfdx release `tied` is built on and tested against.
#[cfg(feature = "dfdx")]
pub const DFDX_VERSION: &str = "0.13";
// The dfdx runtime's public API is the facade's: every pattern, check and error type, and the
// generated code's `__private` module, without a list to keep in step.
/// What the generated code names (through `::tied::__private`). Not public API.
#[cfg(feature = "dfdx")]
#[doc(hidden)]
pub use tied_dfdx::__private;
#[cfg(feature = "dfdx")]
pub use tied_dfdx::*;

/// `use tied::prelude::*;` brings dfdx's prelude, what a training loop needs beyond it (the
/// optimizers), and the names a tied layer is written with.
#[cfg(feature = "dfdx")]
pub mod prelude {
    pub use crate::dfdx::prelude::*;
    // dfdx's prelude has the optimizers' configs and `Optimizer`, but not the optimizers
    // themselves nor the enums their configs take.
    pub use crate::dfdx::optim::{
        Adam, AdamConfig, Momentum, Optimizer, RMSprop, RMSpropConfig, Sgd, SgdConfig, WeightDecay,
    };
    pub use crate::{dfdx, safetensors, DFDX_VERSION};
    pub use crate::{
        gradcheck, GradcheckOptions, LoadChecked, LoadOptions, Picture, PictureOf, Tie,
    };
}
