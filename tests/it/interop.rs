//! PyTorch checkpoints both ways, against files PyTorch wrote (`tests/fixtures/pytorch/`, made by
//! `make_fixture.py` there, which also checks the Rust-exported file in PyTorch when run).
//!
//! Tolerances: PyTorch and dfdx both compute in f32, with different summation orders; outputs
//! agree to 1e-5 absolute. Weights go through f32 unchanged (a mean of equal copies is exact).

use std::path::{Path, PathBuf};

use tied::prelude::*;
use tied::{export_dense, export_dense_as, import_dense, import_dense_as, InteropError};

/// The fixture's tied autoencoder: 6 -> 3 -> 6, decoder = encoderᵀ.
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
#[derive(Clone, Debug)]
pub struct AutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    pub enc: Tensor<Rank2<I, H>, E, D>,
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

/// The fixture's rows-tied linear: 4 -> 3, `W[i, j] = w[i]`.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct RowsLinear<const I: usize, const O: usize, E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<I, O>, E, D>,
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// A banded layer with a tied (scalar) bias: structural zeros and a bias pattern.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct Conv<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(banded = 3)]
    pub kernel: Tensor<Rank2<N, N>, E, D>,
    #[tied(scalar)]
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// A skew-symmetric layer: a signed tie (`W[j, i] = −W[i, j]`, a zero diagonal).
#[tied::layer]
#[derive(Clone, Debug)]
pub struct SkewLinear<E: Dtype, D: Device<E>> {
    #[tied(skew = 6)]
    pub weight: Tensor<Rank2<4, 4>, E, D>,
    pub bias: Tensor<Rank1<4>, E, D>,
}

/// PyTorch's names of the fixture's autoencoder (also read by `burn_interop.rs`).
pub const AE_NAMES: [(&str, &str); 4] = [
    ("enc", "ae.encoder.weight"),
    ("enc_bias", "ae.encoder.bias"),
    ("dec", "ae.decoder.weight"),
    ("dec_bias", "ae.decoder.bias"),
];

/// A file of `tests/fixtures/pytorch/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

/// A path in this run's scratch folder.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tied-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `(shape, values)` of an f32 tensor in a safetensors file.
fn read(path: &Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = file.tensor(name).unwrap();
    assert_eq!(view.dtype(), ::safetensors::Dtype::F32, "{name}");
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), values)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn pytorch_checkpoint_gives_pytorch_outputs() {
    let dev = Cpu::default();
    let (ckpt, io) = (
        fixture("from_pytorch.safetensors"),
        fixture("from_pytorch_io.safetensors"),
    );

    let mut ae = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    let report = import_dense_as(&mut ae, &ckpt, 1e-6, AE_NAMES).unwrap();
    // PyTorch's decoder weight is exactly the encoder's transpose: no violation at all.
    assert_eq!(report.max_violation(), 0.0, "{report:?}");
    assert_eq!(report.fields.len(), 4);
    let (_, x) = read(&io, "x_ae");
    let (_, y_torch) = read(&io, "y_ae");
    let y = ae.forward(dev.tensor_from_vec(x, (Const::<5>, Const::<6>)));
    let err = max_diff(&y.as_vec(), &y_torch);
    assert!(err < 1e-5, "autoencoder: max |y - y_torch| = {err}");

    let mut rows = dev.build_module::<RowsLinearConfig<4, 3>, f32>();
    let names = |field: &str| format!("rows.{field}");
    let report = import_dense_as(&mut rows, &ckpt, 1e-6, names).unwrap();
    assert_eq!(report.max_violation(), 0.0);
    let (_, x) = read(&io, "x_rows");
    let (_, y_torch) = read(&io, "y_rows");
    let y = rows.forward(dev.tensor_from_vec(x, (Const::<5>, Const::<4>)));
    let err = max_diff(&y.as_vec(), &y_torch);
    assert!(err < 1e-5, "rows: max |y - y_torch| = {err}");
    // The rows tie stores one value per input: the first column of PyTorch's weight.
    let (_, w) = read(&ckpt, "rows.weight");
    assert_eq!(rows.weight.as_vec(), w[..4].to_vec());
}

#[test]
fn off_tie_checkpoint_is_refused_and_the_model_kept() {
    let dev = Cpu::default();
    let ckpt = fixture("from_pytorch.safetensors");
    let mut rows = dev.build_module::<RowsLinearConfig<4, 3>, f32>();
    let before = (rows.weight.as_vec(), rows.bias.as_vec());

    let names = |field: &str| format!("noisy.{field}");
    let err = import_dense_as(&mut rows, &ckpt, 1e-3, names).unwrap_err();
    let InteropError::TieViolated(v) = &err else {
        panic!("expected a tie violation, got {err}");
    };
    // make_fixture.py moved PyTorch's weight[2, 1] = W[1, 2] by 0.25: W[1, ·] = (w, w, w + 0.25),
    // projected to w + 0.25/3, so that entry is off by 2/3·0.25.
    assert_eq!(
        (v.field.as_str(), v.name.as_str(), v.i, v.j),
        ("weight", "noisy.weight", 1, 2)
    );
    assert!((v.distance() - 0.25 * 2.0 / 3.0).abs() < 1e-6, "{v:?}");
    assert!((v.dense - v.projected - 0.25 * 2.0 / 3.0).abs() < 1e-6);
    let message = err.to_string();
    assert!(
        message.contains("field `weight` (rows)")
            && message.contains("W[1, 2]")
            && message.contains("`noisy.weight[2, 1]`"),
        "{message}"
    );
    assert_eq!((rows.weight.as_vec(), rows.bias.as_vec()), before);

    // With a tolerance above it, the projection loads and the report says how far off it was.
    let report = import_dense_as(&mut rows, &ckpt, 0.5, names).unwrap();
    assert!((report.fields[0].max_violation - 0.25 * 2.0 / 3.0).abs() < 1e-6);
    let (_, w) = read(&ckpt, "noisy.weight");
    assert!((rows.weight.as_vec()[1] - (w[1] + 0.25 / 3.0)).abs() < 1e-6);
}

#[test]
fn missing_and_misshapen_tensors_are_refused() {
    let dev = Cpu::default();
    let ckpt = fixture("from_pytorch.safetensors");
    let mut ae = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    let before = ae.enc.as_vec();

    // Field names as dfdx names them are not in a PyTorch file.
    let err = import_dense(&mut ae, &ckpt, 1e-6).unwrap_err();
    assert!(
        matches!(&err, InteropError::Missing { field, name } if field == "enc" && name == "enc"),
        "{err}"
    );
    // A 6×3 weight where 3×6 is expected (the rows layer's names on the autoencoder's shape).
    let mut wrong = dev.build_module::<RowsLinearConfig<3, 6>, f32>();
    let err =
        import_dense_as(&mut wrong, &ckpt, 1e-6, [("weight", "ae.encoder.weight")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `weight`: `ae.encoder.weight` is [3, 6] of F32 in the file, expected [6, 3] of \
         F32, F64 or BF16"
    );
    assert_eq!(ae.enc.as_vec(), before);
}

#[test]
fn tied_decoder_may_be_absent_from_the_file() {
    let dev = Cpu::default();
    let ae = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    let path = temp("no-decoder.safetensors");
    let full = export_dense(&ae, &path).unwrap();
    assert_eq!(full.tensors.len(), 4);

    // A file without `dec` (PyTorch code that ties by `F.linear(h, enc.weight.t())`).
    let bytes = std::fs::read(&path).unwrap();
    let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<_> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "dec")
        .collect();
    let path2 = temp("no-decoder-2.safetensors");
    ::safetensors::serialize_to_file(kept, &None, &path2).unwrap();

    let mut other = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    let report = import_dense(&mut other, &path2, 0.0).unwrap();
    assert_eq!(report.absent, ["dec"]);
    assert_eq!(other.enc.as_vec(), ae.enc.as_vec());
    assert_eq!(other.dec_bias.as_vec(), ae.dec_bias.as_vec());
}

/// `import_dense` averages every copy: for a band, each diagonal's mean; a scalar bias, the mean
/// bias; a non-zero outside the band is its own violation.
#[test]
fn projection_is_the_mean_of_copies() {
    let dev = Cpu::default();
    let conv = dev.build_module::<ConvConfig<4>, f64>();
    let path = temp("conv.safetensors");
    export_dense(&conv, &path).unwrap();

    // Overwrite with a dense f64 checkpoint: weight[j][i] = W[i, j] = 10·i + j, bias 1..=4.
    let w: Vec<f64> = (0..16).map(|f| (10 * (f % 4) + f / 4) as f64).collect();
    let b: Vec<f64> = vec![1.0, 2.0, 3.0, 4.0];
    let (wb, bb): (Vec<u8>, Vec<u8>) = (
        w.iter().flat_map(|x| x.to_le_bytes()).collect(),
        b.iter().flat_map(|x| x.to_le_bytes()).collect(),
    );
    let views = [
        (
            "kernel",
            ::safetensors::tensor::TensorView::new(::safetensors::Dtype::F64, vec![4, 4], &wb)
                .unwrap(),
        ),
        (
            "bias",
            ::safetensors::tensor::TensorView::new(::safetensors::Dtype::F64, vec![4], &bb)
                .unwrap(),
        ),
    ];
    ::safetensors::serialize_to_file(views, &None, &path).unwrap();

    let mut loaded = conv.clone();
    let err = import_dense(&mut loaded, &path, 1.0).unwrap_err();
    // W[3, 1] = 31, the largest entry outside the band (|i − j| > 1), is a structural zero: off by 31.
    let InteropError::TieViolated(v) = err else {
        panic!("expected a violation")
    };
    assert_eq!((v.i, v.j, v.dense, v.projected), (3, 1, 31.0, 0.0));

    let report = import_dense(&mut loaded, &path, 100.0).unwrap();
    assert_eq!(report.fields[0].max_violation, 31.0);
    // Banded<3> stores v[i − j + 1]: i − j = −1 → (1, 12, 23), 0 → (0, 11, 22, 33), 1 → (10, 21, 32).
    assert_eq!(loaded.kernel.array(), [12.0, 16.5, 21.0]);
    assert_eq!(loaded.bias.array(), [2.5]);
    assert_eq!(report.fields[1].max_violation, 1.5);
}

/// A signed tie exports `−v` below the diagonal, and imports a dense `W` as the strict upper
/// triangle of `(W − Wᵀ)/2` (each value the mean of `W[a, b]` and `−W[b, a]`); the violation is
/// how far `W` was from skew (its symmetric part, the diagonal included).
#[test]
fn skew_exports_signs_and_imports_the_antisymmetric_part() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<SkewLinearConfig, f32>();
    layer.weight = dev.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let path = temp("skew.safetensors");
    export_dense(&layer, &path).unwrap();
    // weight[j][i] = W[i, j] (PyTorch's out×in), W = [0 1 2 3 / −1 0 4 5 / −2 −4 0 6 / −3 −5 −6 0].
    let (shape, wt) = read(&path, "weight");
    assert_eq!(shape, [4, 4]);
    let w = |i: usize, j: usize| wt[j * 4 + i];
    assert_eq!(
        [w(0, 1), w(1, 0), w(1, 3), w(3, 1), w(2, 2)],
        [1.0, -1.0, 5.0, -5.0, 0.0]
    );
    let mut back = layer.clone();
    let report = import_dense(&mut back, &path, 0.0).unwrap();
    assert_eq!(back.weight.array(), layer.weight.array());
    assert_eq!(report.fields[0].max_violation, 0.0);

    // A dense f64 checkpoint: W[i, j] = 10·i + j, far from skew.
    let w: Vec<f64> = (0..16).map(|f| (10 * (f % 4) + f / 4) as f64).collect();
    let b: Vec<f64> = vec![1.0, 2.0, 3.0, 4.0];
    let (wb, bb): (Vec<u8>, Vec<u8>) = (
        w.iter().flat_map(|x| x.to_le_bytes()).collect(),
        b.iter().flat_map(|x| x.to_le_bytes()).collect(),
    );
    let views = [
        (
            "weight",
            ::safetensors::tensor::TensorView::new(::safetensors::Dtype::F64, vec![4, 4], &wb)
                .unwrap(),
        ),
        (
            "bias",
            ::safetensors::tensor::TensorView::new(::safetensors::Dtype::F64, vec![4], &bb)
                .unwrap(),
        ),
    ];
    ::safetensors::serialize_to_file(views, &None, &path).unwrap();
    let mut loaded = dev.build_module::<SkewLinearConfig, f64>();
    // The worst entry is the diagonal's W[3, 3] = 33, a structural zero.
    let InteropError::TieViolated(v) = import_dense(&mut loaded, &path, 1.0).unwrap_err() else {
        panic!("expected a violation")
    };
    assert_eq!((v.i, v.j, v.dense, v.projected), (3, 3, 33.0, 0.0));
    let report = import_dense(&mut loaded, &path, 100.0).unwrap();
    // (W[a, b] − W[b, a])/2 = (10a + b − 10b − a)/2 = −4.5·(b − a), for (0, 1), (0, 2), (0, 3),
    // (1, 2), (1, 3), (2, 3).
    assert_eq!(loaded.weight.array(), [-4.5, -9.0, -13.5, -4.5, -9.0, -4.5]);
    assert_eq!(loaded.bias.array(), [1.0, 2.0, 3.0, 4.0]);
    // Off the diagonal W[a, b] − (−4.5·(b − a)) = 5.5·(a + b), at most 27.5; the diagonal, 33.
    assert_eq!(report.fields[0].max_violation, 33.0);
}

/// Rust → file: the export matches the committed `from_rust.safetensors`, which
/// `make_fixture.py` loads in PyTorch and checks against the outputs committed here.
#[test]
fn rust_export_matches_committed_file() {
    let dev = Cpu::seed_from_u64(7);
    let ae = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    let names = [
        ("enc", "encoder.weight"),
        ("enc_bias", "encoder.bias"),
        ("dec", "decoder.weight"),
        ("dec_bias", "decoder.bias"),
    ];
    let x: Tensor<Rank2<5, 6>, f32, _> = dev.sample_normal();
    let y = ae.forward(x.clone());

    let path = temp("from_rust.safetensors");
    let manifest = export_dense_as(&ae, &path, names).unwrap();
    assert_eq!(
        manifest.tied,
        [(
            "decoder.weight".to_owned(),
            "encoder.weight".to_owned(),
            true
        )]
    );
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = ::safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["format"], "pt");
    assert_eq!(
        meta["tied_weights_keys"],
        r#"{"decoder.weight": {"source": "encoder.weight", "transpose": true}}"#
    );
    assert_eq!(
        meta["patterns"],
        r#"{"encoder.weight": "dense", "encoder.bias": "dense", "decoder.weight": "transpose", "decoder.bias": "dense"}"#
    );

    // PyTorch's nn.Linear layout: out×in, the decoder its own dense weight = encoder's transpose.
    let (enc_shape, enc) = read(&path, "encoder.weight");
    let (dec_shape, dec) = read(&path, "decoder.weight");
    assert_eq!((enc_shape, dec_shape), (vec![3, 6], vec![6, 3]));
    let w = ae.enc.array(); // W, 6×3
    for i in 0..6 {
        for j in 0..3 {
            assert_eq!(enc[j * 6 + i], w[i][j]);
            assert_eq!(dec[i * 3 + j], w[i][j]);
        }
    }

    let committed = fixture("from_rust.safetensors");
    let committed_io = fixture("from_rust_io.safetensors");
    if std::env::var_os("TIED_WRITE_FIXTURES").is_some() {
        std::fs::copy(&path, &committed).unwrap();
        let (xs, ys) = (x.as_vec(), y.as_vec());
        let (xb, yb): (Vec<u8>, Vec<u8>) = (
            xs.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ys.iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        let f32 = ::safetensors::Dtype::F32;
        let views = [
            (
                "x",
                ::safetensors::tensor::TensorView::new(f32, vec![5, 6], &xb).unwrap(),
            ),
            (
                "y",
                ::safetensors::tensor::TensorView::new(f32, vec![5, 6], &yb).unwrap(),
            ),
        ];
        ::safetensors::serialize_to_file(views, &None, &committed_io).unwrap();
    }
    // Same tensors and metadata (safetensors 0.3 writes metadata in hash order: not bytes).
    let old = std::fs::read(&committed).unwrap();
    let (_, old_meta) = ::safetensors::SafeTensors::read_metadata(&old).unwrap();
    assert_eq!(
        old_meta.metadata().clone().unwrap(),
        meta,
        "the export changed: regenerate with TIED_WRITE_FIXTURES=1 and rerun make_fixture.py"
    );
    for (_, name) in names {
        assert_eq!(read(&committed, name), read(&path, name), "{name} changed");
    }
    // The outputs `make_fixture.py` checks PyTorch against are this model's.
    let (_, x_committed) = read(&committed_io, "x");
    let (_, y_committed) = read(&committed_io, "y");
    let y2 = ae.forward(dev.tensor_from_vec(x_committed, (Const::<5>, Const::<6>)));
    assert!(max_diff(&y2.as_vec(), &y_committed) < 1e-6);
}

/// PyTorch file → tied → file gives back PyTorch's tensors exactly.
#[test]
fn round_trip_keeps_pytorch_tensors() {
    let dev = Cpu::default();
    let ckpt = fixture("from_pytorch.safetensors");
    let mut ae = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    import_dense_as(&mut ae, &ckpt, 0.0, AE_NAMES).unwrap();
    let path = temp("round-trip.safetensors");
    export_dense_as(&ae, &path, AE_NAMES).unwrap();
    for (_, name) in AE_NAMES {
        assert_eq!(read(&path, name), read(&ckpt, name), "{name}");
    }
}

/// dfdx's own `Linear` (weight stored out×in, as PyTorch) goes through the same functions.
#[test]
fn dfdx_linear_round_trip() {
    let dev = Cpu::default();
    let ckpt = fixture("from_pytorch.safetensors");
    let mut linear = dev.build_module::<Linear<4, 3>, f32>();
    import_dense_as(&mut linear, &ckpt, 0.0, |f: &str| format!("rows.{f}")).unwrap();
    let (_, w) = read(&ckpt, "rows.weight");
    assert_eq!(linear.weight.as_vec(), w);
}

/// A whole dfdx tuple model, tied layers between dfdx's: every field under its element's index
/// (`0.weight`, `2.dec`: the names `nn.Sequential` gives the same layers in PyTorch), ties
/// between fields of one element kept with both names prefixed, and the round trip exact.
#[test]
fn a_tuple_model_round_trips_under_sequential_names() {
    type Model = (
        RowsLinearConfig<4, 6>,
        ReLU,
        AutoEncoderConfig<6, 3>,
        Tanh,
        Linear<6, 2>,
    );
    let dev = Cpu::default();
    let model = dev.build_module::<Model, f32>();
    let path = temp("tuple.safetensors");
    let manifest = export_dense(&model, &path).unwrap();
    let names: Vec<&str> = manifest.tensors.iter().map(|t| t.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "2.enc",
            "2.enc_bias",
            "2.dec",
            "2.dec_bias",
            "4.weight",
            "4.bias"
        ]
    );
    assert_eq!(
        manifest.tied,
        [("2.dec".to_owned(), "2.enc".to_owned(), true)]
    );
    // Each dense tensor is the effective weight, out×in, as PyTorch's `nn.Linear` holds it.
    let (shape, w0) = read(&path, "0.weight");
    assert_eq!(shape, [6, 4]);
    let eff = model.0.weight_effective(NoneTape).as_vec();
    let transposed: Vec<f32> = (0..24).map(|f| eff[(f % 4) * 6 + f / 4]).collect();
    assert_eq!(w0, transposed);
    let (shape, w4) = read(&path, "4.weight");
    assert_eq!((shape, w4), (vec![2, 6], model.4.weight.as_vec()));

    // Into a freshly initialized model: the same parameters, the same outputs.
    let mut other = dev.build_module::<Model, f32>();
    let report = import_dense(&mut other, &path, 0.0).unwrap();
    assert_eq!(report.max_violation(), 0.0, "{report:?}");
    assert!(report.unused.is_empty() && report.absent.is_empty());
    assert_eq!(other.0.weight.as_vec(), model.0.weight.as_vec());
    assert_eq!(other.2.enc.as_vec(), model.2.enc.as_vec());
    assert_eq!(other.4.bias.as_vec(), model.4.bias.as_vec());
    let x: Tensor<Rank2<3, 4>, f32, Cpu> = dev.sample_normal();
    assert_eq!(other.forward(x.clone()).as_vec(), model.forward(x).as_vec());
}

/// A tuple's tied field may be missing from the file like a layer's; the names in the report and
/// the errors carry the element's index.
#[test]
fn a_tuple_models_errors_name_the_element() {
    type Model = (Linear<2, 6>, AutoEncoderConfig<6, 3>);
    let dev = Cpu::default();
    let model = dev.build_module::<Model, f32>();
    let path = temp("tuple-errors.safetensors");
    export_dense(&model, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let without = |drop: &str| {
        let kept: Vec<_> = file
            .tensors()
            .into_iter()
            .filter(|(name, _)| name != drop)
            .collect();
        let out = temp(&format!("tuple-without-{drop}.safetensors"));
        ::safetensors::serialize_to_file(kept, &None, &out).unwrap();
        out
    };

    let mut other = dev.build_module::<Model, f32>();
    let report = import_dense(&mut other, without("1.dec"), 0.0).unwrap();
    assert_eq!(report.absent, ["1.dec"]);
    assert_eq!(other.1.enc.as_vec(), model.1.enc.as_vec());

    let mut untouched = dev.build_module::<Model, f32>();
    let before = untouched.1.enc.as_vec();
    let err = import_dense(&mut untouched, without("1.enc_bias"), 0.0).unwrap_err();
    assert!(
        matches!(&err, InteropError::Missing { field, name } if field == "1.enc_bias" && name == "1.enc_bias"),
        "{err}"
    );
    assert_eq!(untouched.1.enc.as_vec(), before);
}
