//! The layers whose work is a real matrix product, in f32 and f64, and one whole training step of
//! each real-data example's model: what `benches/pytorch_products.py` measures in PyTorch.
//!
//! A layer step is one forward of a B = 64 batch through the layer, the sum of the outputs and one
//! backward with every gradient (input, stored values, biases), dfdx's cache on. Cases, at
//! N ∈ {1024, 4096}:
//!
//! - `autoencoder`: N → N/4 → N, the decoder `transpose_of` the encoder, ReLU between;
//! - `dense-field`: a `#[tied::layer]` whose weight has no tie, N×N with a bias;
//! - `symmetric`: `symmetric = N(N + 1)/2`, N×N with a bias;
//! - `dfdx-linear`: dfdx's own `Linear<N, N>` (gemm 0.15), the lowering dense fields had before.
//!
//! - `forward`: a forward alone (no tape, B = 64, f32) of a dense field, `upper_triangular`,
//!   `lower_triangular` and `symmetric`: the triangular ones skip the zero half of `W`.
//!
//! Variants: `tied` (the fused kernels on faer's multiply) and, for the autoencoder and the dense
//! field, `reference` (the same layer with kernels off, `tied::kernels::with_reference`: dfdx's
//! `matmul` and broadcast bias adds, which is what these layers ran before), measured in the same
//! run. The autoencoder also has `untied-dfdx`: the same network as dfdx `Linear`s.
//!
//! `train-step-digits`, `train-step-char_lm` (criterion's N is the batch): one step of `examples/digits.rs`' tied autoencoder (64 → 16 → 64, sigmoid, MSE,
//! batch 32) and of `examples/char_lm.rs`' tied model (vocabulary 64, width 32, context 12,
//! hidden 192, cross-entropy, batch 128): forward, loss, backward, Adam update, zeroing the
//! gradients. Same models, same shapes.
//!
//! `cargo bench --bench products` (about 4 minutes on 2 idle cores), `-- f64` or `-- 4096` to
//! filter, `-- --test` to run each case once. See docs/benchmarks.md for the side-by-side table with PyTorch.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode};
use tied::kernels::with_reference;
use tied::prelude::*;

/// Rows per batch of the layer cases.
const B: usize = 64;

/// A tied layer whose weight has no tie: the dense field's lowering.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct DenseField<const N: usize, E: Dtype, D: Device<E>> {
    pub weight: Tensor<Rank2<N, N>, E, D>,
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// `W = Wᵀ`, `K = N(N + 1)/2` stored values.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct SymmetricLayer<const N: usize, const K: usize, E: Dtype, D: Device<E>> {
    #[tied(symmetric = K)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// Structural zeros below the diagonal, `K = N(N + 1)/2` stored values.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct UpperLayer<const N: usize, const K: usize, E: Dtype, D: Device<E>> {
    #[tied(upper_triangular = K)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// Structural zeros above the diagonal, `K = N(N + 1)/2` stored values.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct LowerLayer<const N: usize, const K: usize, E: Dtype, D: Device<E>> {
    #[tied(lower_triangular = K)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// A tied autoencoder: the decoder is the encoder's transpose.
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct AutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    pub enc: Tensor<Rank2<I, H>, E, D>,
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

/// `examples/digits.rs`' model.
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias, Sigmoid])]
#[derive(Clone, Debug)]
pub struct DigitsAutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    pub enc: Tensor<Rank2<I, H>, E, D>,
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

const VOCAB: usize = 64;
const DIM: usize = 32;
const CONTEXT: usize = 12;
const FLAT: usize = CONTEXT * DIM;
const HIDDEN: usize = 192;

/// `examples/char_lm.rs`' tied model: the head is the embedding's transpose.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct TiedCharLm<E: Dtype, D: Device<E>> {
    pub embed: Tensor<Rank2<VOCAB, DIM>, E, D>,
    pub mix: Tensor<Rank2<FLAT, HIDDEN>, E, D>,
    pub mix_bias: Tensor<Rank1<HIDDEN>, E, D>,
    pub out: Tensor<Rank2<HIDDEN, DIM>, E, D>,
    pub out_bias: Tensor<Rank1<DIM>, E, D>,
    #[tied(transpose_of = embed)]
    pub head: Tensor<Rank2<DIM, VOCAB>, E, D>,
    pub head_bias: Tensor<Rank1<VOCAB>, E, D>,
}

impl TiedCharLm<f32, Cpu> {
    /// `examples/char_lm.rs`' forward, as written there.
    fn logits<T: Tape<f32, Cpu>>(
        &self,
        ids: Tensor<(usize, Const<CONTEXT>), usize, Cpu, T>,
    ) -> Tensor<(usize, Const<VOCAB>), f32, Cpu, T> {
        let batch = ids.shape().0;
        let e: Tensor<(usize, Const<CONTEXT>, Const<DIM>), f32, Cpu, T> = self.lookup_embed(ids);
        let e = e.reshape_like(&(batch, Const::<FLAT>));
        let h = self.matmul_mix(e);
        let shape = *h.shape();
        let h = (h + self.mix_bias.retaped::<T>().broadcast_like(&shape)).tanh();
        let z = self.matmul_out(h);
        let shape = *z.shape();
        let z = z + self.out_bias.retaped::<T>().broadcast_like(&shape);
        let y = self.matmul_head(z);
        let shape = *y.shape();
        y + self.head_bias.retaped::<T>().broadcast_like(&shape)
    }
}

/// One benchmarked step.
struct Case {
    group: String,
    variant: &'static str,
    n: usize,
    step: Box<dyn FnMut()>,
}

/// A layer's step as `variant`, and (when `reference`) with kernels off as `reference`.
fn layer_cases<M, E, const N: usize>(
    dev: &Cpu,
    cases: &mut Vec<Case>,
    group: &str,
    layer: M,
    variant: &'static str,
    reference: bool,
) where
    E: tied::TiedDtype,
    Cpu: Device<E>,
    M: Module<
            Tensor<(usize, Const<N>), E, Cpu, OwnedTape<E, Cpu>>,
            Output = Tensor<(usize, Const<N>), E, Cpu, OwnedTape<E, Cpu>>,
        > + Clone
        + 'static,
{
    // Deterministic values in (−1, 1): the times do not depend on them.
    let values = (0..B * N)
        .map(|k| E::from_f64((k as f64 * 0.618_034).sin()).expect("f32 and f64 take it"))
        .collect();
    let x: Tensor<(usize, Const<N>), E, Cpu> = dev.tensor_from_vec(values, (B, Const::<N>));
    let (l, xx) = (layer.clone(), x.clone());
    cases.push(Case {
        group: format!("{group}/{}", std::any::type_name::<E>()),
        variant,
        n: N,
        step: Box::new(move || {
            black_box(l.forward(xx.leaky_trace()).sum().backward());
        }),
    });
    if reference {
        cases.push(Case {
            group: format!("{group}/{}", std::any::type_name::<E>()),
            variant: "reference",
            n: N,
            step: Box::new(move || {
                with_reference(|| black_box(layer.forward(x.leaky_trace()).sum().backward()));
            }),
        });
    }
}

/// Every layer case at size `N` in dtype `E` (`H = N/4`, `K = N(N + 1)/2`: const generic
/// arithmetic is not expressible on stable Rust).
fn cases_at<E, const N: usize, const H: usize, const K: usize>(dev: &Cpu, cases: &mut Vec<Case>)
where
    E: tied::TiedDtype,
    Cpu: Device<E>,
{
    let ae = dev.build_module::<AutoEncoderConfig<N, H>, E>();
    layer_cases::<_, E, N>(dev, cases, "autoencoder", ae, "tied", true);
    let untied = dev.build_module::<(Linear<N, H>, ReLU, Linear<H, N>), E>();
    layer_cases::<_, E, N>(dev, cases, "autoencoder", untied, "untied-dfdx", false);

    let dense = dev.build_module::<DenseFieldConfig<N>, E>();
    layer_cases::<_, E, N>(dev, cases, "dense-field", dense, "tied", true);
    let symmetric = dev.build_module::<SymmetricLayerConfig<N, K>, E>();
    layer_cases::<_, E, N>(dev, cases, "symmetric", symmetric, "tied", false);
    let linear = dev.build_module::<Linear<N, N>, E>();
    layer_cases::<_, E, N>(dev, cases, "dfdx-linear", linear, "dfdx", false);
}

/// A forward alone (no tape) of an N×N layer, as `group/f32` `variant`: what the triangular
/// patterns promise against a dense field (about half its time, the zero half skipped).
fn forward_case<M, const N: usize>(
    dev: &Cpu,
    cases: &mut Vec<Case>,
    layer: M,
    variant: &'static str,
) where
    M: Module<Tensor<(usize, Const<N>), f32, Cpu>, Output = Tensor<(usize, Const<N>), f32, Cpu>>
        + 'static,
{
    let values = (0..B * N).map(|k| (k as f32 * 0.618_034).sin()).collect();
    let x: Tensor<(usize, Const<N>), f32, Cpu> = dev.tensor_from_vec(values, (B, Const::<N>));
    cases.push(Case {
        group: "forward/f32".into(),
        variant,
        n: N,
        step: Box::new(move || {
            black_box(layer.forward(x.clone()));
        }),
    });
}

/// The forward cases at size `N` (`K = N(N + 1)/2`).
fn forward_cases<const N: usize, const K: usize>(dev: &Cpu, cases: &mut Vec<Case>) {
    let dense = dev.build_module::<DenseFieldConfig<N>, f32>();
    forward_case::<_, N>(dev, cases, dense, "dense-field");
    let upper = dev.build_module::<UpperLayerConfig<N, K>, f32>();
    forward_case::<_, N>(dev, cases, upper, "upper_triangular");
    let lower = dev.build_module::<LowerLayerConfig<N, K>, f32>();
    forward_case::<_, N>(dev, cases, lower, "lower_triangular");
    let symmetric = dev.build_module::<SymmetricLayerConfig<N, K>, f32>();
    forward_case::<_, N>(dev, cases, symmetric, "symmetric");
}

/// One Adam step of each example's model, `tied` and with kernels off.
fn training_cases(dev: &Cpu, cases: &mut Vec<Case>) {
    for (variant, reference) in [("tied", false), ("reference", true)] {
        let run = move |f: &mut dyn FnMut()| {
            if reference {
                with_reference(f)
            } else {
                f()
            }
        };

        // digits: 64 → 16 → 64, batch 32, MSE, Adam (lr 5e-3).
        let mut model = dev.build_module::<DigitsAutoEncoderConfig<64, 16>, f32>();
        let mut opt = Adam::new(
            &model,
            AdamConfig {
                lr: 5e-3,
                ..Default::default()
            },
        );
        let x: Tensor<(usize, Const<64>), f32, Cpu> = dev.sample_uniform_like(&(32, Const::<64>));
        let mut grads = Some(model.alloc_grads());
        cases.push(Case {
            group: "train-step-digits/f32".into(),
            variant,
            n: 32,
            step: Box::new(move || {
                run(&mut || {
                    let g = grads.take().expect("kept between steps");
                    let loss = mse_loss(model.forward_mut(x.trace(g)), x.clone());
                    let mut g = loss.backward();
                    opt.update(&mut model, &g).expect("every parameter is used");
                    model.zero_grads(&mut g);
                    grads = Some(g);
                })
            }),
        });

        // char_lm: contexts of 12 ids, batch 128, cross-entropy against one-hot targets, Adam
        // (lr 2e-3).
        let mut model = dev.build_module::<TiedCharLmConfig, f32>();
        let mut opt = Adam::new(
            &model,
            AdamConfig {
                lr: 2e-3,
                ..Default::default()
            },
        );
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % VOCAB as u64) as usize
        };
        let ids: Vec<usize> = (0..128 * CONTEXT).map(|_| next()).collect();
        let ids = dev.tensor_from_vec(ids, (128, Const::<CONTEXT>));
        let mut onehot = vec![0.0f32; 128 * VOCAB];
        for row in 0..128 {
            onehot[row * VOCAB + next()] = 1.0;
        }
        let targets = dev.tensor_from_vec(onehot, (128, Const::<VOCAB>));
        let mut grads = Some(model.alloc_grads());
        cases.push(Case {
            group: "train-step-char_lm/f32".into(),
            variant,
            n: 128,
            step: Box::new(move || {
                run(&mut || {
                    let g = grads.take().expect("kept between steps");
                    let logits = model.logits(ids.trace(g));
                    let loss = cross_entropy_with_logits_loss(logits, targets.clone());
                    let mut g = loss.backward();
                    opt.update(&mut model, &g).expect("every parameter is used");
                    model.zero_grads(&mut g);
                    grads = Some(g);
                })
            }),
        });
    }
}

fn main() {
    let dev = Cpu::seed_from_u64(0);
    dev.enable_cache();
    let mut cases = Vec::new();
    cases_at::<f32, 1024, 256, 524_800>(&dev, &mut cases);
    cases_at::<f32, 4096, 1024, 8_390_656>(&dev, &mut cases);
    cases_at::<f64, 1024, 256, 524_800>(&dev, &mut cases);
    cases_at::<f64, 4096, 1024, 8_390_656>(&dev, &mut cases);
    training_cases(&dev, &mut cases);
    forward_cases::<1024, 524_800>(&dev, &mut cases);
    forward_cases::<4096, 8_390_656>(&dev, &mut cases);

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .configure_from_args();
    let mut groups: Vec<String> = cases.iter().map(|c| c.group.clone()).collect();
    groups.sort_unstable();
    groups.dedup();
    for name in groups {
        let mut group = c.benchmark_group(&name);
        for case in cases.iter_mut().filter(|c| c.group == name) {
            // Large steps take tens to hundreds of milliseconds: few, flat samples.
            let slow = case.n >= 4096;
            group.sampling_mode(if slow {
                SamplingMode::Flat
            } else {
                SamplingMode::Auto
            });
            group.measurement_time(Duration::from_millis(if slow { 2500 } else { 1000 }));
            group.bench_function(BenchmarkId::new(case.variant, case.n), |b| {
                b.iter(&mut case.step)
            });
            dev.empty_cache();
        }
        group.finish();
    }
    c.final_summary();
}
