//! Empty batches and empty sequences (B = 0, S = 0): every pattern, tie and accessor gives an empty
//! output and, backward, an empty input gradient and a zero gradient for every stored value.
//!
//! The loss reduces the batch axes first (`y.sum::<Rank1<O>, _>()`): dfdx 0.13's `sum()` straight
//! to a scalar divides by the element count and panics on any empty tensor, tied or not.

use tied::dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef,
};
use tied::prelude::*;
use tied::Batch;

type Owned = OwnedTape<f64, Cpu>;
type Seq<const F: usize, T = NoneTape> = Tensor<(usize, usize, Const<F>), f64, Cpu, T>;

macro_rules! pattern_layer {
    ($name:ident, $i:literal, $o:literal, $($attr:tt)*) => {
        #[tied::layer]
        #[derive(Clone, Debug)]
        pub struct $name<E: Dtype, D: Device<E>> {
            #[tied($($attr)*)]
            pub weight: Tensor<Rank2<$i, $o>, E, D>,
            pub bias: Tensor<Rank1<$o>, E, D>,
        }
    };
}

pattern_layer!(RowsLayer, 3, 2, rows);
pattern_layer!(ColsLayer, 3, 2, cols);
pattern_layer!(ScalarLayer, 3, 2, scalar);
pattern_layer!(TileLayer, 4, 6, tile(2, 3));
pattern_layer!(BlockLayer, 4, 6, block(2, 3));
pattern_layer!(ToeplitzLayer, 4, 3, toeplitz = 6);
pattern_layer!(CirculantLayer, 4, 4, circulant);
pattern_layer!(HankelLayer, 3, 4, hankel = 6);
pattern_layer!(SymmetricLayer, 4, 4, symmetric = 10);
pattern_layer!(BandedLayer, 5, 5, banded = 3);
pattern_layer!(BoardLayer, 3, 3, pattern = Checkerboard);

/// `rows` without a bias: the output is the pattern's broadcast view alone.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct RowsNoBias<E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<3, 2>, E, D>,
}

/// No tie at all: what dfdx's `Linear` would be.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct DenseLayer<E: Dtype, D: Device<E>> {
    pub weight: Tensor<Rank2<3, 2>, E, D>,
    pub bias: Tensor<Rank1<2>, E, D>,
}

/// Two values, alternating: a user pattern (also a `Tie<1, O>` for a bias).
pub struct Checkerboard;
impl<const I: usize, const O: usize> Tie<I, O> for Checkerboard {
    type Stored = Rank1<2>;
    const NAME: &'static str = "checkerboard";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some((i + j) % 2)
    }
}

/// A tied autoencoder whose encoder is a `cols` tie: the decoder runs `cols`' transposed lowering.
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct ColsAutoEncoder<E: Dtype, D: Device<E>> {
    #[tied(cols)]
    pub enc: Tensor<Rank2<4, 3>, E, D>,
    pub enc_bias: Tensor<Rank1<3>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<3, 4>, E, D>,
    pub dec_bias: Tensor<Rank1<4>, E, D>,
}

/// One weight used twice (`same_as`), tied biases (`scalar`, `pattern`, `same_as`).
#[tied::layer(forward = [first + b1, Tanh, second + b2, ReLU, third + b3])]
#[derive(Clone, Debug)]
pub struct SharedLayer<E: Dtype, D: Device<E>> {
    #[tied(toeplitz = 5)]
    pub first: Tensor<Rank2<3, 3>, E, D>,
    #[tied(scalar)]
    pub b1: Tensor<Rank1<3>, E, D>,
    #[tied(same_as = first)]
    pub second: Tensor<Rank2<3, 3>, E, D>,
    #[tied(pattern = Checkerboard)]
    pub b2: Tensor<Rank1<3>, E, D>,
    #[tied(transpose_of = first)]
    pub third: Tensor<Rank2<3, 3>, E, D>,
    #[tied(same_as = b1)]
    pub b3: Tensor<Rank1<3>, E, D>,
}

/// A language model whose output head is its embedding transposed.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct TiedLm<E: Dtype, D: Device<E>> {
    pub embed: Tensor<Rank2<7, 3>, E, D>,
    #[tied(transpose_of = embed)]
    pub head: Tensor<Rank2<3, 7>, E, D>,
}

fn build<M: BuildOnDevice<Cpu, f64>>() -> M::Built {
    Cpu::seed_from_u64(5).build_module::<M, f64>()
}

/// Asserts that `grads` holds a gradient for every stored tensor of `model`, and that it is zero.
fn assert_zero_grads<M: TensorCollection<f64, Cpu>>(model: &M, grads: &Gradients<f64, Cpu>) {
    struct Zero<'a>(&'a Gradients<f64, Cpu>, usize);
    impl TensorVisitor<f64, Cpu> for Zero<'_> {
        type Viewer = (ViewTensorRef, ViewTensorName);
        type Err = <Cpu as HasErr>::Err;
        type E2 = f64;
        type D2 = Cpu;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f64, Cpu>,
            (t, name): (&Tensor<S, f64, Cpu>, String),
        ) -> Result<Option<Tensor<S, f64, Cpu>>, Self::Err> {
            let g = self.0.get(t).as_vec();
            assert_eq!(g.len(), t.shape().num_elements(), "`{name}`");
            assert!(g.iter().all(|v| *v == 0.0), "`{name}`: {g:?}");
            self.1 += 1;
            Ok(None)
        }
    }
    let mut zero = Zero(grads, 0);
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut zero,
    })
    .unwrap();
    assert!(zero.1 > 0);
}

/// `check` with its argument types fixed by `model`'s.
fn typed<M, F: Fn(&M, &Gradients<f64, Cpu>)>(_model: &M, check: F) -> F {
    check
}

/// `apply` (a forward or an accessor taking `I` features to `O`) on a (0, I), a (2, 0, I) and a
/// (0, 3, I) input, on both tapes: empty outputs; backward, an empty input gradient and zero
/// gradients for every stored tensor of `model` (or only those of the fields listed: an accessor
/// does not touch the bias).
macro_rules! check_empty {
    ($model:expr, $i:literal -> $o:literal, |$m:ident, $x:ident| $apply:expr) => {
        check_empty!($model, $i -> $o, |$m, $x| $apply, |m, grads| assert_zero_grads(m, grads))
    };
    ($model:expr, $i:literal -> $o:literal, |$m:ident, $x:ident| $apply:expr, only $($field:ident),+) => {
        check_empty!($model, $i -> $o, |$m, $x| $apply, |m, grads| {
            $(
                let g = grads.get(&m.$field).as_vec();
                assert!(g.iter().all(|v| *v == 0.0), "`{}`: {g:?}", stringify!($field));
            )+
        })
    };
    ($model:expr, $i:literal -> $o:literal, |$m:ident, $x:ident| $apply:expr, |$gm:ident, $g:ident| $check:expr) => {{
        let model = $model;
        let check = typed(&model, |$gm, $g| $check);
        let $m = &model;
        let dev = Cpu::default();

        let x: Batch<$i, f64, Cpu, NoneTape> = dev.zeros_like(&(0, Const));
        let y: Batch<$o, f64, Cpu, NoneTape> = {
            let $x = x.clone();
            $apply
        };
        assert_eq!(y.shape().concrete(), [0, $o]);
        let y: Batch<$o, f64, Cpu, Owned> = {
            let $x = x.leaky_trace();
            $apply
        };
        assert_eq!(y.shape().concrete(), [0, $o]);
        let grads = y.sum::<Rank1<$o>, _>().sum().backward();
        // (`as_vec` cannot read an empty tensor: it too reads element 0.)
        assert_eq!(grads.get(&x).shape().concrete(), [0, $i]);
        check($m, &grads);

        for (b, s) in [(2, 0), (0, 3)] {
            let x: Seq<$i> = dev.zeros_like(&(b, s, Const));
            let y: Seq<$o> = {
                let $x = x.clone();
                $apply
            };
            assert_eq!(y.shape().concrete(), [b, s, $o]);
            let y: Seq<$o, Owned> = {
                let $x = x.leaky_trace();
                $apply
            };
            assert_eq!(y.shape().concrete(), [b, s, $o]);
            let grads = y.sum::<Rank1<$o>, _>().sum().backward();
            assert_eq!(grads.get(&x).shape().concrete(), [b, s, $i]);
            check($m, &grads);
        }
    }};
}

/// The layer's forward and its `matmul_weight` accessor on empty inputs.
macro_rules! check_layer {
    ($config:ident, $i:literal -> $o:literal) => {{
        check_empty!(build::<$config>(), $i -> $o, |m, x| m.forward(x));
        check_empty!(build::<$config>(), $i -> $o, |m, x| m.matmul_weight(x), only weight);
    }};
}

#[test]
fn rows() {
    check_layer!(RowsLayerConfig, 3 -> 2);
}

#[test]
fn rows_without_bias() {
    check_layer!(RowsNoBiasConfig, 3 -> 2);
}

#[test]
fn cols() {
    check_layer!(ColsLayerConfig, 3 -> 2);
}

#[test]
fn scalar() {
    check_layer!(ScalarLayerConfig, 3 -> 2);
}

#[test]
fn tile() {
    check_layer!(TileLayerConfig, 4 -> 6);
}

#[test]
fn block() {
    check_layer!(BlockLayerConfig, 4 -> 6);
}

#[test]
fn toeplitz() {
    check_layer!(ToeplitzLayerConfig, 4 -> 3);
}

#[test]
fn circulant() {
    check_layer!(CirculantLayerConfig, 4 -> 4);
}

#[test]
fn hankel() {
    check_layer!(HankelLayerConfig, 3 -> 4);
}

#[test]
fn symmetric() {
    check_layer!(SymmetricLayerConfig, 4 -> 4);
}

#[test]
fn banded() {
    check_layer!(BandedLayerConfig, 5 -> 5);
}

#[test]
fn user_pattern() {
    check_layer!(BoardLayerConfig, 3 -> 3);
}

#[test]
fn dense() {
    check_layer!(DenseLayerConfig, 3 -> 2);
}

#[test]
fn cols_transpose_of() {
    check_empty!(build::<ColsAutoEncoderConfig>(), 4 -> 4, |m, x| m.forward(x));
    check_empty!(build::<ColsAutoEncoderConfig>(), 3 -> 4, |m, x| m.matmul_dec(x), only enc);
}

#[test]
fn same_as_and_tied_biases() {
    check_empty!(build::<SharedLayerConfig>(), 3 -> 3, |m, x| m.forward(x));
    check_empty!(build::<SharedLayerConfig>(), 3 -> 3, |m, x| m.matmul_second(x), only first);
    check_empty!(build::<SharedLayerConfig>(), 3 -> 3, |m, x| m.matmul_third(x), only first);
}

#[test]
fn transposed_head() {
    check_empty!(build::<TiedLmConfig>(), 3 -> 7, |m, x| m.matmul_head(x), only embed);
}

/// dfdx's own `Linear` on the same inputs: the behaviour the tied layers match.
#[test]
fn dfdx_linear_for_comparison() {
    check_empty!(build::<Linear<3, 2>>(), 3 -> 2, |m, x| m.forward(x));
}

/// `lookup_*` with no ids: (0,) and (2, 0) ids give empty rows, and the embedding a zero gradient.
#[test]
fn lookup_of_no_ids() {
    let dev = Cpu::default();
    let lm = build::<TiedLmConfig>();
    let none: Tensor<(usize,), usize, Cpu> = dev.zeros_like(&(0,));
    let h: Batch<3, f64, Cpu, Owned> = lm.lookup_embed(none.trace(Gradients::leaky()));
    assert_eq!(h.shape().concrete(), [0, 3]);
    let logits = lm.matmul_head(h);
    assert_eq!(logits.shape().concrete(), [0, 7]);
    let grads = logits.sum::<Rank1<7>, _>().sum().backward();
    assert_zero_grads(&lm, &grads);

    let none: Tensor<(usize, usize), usize, Cpu> = dev.zeros_like(&(2, 0));
    let h: Seq<3, Owned> = lm.lookup_embed(none.trace(Gradients::leaky()));
    assert_eq!(h.shape().concrete(), [2, 0, 3]);
    let grads = h.sum::<Rank1<3>, _>().sum().backward();
    assert_zero_grads(&lm, &grads);
}

/// An empty input that is a strided view (a permuted empty sequence batch), which dfdx cannot
/// reshape without copying.
#[test]
fn permuted_empty_input() {
    let dev = Cpu::default();
    let layer = build::<RowsLayerConfig>();
    for (b, s) in [(0, 3), (3, 0)] {
        let x: Seq<3> = dev.zeros_like(&(b, s, Const));
        let x = x.permute::<_, Axes3<1, 0, 2>>();
        let y: Seq<2, Owned> = layer.forward(x.leaky_trace());
        assert_eq!(y.shape().concrete(), [s, b, 2]);
        let grads = y.sum::<Rank1<2>, _>().sum().backward();
        assert_eq!(grads.get(&x).shape().concrete(), [s, b, 3]);
        assert_zero_grads(&layer, &grads);
    }
}

/// An empty batch through a dfdx tuple around tied layers, in a training step: the gradients
/// `alloc_grads` keeps are zero, and an Adam step leaves every parameter as it was.
#[test]
fn a_training_step_on_an_empty_batch_changes_nothing() {
    type Model = (
        RowsNoBiasConfig,
        ReLU,
        Linear<2, 4>,
        TileLayerConfig,
        Tanh,
        Linear<6, 2>,
    );
    let mut model = build::<Model>();
    let before = model.clone();
    let mut adam = Adam::new(&model, AdamConfig::default());
    let x: Batch<3, f64, Cpu, NoneTape> = Cpu::default().zeros_like(&(0, Const));
    let y = model.forward(x.trace(model.alloc_grads()));
    assert_eq!(y.shape().concrete(), [0, 2]);
    let grads = y.sum::<Rank1<2>, _>().sum().backward();
    assert_zero_grads(&model, &grads);
    adam.update(&mut model, &grads).unwrap();
    assert_eq!(model.0.weight.array(), before.0.weight.array());
    assert_eq!(model.2.weight.array(), before.2.weight.array());
    assert_eq!(model.3.weight.array(), before.3.weight.array());
    assert_eq!(model.3.bias.array(), before.3.bias.array());
    assert_eq!(model.5.bias.array(), before.5.bias.array());
}

/// `gradcheck` on an empty batch says why it cannot check instead of panicking in dfdx's `sum`;
/// `gradcheck_with` and a loss that reduces the batch axis first checks the parameters (their
/// gradients are zero, and so are the finite differences).
#[test]
fn gradcheck_on_an_empty_batch() {
    let model = build::<TileLayerConfig>();
    let x: Batch<4, f64, Cpu, NoneTape> = Cpu::default().zeros_like(&(0, Const));
    let err = tied::gradcheck(&model, &x, Default::default()).unwrap_err();
    assert_eq!(err, tied::GradcheckError::Empty { tensor: "input" });
    assert!(err.to_string().contains("no elements"), "{err}");

    let report = tied::gradcheck_with(&model, &x, Default::default(), |m, x| {
        m.forward(x).sum::<Rank1<6>, _>().sum()
    })
    .unwrap();
    // The tile's 2×3 stored values and the bias's 6, each compared; no input entries.
    assert_eq!(report.checked, 6 + 6);
    assert_eq!(report.max_abs_error, 0.0);
}
