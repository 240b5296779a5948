//! Every pattern against its alternatives, in one run: time per training step and peak memory
//! growth per step.
//!
//! One step is one forward of a B = 64 batch of f32 rows through an N×N layer with a bias, the
//! sum of the outputs and one backward, with gradients for the input, the stored values and the
//! bias (`leaky_trace`: every gradient is kept). For N ∈ {256, 1024, 4096}:
//!
//! - `tied`: the `#[tied::layer]` (its fused CPU kernel where the pattern has one);
//! - `hand`: the same runtime call written by hand, `tied_dfdx::try_linear::<P, ..>` (rows and
//!   tile only: the cost of the generated code is the ratio `tied`/`hand`);
//! - `naive`: the same layer's effective weight materialized (`weight_effective`) and multiplied,
//!   `x·W + b` (cache on only at N = 4096: it is the slow reference);
//! - `dense`: dfdx's `Linear<N, N>`, N×N parameters (one group of its own);
//! - `harness`: the step without a layer, `(x * 2).sum()` and its backward: what each case
//!   pays to dfdx (tape, `sum`, the gradients' buffers) before its layer does any work.
//!
//! plus a tied autoencoder 1024 → 256 → 1024 (decoder `transpose_of` the encoder) against the
//! same network untied in dfdx. Each is measured with dfdx's tensor cache off and on
//! (`dev.enable_cache()`), as groups `PATTERN/cache-off` and `PATTERN/cache-on`.
//!
//! Before timing, a table of peak heap growth per step (a counting global allocator: the most
//! bytes live during one warm step minus those live before it) is printed for every case.
//!
//! `cargo bench --bench patterns` (≈10 min on 2 idle cores), `-- --quick` for rough numbers,
//! `-- rows` to filter, `-- --test` to run each case once. See docs/benchmarks.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode};
use tied::prelude::*;
use tied::{Rows, Tile};

/// Rows per batch.
const B: usize = 64;

// ---- Peak memory: a counting allocator -------------------------------------------------------

/// The system allocator, counting the bytes live and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The peak heap growth while `step` runs, in bytes.
fn peak_growth(step: &mut dyn FnMut()) -> usize {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    step();
    PEAK.load(Relaxed).saturating_sub(before)
}

// ---- The layers --------------------------------------------------------------------------------

macro_rules! square_layer {
    ($name:ident, stored K, $($attr:tt)*) => {
        /// An N×N tied layer with K stored values and a bias.
        #[tied::layer]
        #[derive(Clone, Debug)]
        pub struct $name<const N: usize, const K: usize, E: Dtype, D: Device<E>> {
            #[tied($($attr)*)]
            pub weight: Tensor<Rank2<N, N>, E, D>,
            pub bias: Tensor<Rank1<N>, E, D>,
        }
    };
    ($name:ident, $($attr:tt)*) => {
        /// An N×N tied layer with a bias.
        #[tied::layer]
        #[derive(Clone, Debug)]
        pub struct $name<const N: usize, E: Dtype, D: Device<E>> {
            #[tied($($attr)*)]
            pub weight: Tensor<Rank2<N, N>, E, D>,
            pub bias: Tensor<Rank1<N>, E, D>,
        }
    };
}

square_layer!(RowsLayer, rows = N);
square_layer!(ColsLayer, cols = N);
square_layer!(ScalarLayer, scalar);
square_layer!(TileLayer, tile(64, 64));
square_layer!(BlockLayer, block(64, 64));
square_layer!(CirculantLayer, circulant);
square_layer!(BandedLayer, banded = 17);
square_layer!(DiagonalLayer, diagonal);
square_layer!(ToeplitzLayer, stored K, toeplitz = K);
square_layer!(HankelLayer, stored K, hankel = K);
square_layer!(SymmetricLayer, stored K, symmetric = K);

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

// ---- The cases ---------------------------------------------------------------------------------

/// One benchmarked step.
struct Case {
    pattern: &'static str,
    variant: &'static str,
    n: usize,
    /// Measured with the cache off too (the slowest references only with it on).
    cache_off: bool,
    step: Box<dyn FnMut()>,
}

type Input<const N: usize> = Tensor<(usize, Const<N>), f32, Cpu>;

fn input<const N: usize>(dev: &Cpu) -> Input<N> {
    dev.sample_normal_like(&(B, Const::<N>))
}

/// `tied` and `naive` for a generated layer type `$layer` (a `weight` and a `bias`).
macro_rules! pattern_cases {
    ($cases:ident, $dev:ident, $name:literal, $n:ident, $config:ty) => {{
        let layer = $dev.build_module::<$config, f32>();
        let x = input::<$n>(&$dev);
        let (l, xx) = (layer.clone(), x.clone());
        $cases.push(Case {
            pattern: $name,
            variant: "tied",
            n: $n,
            cache_off: true,
            step: Box::new(move || {
                black_box(l.forward(xx.leaky_trace()).sum().backward());
            }),
        });
        $cases.push(Case {
            pattern: $name,
            variant: "naive",
            n: $n,
            cache_off: $n < 4096,
            step: Box::new(move || {
                // One tape for x, W and y: W's expansion is recorded, so its backward sums every
                // copy's gradient into the stored values. W is contiguous: safe in matmul.
                let (x, tape) = x.leaky_trace().split_tape();
                let (w, tape) = layer.weight_effective(tape).split_tape();
                let y = x.put_tape(tape).matmul(w);
                let shape = *y.shape();
                let y = y + layer
                    .bias
                    .retaped::<OwnedTape<f32, Cpu>>()
                    .broadcast_like(&shape);
                black_box(y.sum().backward());
            }),
        });
    }};
}

/// Every case at size `N` (with `K = 2N − 1` and `S = N(N + 1)/2` stored values where a pattern
/// needs them: const generic arithmetic is not expressible on stable Rust).
fn cases_at<const N: usize, const K: usize, const S: usize>(dev: &Cpu, cases: &mut Vec<Case>) {
    pattern_cases!(cases, dev, "rows", N, RowsLayerConfig<N>);
    pattern_cases!(cases, dev, "cols", N, ColsLayerConfig<N>);
    pattern_cases!(cases, dev, "scalar", N, ScalarLayerConfig<N>);
    pattern_cases!(cases, dev, "tile64x64", N, TileLayerConfig<N>);
    pattern_cases!(cases, dev, "block64x64", N, BlockLayerConfig<N>);
    pattern_cases!(cases, dev, "circulant", N, CirculantLayerConfig<N>);
    pattern_cases!(cases, dev, "toeplitz", N, ToeplitzLayerConfig<N, K>);
    pattern_cases!(cases, dev, "hankel", N, HankelLayerConfig<N, K>);
    pattern_cases!(cases, dev, "symmetric", N, SymmetricLayerConfig<N, S>);
    pattern_cases!(cases, dev, "banded17", N, BandedLayerConfig<N>);
    pattern_cases!(cases, dev, "diagonal", N, DiagonalLayerConfig<N>);

    // The generated forward against the runtime call it makes, by hand.
    let rows = dev.build_module::<RowsLayerConfig<N>, f32>();
    let tile = dev.build_module::<TileLayerConfig<N>, f32>();
    let x = input::<N>(dev);
    let xx = x.clone();
    cases.push(Case {
        pattern: "rows",
        variant: "hand",
        n: N,
        cache_off: true,
        step: Box::new(move || {
            let y = tied_dfdx::try_linear::<Rows, N, N, f32, Cpu, _, _>(
                xx.leaky_trace(),
                &rows.weight,
                &rows.bias,
            );
            black_box(y.unwrap().sum().backward());
        }),
    });
    cases.push(Case {
        pattern: "tile64x64",
        variant: "hand",
        n: N,
        cache_off: true,
        step: Box::new(move || {
            let y = tied_dfdx::try_linear::<Tile<64, 64>, N, N, f32, Cpu, _, _>(
                x.leaky_trace(),
                &tile.weight,
                &tile.bias,
            );
            black_box(y.unwrap().sum().backward());
        }),
    });

    // The step without a layer: one elementwise op on the same input, the sum, the backward.
    // What every case above pays to dfdx before its layer does any work.
    let x = input::<N>(dev);
    cases.push(Case {
        pattern: "harness",
        variant: "elementwise",
        n: N,
        cache_off: true,
        step: Box::new(move || {
            black_box((x.leaky_trace() * 2.0).sum().backward());
        }),
    });

    let dense = dev.build_module::<Linear<N, N>, f32>();
    let x = input::<N>(dev);
    cases.push(Case {
        pattern: "dense",
        variant: "dfdx-linear",
        n: N,
        cache_off: true,
        step: Box::new(move || {
            black_box(dense.forward(x.leaky_trace()).sum().backward());
        }),
    });
}

fn autoencoder_cases(dev: &Cpu, cases: &mut Vec<Case>) {
    const I: usize = 1024;
    const H: usize = 256;
    let tied_ae = dev.build_module::<AutoEncoderConfig<I, H>, f32>();
    let untied = dev.build_module::<(Linear<I, H>, ReLU, Linear<H, I>), f32>();
    let x = input::<I>(dev);
    let xx = x.clone();
    cases.push(Case {
        pattern: "autoencoder1024-256",
        variant: "tied",
        n: I,
        cache_off: true,
        step: Box::new(move || {
            black_box(tied_ae.forward(xx.leaky_trace()).sum().backward());
        }),
    });
    cases.push(Case {
        pattern: "autoencoder1024-256",
        variant: "untied-dfdx",
        n: I,
        cache_off: true,
        step: Box::new(move || {
            black_box(untied.forward(x.leaky_trace()).sum().backward());
        }),
    });
}

fn all_cases(dev: &Cpu) -> Vec<Case> {
    let mut cases = Vec::new();
    cases_at::<256, 511, 32_896>(dev, &mut cases);
    cases_at::<1024, 2047, 524_800>(dev, &mut cases);
    cases_at::<4096, 8191, 8_390_656>(dev, &mut cases);
    autoencoder_cases(dev, &mut cases);
    cases
}

// ---- Running -----------------------------------------------------------------------------------

fn id(case: &Case, cache: bool) -> String {
    let cache = if cache { "cache-on" } else { "cache-off" };
    format!("{}/{cache}/{}/{}", case.pattern, case.variant, case.n)
}

/// The filter criterion will apply (its first free argument), to skip the memory pass too.
fn filter() -> Option<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .find(|a| !a.is_empty())
}

fn memory_table(dev: &Cpu, cases: &mut [Case], filter: Option<&str>) {
    println!("peak heap growth per step (MiB), B = {B}, f32:");
    println!("{:<48} {:>10} {:>10}", "case", "cache-off", "cache-on");
    for case in cases.iter_mut() {
        let name = format!("{}/{}/{}", case.pattern, case.variant, case.n);
        let wanted = |cache| filter.is_none_or(|f| id(case, cache).contains(f));
        if !wanted(false) && !wanted(true) {
            continue;
        }
        let mut column = |cache: bool| {
            if cache {
                dev.enable_cache();
            } else {
                dev.disable_cache();
            }
            if !cache && !case.cache_off {
                return "-".to_owned();
            }
            (case.step)();
            let bytes = peak_growth(&mut case.step);
            // Each case starts from an empty cache: buffers of the previous case's sizes would
            // only count as live here.
            dev.empty_cache();
            format!("{:.2}", bytes as f64 / (1 << 20) as f64)
        };
        let off = column(false);
        let on = column(true);
        println!("{name:<48} {off:>10} {on:>10}");
    }
    dev.disable_cache();
}

fn main() {
    let dev = Cpu::seed_from_u64(0);
    let mut cases = all_cases(&dev);
    let filter = filter();
    let test_mode = std::env::args().any(|a| a == "--test" || a == "--list");
    if !test_mode {
        memory_table(&dev, &mut cases, filter.as_deref());
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .configure_from_args();
    for cache in [false, true] {
        if cache {
            dev.enable_cache();
        } else {
            dev.disable_cache();
        }
        let mode = if cache { "cache-on" } else { "cache-off" };
        let patterns: Vec<&'static str> = {
            let mut p: Vec<_> = cases.iter().map(|c| c.pattern).collect();
            p.dedup();
            p.sort_unstable();
            p.dedup();
            p
        };
        for pattern in patterns {
            let mut group = c.benchmark_group(format!("{pattern}/{mode}"));
            for case in cases.iter_mut().filter(|c| c.pattern == pattern) {
                if !cache && !case.cache_off {
                    continue;
                }
                // Large steps take tens to hundreds of milliseconds: few, flat samples.
                let slow = case.n >= 4096 || case.variant == "naive" && case.n >= 1024;
                group.sampling_mode(if slow {
                    SamplingMode::Flat
                } else {
                    SamplingMode::Auto
                });
                group.measurement_time(Duration::from_millis(if slow { 2000 } else { 800 }));
                group.bench_function(BenchmarkId::new(case.variant, case.n), |b| {
                    b.iter(&mut case.step)
                });
                dev.empty_cache();
            }
            group.finish();
        }
    }
    c.final_summary();
}
