//! The generated code names everything by absolute path, so a user's module that shadows the
//! prelude (`Result`, `Ok`, `Option`, `Vec`, ...), dfdx's `Tensor`, or even `core` and `tied`
//! cannot change its meaning; and it is clean under strict lints (serde's `test_gen.rs`,
//! thiserror's `test_lints.rs`).

// `unused_qualifications` and `unsafe_code` apply to this module as they did to the crate root.
// rustc skips `missing_docs` in any `--test` build (crate root or module alike); the UI pass case
// `tests/ui/dfdx/pass/field-attributes.rs` checks generated items under `missing_docs` in a library.
#![deny(unused_qualifications, missing_docs, unsafe_code)]

use tied::prelude::*;

/// Layers declared where every name the generated code could lean on means something else.
pub mod shadowed {
    #![allow(dead_code, non_camel_case_types)]

    use ::tied::dfdx::prelude::{Device, Dtype, Rank1, Rank2};

    struct Result;
    struct Ok;
    struct Err;
    type Option = ();
    struct Some;
    struct None;
    struct Vec;
    struct Box;
    struct String;
    struct Tensor;
    // The user's own sizes then name the primitive by its full path, `::core::primitive::usize`.
    struct usize;
    // The user's own sizes then name the primitive by its full path.
    trait Clone {}
    trait Default {}
    trait Sized {}
    trait Module {}
    trait TensorCollection {}
    trait BuildOnDevice {}
    mod core {}
    mod std {}
    mod dfdx {}
    // `#[tied(..)]` must still be read, and `::tied` still found, with a local `tied` in scope.
    mod tied {}

    // The user's fields still name dfdx's tensor, by a path ending in `Tensor` (the macro reads
    // the type by its name, so an alias like `Tensor as DfdxTensor` would not do).

    /// Rows tied, with a bias: the full expansion (struct, builder, collection, module,
    /// accessors).
    #[::tied::layer]
    pub struct Shadowed<const N: ::core::primitive::usize, E: Dtype, D: Device<E>> {
        /// One stored value per input.
        #[tied(rows = N)]
        pub weight: ::tied::dfdx::tensor::Tensor<Rank2<N, N>, E, D>,
        /// One bias per output.
        pub bias: ::tied::dfdx::tensor::Tensor<Rank1<N>, E, D>,
    }

    /// Two weights and no forward, to expand the multi-weight path too.
    #[::tied::layer(builder = PairBuilder)]
    pub struct Pair<E: Dtype, D: Device<E>> {
        /// One stored value per output.
        #[tied(cols)]
        pub left: ::tied::dfdx::tensor::Tensor<Rank2<3, 2>, E, D>,
        /// Dense.
        pub right: ::tied::dfdx::tensor::Tensor<Rank2<2, 3>, E, D>,
    }

    /// Every other generated path: a declared forward with an activation, a transpose tie, a
    /// tied bias, a user pattern, a const-checked stored size.
    #[::tied::layer(forward = [enc + enc_bias, ::tied::dfdx::nn::modules::ReLU, dec + dec_bias])]
    pub struct Everything<const K: ::core::primitive::usize, E: Dtype, D: Device<E>> {
        /// A user pattern.
        #[tied(pattern = Stripes)]
        pub enc: ::tied::dfdx::tensor::Tensor<Rank2<3, 2>, E, D>,
        /// One value.
        #[tied(scalar)]
        pub enc_bias: ::tied::dfdx::tensor::Tensor<Rank1<2>, E, D>,
        /// The encoder's transpose.
        #[tied(transpose_of = enc)]
        pub dec: ::tied::dfdx::tensor::Tensor<Rank2<2, 3>, E, D>,
        /// Dense.
        pub dec_bias: ::tied::dfdx::tensor::Tensor<Rank1<3>, E, D>,
        /// A Toeplitz weight whose stored size is a const parameter.
        #[tied(toeplitz = K)]
        pub extra: ::tied::dfdx::tensor::Tensor<Rank2<2, 2>, E, D>,
    }

    /// `W[i, j] = v[j]`, as a user pattern.
    pub struct Stripes;

    impl<const I: ::core::primitive::usize, const O: ::core::primitive::usize> ::tied::Tie<I, O>
        for Stripes
    {
        type Stored = Rank1<O>;
        const NAME: &'static str = "stripes";
        fn index(
            _i: ::core::primitive::usize,
            j: ::core::primitive::usize,
        ) -> ::core::option::Option<::core::primitive::usize> {
            ::core::option::Option::Some(j)
        }
    }
}

/// A layer in an ordinary scope, where `unused_qualifications` would flag a needless path.
#[tied::layer]
pub struct Plain<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    /// One stored value for the whole matrix.
    #[tied(scalar)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
}

#[test]
fn shadowed_layer_builds_and_runs_forward() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<shadowed::ShadowedConfig<3>, f32>();
    assert_eq!(layer.num_trainable_params(), 3 + 3);
    layer.weight = dev.tensor([1.0, 2.0, 3.0]);
    layer.bias = dev.tensor([0.0, 1.0, 2.0]);
    // W[i, j] = w[i]: x·w = 1 + 4 + 9 = 14 in every output, plus its bias.
    let y = layer.forward(dev.tensor([1.0, 2.0, 3.0]));
    assert_eq!(y.array(), [14.0, 15.0, 16.0]);
    assert_eq!(
        layer.weight_effective(NoneTape).array(),
        [[1.0; 3], [2.0; 3], [3.0; 3]]
    );

    let grads = layer
        .forward(dev.tensor([1.0, 2.0, 3.0]).traced(layer.alloc_grads()))
        .sum()
        .backward();
    // Each w[i] is copied into the 3 entries of row i: its gradient is 3·x[i].
    assert_eq!(grads.get(&layer.weight).array(), [3.0, 6.0, 9.0]);
}

#[test]
fn shadowed_multi_weight_layer_builds() {
    let dev = Cpu::default();
    let mut pair = dev.build_module::<shadowed::PairBuilder, f32>();
    assert_eq!(pair.num_trainable_params(), 2 + 2 * 3);
    pair.left = dev.tensor([1.0, -1.0]);
    let h = pair.matmul_left(dev.tensor([1.0, 2.0, 3.0]));
    assert_eq!(h.array(), [6.0, -6.0]);
    let y = pair.matmul_right(h);
    assert_eq!(y.shape(), &(Const::<3>,));
}

#[test]
fn plain_layer_builds_and_runs_forward() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<PlainConfig<2, 3>, f32>();
    assert_eq!(layer.num_trainable_params(), 1);
    layer.weight = dev.tensor([2.0]);
    // W = 2 everywhere: every output is 2·(1 + 4) = 10.
    let y = layer.forward(dev.tensor([[1.0, 4.0]]));
    assert_eq!(y.array(), [[10.0; 3]]);
}

#[test]
fn shadowed_everything_builds_and_runs_forward() {
    let dev = Cpu::default();
    let mut m = dev.build_module::<shadowed::EverythingConfig<3>, f32>();
    // enc: 2 values, enc_bias: 1, dec: none of its own, dec_bias: 3, extra: 3.
    assert_eq!(m.num_trainable_params(), 2 + 1 + 3 + 3);
    m.enc = dev.tensor([1.0, -1.0]);
    m.enc_bias = dev.tensor([0.5]);
    m.dec_bias = dev.tensor([0.0, 0.0, 1.0]);
    // h = relu([6, -6] + 0.5) = [6.5, 0]; y[i] = h·encᵀ[:, i] = 6.5·1 + 0·(-1) = 6.5 (+ bias).
    let y = m.forward(dev.tensor([1.0, 2.0, 3.0]));
    assert_eq!(y.array(), [6.5, 6.5, 7.5]);
}
