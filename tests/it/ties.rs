//! Every pattern through the macro, cross-field ties (transpose_of, same_as, the embedding/output
//! head tie), tied biases, declared forwards and user-defined patterns.

use crate::common::*;
use tied::dfdx::optim::{Adam, Optimizer};
use tied::prelude::*;
use tied::{
    Banded, Batch, Block, Circulant, Diagonal, Hankel, Rows, Symmetric, Tile, Toeplitz, Transposed,
};

/// A 1-D convolution with a kernel of 3 written as a banded Toeplitz layer.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct Conv<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(banded = 3)]
    pub kernel: Tensor<Rank2<N, N>, E, D>,
    #[tied(scalar)]
    pub bias: Tensor<Rank1<N>, E, D>,
}

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

pattern_layer!(TileLayer, 4, 6, tile(2, 3));
pattern_layer!(BlockLayer, 4, 6, block(2, 3));
pattern_layer!(ToeplitzLayer, 4, 3, toeplitz = 6);
pattern_layer!(CirculantLayer, 4, 4, circulant);
pattern_layer!(HankelLayer, 3, 4, hankel = 6);
pattern_layer!(SymmetricLayer, 4, 4, symmetric = 10);
pattern_layer!(BandedLayer, 5, 5, banded = 3);
pattern_layer!(DiagonalLayer, 5, 5, diagonal);

/// Reference comparison on all four input kinds, a finite-difference check, and the parameter
/// count (the pattern's stored values plus the bias).
fn check<M, P, const I: usize, const O: usize>(
    layer: &M,
    stored: &Tensor<P::Stored, f64, Cpu>,
    bias: &Tensor<Rank1<O>, f64, Cpu>,
) where
    P: Tie<I, O>,
    M: Clone
        + TensorCollection<f64, Cpu>
        + Module<Tensor<Rank1<I>, f64, Cpu, Owned>, Output = Tensor<Rank1<O>, f64, Cpu, Owned>>
        + Module<Tensor<Rank1<I>, f64, Cpu>, Output = Tensor<Rank1<O>, f64, Cpu>>
        + Module<Batch<I, f64, Cpu, Owned>, Output = Batch<O, f64, Cpu, Owned>>
        + Module<Batch<I, f64, Cpu, NoneTape>, Output = Batch<O, f64, Cpu, NoneTape>>
        + Module<
            Tensor<(usize, usize, Const<I>), f64, Cpu, Owned>,
            Output = Tensor<(usize, usize, Const<O>), f64, Cpu, Owned>,
        > + Module<
            Tensor<(usize, usize, Const<I>), f64, Cpu>,
            Output = Tensor<(usize, usize, Const<O>), f64, Cpu>,
        >,
{
    let dev = Cpu::default();
    let x1: Tensor<Rank1<I>, f64, Cpu> = dev.tensor_from_vec(values(I, 1), (Const,));
    let x2: Batch<I, f64, Cpu, NoneTape> = dev.tensor_from_vec(values(4 * I, 2), (4, Const));
    let x3: Tensor<(usize, usize, Const<I>), f64, Cpu> =
        dev.tensor_from_vec(values(6 * I, 3), (2, 3, Const));
    check_reference::<_, P, I, O, _, _>(layer, stored, Some(bias), x1.clone());
    check_reference::<_, P, I, O, _, _>(layer, stored, Some(bias), x2.clone());
    check_reference::<_, P, I, O, _, _>(layer, stored, Some(bias), x3.clone());
    let opts = GradcheckOptions::default();
    let report = gradcheck(layer, &x1, opts).unwrap_or_else(|e| panic!("{}: {e}", P::NAME));
    gradcheck(layer, &x2, opts).unwrap_or_else(|e| panic!("{}: {e}", P::NAME));
    gradcheck(layer, &x3, opts).unwrap_or_else(|e| panic!("{}: {e}", P::NAME));
    let stored_len = <P::Stored as ConstShape>::NUMEL;
    assert_eq!(
        report.parameters,
        vec![("weight".to_owned(), stored_len), ("bias".to_owned(), O)]
    );
}

fn build<M: BuildOnDevice<Cpu, f64>>() -> M::Built {
    Cpu::seed_from_u64(4).build_module::<M, f64>()
}

#[test]
fn every_pattern_through_the_macro() {
    let l = build::<TileLayerConfig>();
    check::<_, Tile<2, 3>, 4, 6>(&l, &l.weight, &l.bias);
    let l = build::<BlockLayerConfig>();
    check::<_, Block<2, 3>, 4, 6>(&l, &l.weight, &l.bias);
    let l = build::<ToeplitzLayerConfig>();
    check::<_, Toeplitz<6>, 4, 3>(&l, &l.weight, &l.bias);
    let l = build::<CirculantLayerConfig>();
    check::<_, Circulant, 4, 4>(&l, &l.weight, &l.bias);
    let l = build::<HankelLayerConfig>();
    check::<_, Hankel<6>, 3, 4>(&l, &l.weight, &l.bias);
    let l = build::<SymmetricLayerConfig>();
    check::<_, Symmetric<10>, 4, 4>(&l, &l.weight, &l.bias);
    let l = build::<BandedLayerConfig>();
    check::<_, Banded<3>, 5, 5>(&l, &l.weight, &l.bias);
    let l = build::<DiagonalLayerConfig>();
    check::<_, Diagonal, 5, 5>(&l, &l.weight, &l.bias);
}

#[test]
fn num_trainable_params_is_the_distinct_values() {
    assert_eq!(build::<TileLayerConfig>().num_trainable_params(), 6 + 6);
    assert_eq!(build::<ToeplitzLayerConfig>().num_trainable_params(), 6 + 3);
    assert_eq!(
        build::<SymmetricLayerConfig>().num_trainable_params(),
        10 + 4
    );
    assert_eq!(build::<ConvConfig<16>>().num_trainable_params(), 3 + 1);
}

#[test]
fn convolution_as_a_banded_layer_with_a_scalar_bias() {
    let dev = Cpu::default();
    let mut conv = dev.build_module::<ConvConfig<5>, f64>();
    // W[i, j] = v[i − j + 1]: output j sees inputs j−1, j, j+1 through the kernel reversed.
    conv.kernel = dev.tensor([1.0, 10.0, 100.0]);
    conv.bias = dev.tensor([0.5]);
    let y = conv.forward(dev.tensor([1.0, 2.0, 3.0, 4.0, 5.0]));
    let want: Vec<f64> = (0..5)
        .map(|j: usize| {
            let x = |i: isize| {
                if (0..5).contains(&i) {
                    i as f64 + 1.0
                } else {
                    0.0
                }
            };
            let j = j as isize;
            100.0 * x(j + 1) + 10.0 * x(j) + x(j - 1) + 0.5
        })
        .collect();
    assert_eq!(y.as_vec(), want);
    let x = dev.tensor_from_vec(values(5, 8), (Const::<5>,));
    gradcheck(&conv, &x, GradcheckOptions::default()).unwrap();
    assert_eq!(
        conv.kernel_picture().named("W").to_string(),
        "W = [ k2 k1  0  0  0\n      k3 k2 k1  0  0\n       0 k3 k2 k1  0\n       0  0 k3 k2 k1\n       0  0  0 k3 k2 ]\n\
         (5×5 banded: 3 stored values instead of 25)"
    );
}

/// A tied autoencoder: the decoder is the encoder's transpose, stored once.
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct AutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    pub enc: Tensor<Rank2<I, H>, E, D>,
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

#[test]
fn tied_autoencoder_stores_the_encoder_once_and_sums_both_gradients() {
    let dev = Cpu::seed_from_u64(11);
    let ae = dev.build_module::<AutoEncoderConfig<6, 3>, f64>();
    assert_eq!(ae.num_trainable_params(), 6 * 3 + 3 + 6);

    // Reference: the same network with the decoder as a separate leaf copy of encᵀ; the tied
    // gradient of `enc` must be grad(enc) + grad(dec)ᵀ of the untied network.
    let x: Tensor<Rank2<4, 6>, f64, _> = dev.tensor_from_vec(values(24, 12), (Const, Const));
    let r: Tensor<Rank2<4, 6>, f64, _> = dev.tensor_from_vec(values(24, 13), (Const, Const));
    let enc = ae.enc.clone();
    let dec: Tensor<Rank2<3, 6>, f64, _> = ae.enc.clone().permute().contiguous();
    let dec = dev.tensor_from_vec(dec.as_vec(), (Const, Const));
    let h = (x.trace(Gradients::leaky()).matmul(enc.retaped::<Owned>())
        + ae.enc_bias.retaped::<Owned>().broadcast())
    .relu();
    let y = h.matmul(dec.retaped::<Owned>()) + ae.dec_bias.retaped::<Owned>().broadcast();
    let want_y = y.retaped::<NoneTape>().as_vec();
    let g = (y * r.clone()).sum().backward();
    let ge = g.get(&enc).as_vec();
    let gd: Tensor<Rank2<6, 3>, f64, _> = g.get(&dec).permute().contiguous();
    let want_enc: Vec<f64> = ge.iter().zip(gd.as_vec()).map(|(a, b)| a + b).collect();

    let y = ae.forward(x.trace(Gradients::leaky()));
    assert_close("y", &y.retaped::<NoneTape>().as_vec(), &want_y, 1e-12);
    let grads = (y * r).sum().backward();
    assert_close("grad(enc)", &grads.get(&ae.enc).as_vec(), &want_enc, 1e-12);
    assert_close(
        "grad(enc_bias)",
        &grads.get(&ae.enc_bias).as_vec(),
        &g.get(&ae.enc_bias).as_vec(),
        1e-12,
    );

    gradcheck(&ae, &x, GradcheckOptions::default()).unwrap();

    // The decoder's effective weight is the encoder's transpose, before and after training.
    let check_transpose = |ae: &AutoEncoder<6, 3, f64, Cpu>| {
        let e = ae.enc_effective(NoneTape).array();
        let d = ae.dec_effective(NoneTape).array();
        for i in 0..6 {
            for j in 0..3 {
                assert_eq!(d[j][i], e[i][j]);
            }
        }
    };
    check_transpose(&ae);
    let mut ae = ae;
    let mut opt = Adam::new(&ae, Default::default());
    for _ in 0..5 {
        let loss = mse_loss(ae.forward(x.trace(ae.alloc_grads())), x.clone());
        let grads = loss.backward();
        opt.update(&mut ae, &grads).unwrap();
    }
    check_transpose(&ae);
}

#[test]
fn the_autoencoder_saves_one_encoder() {
    let dev = Cpu::default();
    let ae = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    let path = std::env::temp_dir().join(format!("tied-ae-{}.safetensors", std::process::id()));
    ae.save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["dec_bias", "enc", "enc_bias"]);
    let mut back = Cpu::seed_from_u64(1).build_module::<AutoEncoderConfig<6, 3>, f32>();
    back.load_safetensors_checked(&path).unwrap();
    assert_eq!(
        back.dec_effective(NoneTape).array(),
        ae.dec_effective(NoneTape).array()
    );
}

/// ALBERT-style sharing: one weight used by two layers.
#[tied::layer(forward = [first + b1, Tanh, second + b2])]
#[derive(Clone, Debug)]
pub struct Shared<const H: usize, E: Dtype, D: Device<E>> {
    pub first: Tensor<Rank2<H, H>, E, D>,
    pub b1: Tensor<Rank1<H>, E, D>,
    #[tied(same_as = first)]
    pub second: Tensor<Rank2<H, H>, E, D>,
    pub b2: Tensor<Rank1<H>, E, D>,
}

#[test]
fn same_as_shares_one_weight_between_layers() {
    let dev = Cpu::seed_from_u64(3);
    let m = dev.build_module::<SharedConfig<4>, f64>();
    assert_eq!(m.num_trainable_params(), 16 + 4 + 4);
    let x: Tensor<Rank2<2, 4>, f64, _> = dev.tensor_from_vec(values(8, 4), (Const, Const));
    gradcheck(&m, &x, GradcheckOptions::default()).unwrap();
    // The same as two dfdx Linears holding the same (transposed) weight, run by hand.
    let w = m.first.clone();
    let h = (x.clone().matmul(w.clone()) + m.b1.clone().broadcast()).tanh();
    let y = h.matmul(w) + m.b2.clone().broadcast();
    assert_close("y", &m.forward(x).as_vec(), &y.as_vec(), 1e-12);
}

/// Press & Wolf: the output head is the embedding's transpose.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct TiedLm<const V: usize, const H: usize, E: Dtype, D: Device<E>> {
    pub embed: Tensor<Rank2<V, H>, E, D>,
    #[tied(transpose_of = embed)]
    pub head: Tensor<Rank2<H, V>, E, D>,
}

#[test]
fn embedding_and_output_head_share_one_matrix() {
    let dev = Cpu::seed_from_u64(5);
    let lm = dev.build_module::<TiedLmConfig<7, 3>, f64>();
    assert_eq!(lm.num_trainable_params(), 21);
    let ids: Tensor<(usize,), usize, Cpu> = dev.tensor_from_vec(vec![2, 5, 2, 0], (4,));
    // logits = embed[ids] · embedᵀ, hand-written from the generated accessors.
    let h: Batch<3, f64, Cpu, Owned> = lm.lookup_embed(ids.trace(Gradients::leaky()));
    let logits = lm.matmul_head(h);
    let r: Batch<7, f64, Cpu, NoneTape> = dev.tensor_from_vec(values(28, 6), (4, Const));
    let grads = (logits * r.clone()).sum().backward();
    let got = grads.get(&lm.embed).as_vec();

    // Reference: two separate leaves, gradients summed.
    let e = lm.embed.as_vec();
    let table: Tensor<Rank2<7, 3>, f64, _> = dev.tensor_from_vec(e.clone(), (Const, Const));
    let head: Tensor<Rank2<3, 7>, f64, _> = dev.tensor_from_vec(
        (0..21).map(|k| e[(k % 7) * 3 + k / 7]).collect(),
        (Const, Const),
    );
    let idx: Tensor<(usize,), usize, Cpu> = dev.tensor_from_vec(vec![2, 5, 2, 0], (4,));
    let h2: Batch<3, f64, Cpu, Owned> = table.retaped::<Owned>().gather(idx);
    let l2 = h2.matmul(head.retaped::<Owned>());
    let g2 = (l2 * r).sum().backward();
    let gt = g2.get(&table).as_vec();
    let gh = g2.get(&head).as_vec();
    let want: Vec<f64> = (0..21).map(|k| gt[k] + gh[(k % 3) * 7 + k / 3]).collect();
    assert_close("grad(embed)", &got, &want, 1e-12);
}

/// A user-defined pattern: a checkerboard of two values.
pub struct Checkerboard;

impl<const I: usize, const O: usize> Tie<I, O> for Checkerboard {
    type Stored = Rank1<2>;
    const NAME: &'static str = "checkerboard";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some((i + j) % 2)
    }
}

#[tied::layer]
#[derive(Clone, Debug)]
pub struct Board<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(pattern = Checkerboard)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    pub bias: Tensor<Rank1<N>, E, D>,
}

#[test]
fn a_user_pattern_in_the_attribute() {
    let b = build::<BoardConfig<4>>();
    check::<_, Checkerboard, 4, 4>(&b, &b.weight, &b.bias);
    assert_eq!(b.num_trainable_params(), 2 + 4);
    assert_eq!(b.weight_picture().label(1, 2), "w2");
}

/// Patterns that break the rules: one reads past the stored values, one leaves a value unused.
pub struct OutOfRange;
impl<const I: usize, const O: usize> Tie<I, O> for OutOfRange {
    type Stored = Rank1<3>;
    const NAME: &'static str = "out_of_range";
    fn index(i: usize, j: usize) -> Option<usize> {
        Some(i + j)
    }
}

pub struct Unused;
impl<const I: usize, const O: usize> Tie<I, O> for Unused {
    type Stored = Rank1<5>;
    const NAME: &'static str = "unused";
    fn index(_: usize, j: usize) -> Option<usize> {
        Some(j % 2)
    }
}

#[tied::layer]
#[derive(Debug)]
pub struct Bad<E: Dtype, D: Device<E>> {
    #[tied(pattern = OutOfRange)]
    pub weight: Tensor<Rank2<3, 2>, E, D>,
}

#[tied::layer]
#[derive(Debug)]
pub struct Wasteful<E: Dtype, D: Device<E>> {
    #[tied(pattern = Unused)]
    pub weight: Tensor<Rank2<3, 2>, E, D>,
}

#[test]
fn an_invalid_user_pattern_is_refused_when_built() {
    let dev = Cpu::default();
    let err = tied::try_build::<BadConfig, f32, _>(&dev).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot build `Bad`: field `weight`: pattern `out_of_range` maps W[2, 1] to stored value \
         3, but only 3 values are stored (0..3)"
    );
    let err = tied::try_build::<WastefulConfig, f32, _>(&dev).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot build `Wasteful`: field `weight`: pattern `unused` never uses stored value 2 of \
         5: it would be a parameter without a gradient"
    );
    let panic = std::panic::catch_unwind(|| {
        let _ = Cpu::default().build_module::<BadConfig, f32>();
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("cannot build `Bad`: field `weight`"),
        "{message}"
    );
    assert!(tied::try_build::<BoardConfig<3>, f32, _>(&dev).is_ok());
}

/// Sizes as const parameters: the stored length is checked when the layer is built.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct GenericToeplitz<const I: usize, const O: usize, const K: usize, E: Dtype, D: Device<E>> {
    #[tied(toeplitz = K)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
}

#[test]
fn const_generic_stored_sizes() {
    let l = Cpu::default().build_module::<GenericToeplitzConfig<4, 3, 6>, f64>();
    assert_eq!(l.num_trainable_params(), 6);
    let x = Cpu::default().tensor_from_vec(values(4, 2), (Const::<4>,));
    gradcheck(&l, &x, GradcheckOptions::default()).unwrap();
    let _ = Transposed::<Rows>::default();
}
