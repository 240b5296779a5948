//! A pattern that cannot be used never produces numbers: a layer with a user pattern that maps
//! past its stored values, leaves one unused or stores nothing is refused however it is built
//! (alone, in a tuple, nested, converted with `to_dtype`/`to_device`), and a layer made without a
//! build (a struct literal) refuses to run its forward rather than reading zeros.

use std::panic::{catch_unwind, AssertUnwindSafe};

use tied::prelude::*;
use tied::{check_pattern, BuildError, PatternError};

/// `W[i, j] = v[(i + j) mod 4]` with only 3 stored values: `W[0, 3]` maps past them.
pub struct Oor;
impl<const I: usize, const O: usize> Tie<I, O> for Oor {
    type Stored = Rank1<3>;
    const NAME: &'static str = "oor";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some((i + j) % 4)
    }
}

/// Stores nothing: every entry a structural zero.
pub struct Nothing;
impl<const I: usize, const O: usize> Tie<I, O> for Nothing {
    type Stored = Rank1<0>;
    const NAME: &'static str = "nothing";
    fn index(_: usize, _: usize) -> Option<usize> {
        None
    }
}

#[tied::layer]
#[derive(Clone, Debug)]
pub struct L<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(pattern = Oor)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
}

#[tied::layer]
#[derive(Clone, Debug)]
pub struct Empty<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(pattern = Nothing)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
}

/// A valid layer, to show the same builds pass when the pattern is right.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct Good<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
}

const OOR: &str =
    "cannot build `L`: field `weight`: pattern `oor` maps W[0, 3] to stored value 3, \
                   but only 3 values are stored (0..3)";

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it must panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

fn refused<T: std::fmt::Debug>(result: Result<T, BuildError<<Cpu as HasErr>::Err>>) -> String {
    match result {
        Err(BuildError::Pattern(err)) => err.to_string(),
        other => panic!("expected a pattern error, got {other:?}"),
    }
}

#[test]
fn refused_alone_in_a_tuple_and_nested() {
    let dev = Cpu::default();
    assert_eq!(refused(tied::try_build::<LConfig<4>, f32, _>(&dev)), OOR);
    assert_eq!(refused(tied::try_build::<(LConfig<4>,), f32, _>(&dev)), OOR);
    assert_eq!(
        refused(tied::try_build::<(LConfig<4>, ReLU), f32, _>(&dev)),
        OOR
    );
    assert_eq!(
        refused(tied::try_build::<
            ((Linear<4, 4>, (ReLU, LConfig<4>)), Tanh),
            f32,
            _,
        >(&dev)),
        OOR
    );
    assert_eq!(
        panic_message(|| {
            let _ = dev.build_module::<(LConfig<4>,), f32>();
        }),
        OOR
    );
    assert_eq!(
        panic_message(|| {
            let _ = dev.build_module::<(Linear<4, 4>, LConfig<4>), f64>();
        }),
        OOR
    );
    // Valid layers build the same ways, and `try_build` takes models without tied layers too.
    assert!(tied::try_build::<(GoodConfig<4>, ReLU, (GoodConfig<4>,)), f32, _>(&dev).is_ok());
    assert!(tied::try_build::<(Linear<4, 2>, ReLU), f32, _>(&dev).is_ok());
    // The collector is gone after `try_build`: a later build panics again.
    assert_eq!(
        panic_message(|| {
            let _ = dev.build_module::<LConfig<4>, f32>();
        }),
        OOR
    );
}

/// A layer made without a build (a struct literal: its fields are public).
fn unbuilt() -> L<4, f32, Cpu> {
    let dev = Cpu::default();
    L {
        weight: dev.tensor([1.0, 2.0, 3.0]),
    }
}

#[test]
fn refused_when_converted() {
    assert_eq!(panic_message(|| drop(unbuilt().to_dtype::<f64>())), OOR);
    assert_eq!(
        panic_message(|| drop(unbuilt().to_device(&Cpu::default()))),
        OOR
    );
    let good = Cpu::default().build_module::<GoodConfig<4>, f32>();
    let _ = good.to_dtype::<f64>();
}

#[test]
fn never_zeros_at_forward() {
    let layer = unbuilt();
    let x = Cpu::default().tensor([1.0f32, 2.0, 3.0, 4.0]);
    let message = panic_message(|| drop(layer.forward(x.clone())));
    assert_eq!(
        message,
        "tied: pattern `oor` maps W[0, 3] to stored value 3, but only 3 values are stored (0..3)"
    );
    // So `gradcheck`, which builds nothing, cannot pass on it either.
    let layer64 = L::<4, f64, Cpu> {
        weight: Cpu::default().tensor([1.0, 2.0, 3.0]),
    };
    let x64 = Cpu::default().tensor([1.0f64, 2.0, 3.0, 4.0]);
    let message = panic_message(|| drop(gradcheck(&layer64, &x64, GradcheckOptions::default())));
    assert!(
        message.contains("maps W[0, 3] to stored value 3"),
        "{message}"
    );
}

#[test]
fn a_pattern_that_stores_nothing_is_refused() {
    assert_eq!(
        check_pattern::<Nothing, 2, 2>(),
        Err(PatternError::NothingStored { pattern: "nothing" })
    );
    let dev = Cpu::default();
    assert_eq!(
        refused(tied::try_build::<(EmptyConfig<2>,), f32, _>(&dev)),
        "cannot build `Empty`: field `weight`: pattern `nothing` stores no values (its `Stored` \
         shape has 0 elements): a tied weight needs at least one parameter"
    );
}
