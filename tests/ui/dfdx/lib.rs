//! What `#[tied::layer]` must accept: each module of `pass/` declares layers as a user would and
//! its `#[test] fn runs` builds them and runs a forward, asserting real numbers.
//!
//! They are modules of this library, not trybuild pass cases: trybuild builds and links a pass
//! case at a time, while here they compile once, as a library under `#![deny(missing_docs)]` and
//! each module's own `#![deny(warnings)]` (the generated items are public, so the lint sees them as
//! it would in a user's crate), and once again as its unit tests.
#![deny(missing_docs)]

#[path = "pass/activation-type-parameter.rs"]
pub mod activation_type_parameter;
#[path = "pass/builder-name.rs"]
pub mod builder_name;
#[path = "pass/const-params.rs"]
pub mod const_params;
#[path = "pass/dense-only.rs"]
pub mod dense_only;
#[path = "pass/embedding-head.rs"]
pub mod embedding_head;
#[path = "pass/field-attributes.rs"]
pub mod field_attributes;
#[path = "pass/no-bias.rs"]
pub mod no_bias;
#[path = "pass/same-as.rs"]
pub mod same_as;
#[path = "pass/scalar-bias.rs"]
pub mod scalar_bias;
#[path = "pass/several-layers.rs"]
pub mod several_layers;
#[path = "pass/tied-autoencoder.rs"]
pub mod tied_autoencoder;
#[path = "pass/tuple-shape.rs"]
pub mod tuple_shape;
#[path = "pass/user-pattern.rs"]
pub mod user_pattern;
#[path = "pass/visibility.rs"]
pub mod visibility;
#[path = "pass/where-clause.rs"]
pub mod where_clause;
