//! Tests of `tied-burn`, one binary: every pattern and its transpose against a dense reference,
//! finite differences, the forum's layer, misfits and property tests, on Burn's flex backend
//! with autodiff, in f64; and training with Burn's optimizers, in f32 (a tie is one `Param`).

mod common;
mod gradcheck;
mod index_map;
mod misfit;
mod patterns;
mod props;
mod train;
