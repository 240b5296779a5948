//! Dense checkpoints from Burn layers: the same format as dfdx's (`tied-interop`), against the
//! files PyTorch wrote (`tests/fixtures/pytorch/`) and against what the dfdx front end writes.

use std::collections::HashMap;
use std::path::Path;

// Burn through the facade: the facade has no Burn dev-dependency (it would be built for every
// example), and this is the Burn `tied` is built on.
use burn::module::{Module, Param};
use burn::tensor::{DType, Device as BurnDevice, Tensor as BurnTensor, TensorData};
use tied::burn::burn;
use tied::burn::{export_dense, export_dense_as, import_dense_as, InteropError};
use tied::prelude::*;

use crate::interop::{fixture, temp, AutoEncoderConfig, AE_NAMES};

/// The fixture's tied autoencoder on Burn: 6 -> 3 -> 6, decoder = encoderᵀ.
#[tied::burn::layer(forward = [enc + enc_bias, burn::nn::Relu, dec + dec_bias])]
#[derive(Module, Debug)]
pub struct BurnAutoEncoder {
    #[tied(shape = [i, h])]
    pub enc: Param<burn::tensor::Tensor<2>>,
    #[tied(shape = [h])]
    pub enc_bias: Param<burn::tensor::Tensor<1>>,
    #[tied(transpose_of = enc, shape = [h, i])]
    pub dec: Param<burn::tensor::Tensor<2>>,
    #[tied(shape = [i])]
    pub dec_bias: Param<burn::tensor::Tensor<1>>,
}

/// The fixture's rows-tied linear on Burn: 4 -> 3, `W[i, j] = w[i]`.
#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct BurnRows {
    #[tied(rows, shape = [i, o])]
    pub weight: Param<burn::tensor::Tensor<2>>,
    #[tied(shape = [o])]
    pub bias: Param<burn::tensor::Tensor<1>>,
}

/// A band with a scalar bias: structural zeros and a tied bias.
#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct BurnConv {
    #[tied(banded = 3, shape = [n, n])]
    pub kernel: Param<burn::tensor::Tensor<2>>,
    #[tied(scalar, shape = [n])]
    pub bias: Param<burn::tensor::Tensor<1>>,
}

/// A skew-symmetric layer on Burn (a signed tie), the twin of `interop.rs`'s `SkewLinear`.
#[tied::burn::layer]
#[derive(Module, Debug)]
pub struct BurnSkew {
    #[tied(skew = 6, shape = [n, n])]
    pub weight: Param<burn::tensor::Tensor<2>>,
    #[tied(shape = [n])]
    pub bias: Param<burn::tensor::Tensor<1>>,
}

fn device() -> BurnDevice {
    BurnDevice::flex().autodiff()
}

/// Every tensor of a safetensors file as f64, with its shape, and the metadata.
type FileContents = (
    Vec<(String, Vec<usize>, Vec<f64>)>,
    Option<HashMap<String, String>>,
);

fn contents(path: &Path) -> FileContents {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = ::safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = match view.dtype() {
                ::safetensors::Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect(),
                ::safetensors::Dtype::F64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
                other => panic!("{name}: {other:?}"),
            };
            (name, view.shape().to_vec(), values)
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    (tensors, meta.metadata().clone())
}

fn host<const D: usize>(t: &BurnTensor<D>) -> Vec<f32> {
    t.try_to_vec_as::<f32>().unwrap()
}

#[test]
fn pytorch_checkpoint_gives_pytorch_outputs_on_burn() {
    let device = device();
    let (ckpt, io) = (
        fixture("from_pytorch.safetensors"),
        fixture("from_pytorch_io.safetensors"),
    );
    let (io_tensors, _) = contents(&io);
    let io = |name: &str| -> Vec<f32> {
        let (_, _, v) = io_tensors.iter().find(|(n, ..)| n == name).unwrap();
        v.iter().map(|&v| v as f32).collect()
    };

    let mut ae = BurnAutoEncoderConfig::new(6, 3).init(&device);
    let report = import_dense_as(&mut ae, &ckpt, 1e-6, AE_NAMES).unwrap();
    assert_eq!(report.max_violation(), 0.0, "{report:?}");
    assert_eq!(report.fields.len(), 4);
    let x = BurnTensor::<2>::from_data(TensorData::new(io("x_ae"), [5, 6]), &device);
    let y = host(&ae.forward(x));
    let y_torch = io("y_ae");
    let err = y
        .iter()
        .zip(&y_torch)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-5, "autoencoder: max |y - y_torch| = {err}");

    // The same file into the dfdx layer: the same stored values, to the bit.
    let dev = Cpu::default();
    let mut dfdx_ae = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    tied::import_dense_as(&mut dfdx_ae, &ckpt, 1e-6, AE_NAMES).unwrap();
    assert_eq!(host(&ae.enc.val()), dfdx_ae.enc.as_vec());
    assert_eq!(host(&ae.dec_bias.val()), dfdx_ae.dec_bias.as_vec());

    let mut rows = BurnRowsConfig::new(4, 3).init(&device);
    let report = import_dense_as(&mut rows, &ckpt, 1e-6, |f: &str| format!("rows.{f}")).unwrap();
    assert_eq!(report.max_violation(), 0.0);
    let x = BurnTensor::<2>::from_data(TensorData::new(io("x_rows"), [5, 4]), &device);
    let y = host(&rows.forward(x));
    let y_torch = io("y_rows");
    let err = y
        .iter()
        .zip(&y_torch)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-5, "rows: max |y - y_torch| = {err}");
}

#[test]
fn an_off_tie_checkpoint_is_refused_and_the_burn_layer_kept() {
    let device = device();
    let ckpt = fixture("from_pytorch.safetensors");
    let mut rows = BurnRowsConfig::new(4, 3).init(&device);
    let before = (host(&rows.weight.val()), host(&rows.bias.val()));
    let err = import_dense_as(&mut rows, &ckpt, 1e-3, |f: &str| format!("noisy.{f}")).unwrap_err();
    let InteropError::TieViolated(v) = &err else {
        panic!("expected a tie violation, got {err}");
    };
    // As on dfdx (interop.rs): W[1, 2] was moved by 0.25, its tied value by a third of that.
    assert_eq!((v.field.as_str(), v.i, v.j), ("weight", 1, 2));
    assert!((v.distance() - 0.25 * 2.0 / 3.0).abs() < 1e-6, "{err}");
    assert_eq!((host(&rows.weight.val()), host(&rows.bias.val())), before);
}

#[test]
fn burn_and_dfdx_write_the_same_file() {
    let dev = Cpu::default();
    let device = device();
    let dfdx_ae = dev.build_module::<AutoEncoderConfig<6, 3>, f32>();
    // The Burn layer with the dfdx layer's values.
    let dfdx_path = temp("dfdx_ae.safetensors");
    tied::export_dense(&dfdx_ae, &dfdx_path).unwrap();
    let mut ae = BurnAutoEncoderConfig::new(6, 3).init(&device);
    tied::burn::import_dense(&mut ae, &dfdx_path, 0.0).unwrap();
    let burn_path = temp("burn_ae.safetensors");
    let manifest = export_dense(&ae, &burn_path).unwrap();
    assert_eq!(
        manifest.tied,
        [("dec".to_owned(), "enc".to_owned(), true)],
        "the decoder is written as the encoder's transpose"
    );
    assert_eq!(contents(&burn_path), contents(&dfdx_path));

    // A band with a scalar bias, written from Burn, loads into dfdx's `Conv` of the interop tests.
    let mut conv = BurnConvConfig::new(5).init(&device);
    conv.kernel = conv.kernel.map(|t| t.mul_scalar(2.0));
    let conv_path = temp("burn_conv.safetensors");
    export_dense_as(&conv, &conv_path, |f: &str| format!("conv.{f}")).unwrap();
    let mut dfdx_conv = dev.build_module::<crate::interop::ConvConfig<5>, f32>();
    let report = tied::import_dense_as(&mut dfdx_conv, &conv_path, 0.0, |f: &str| {
        format!("conv.{f}")
    })
    .unwrap();
    assert_eq!(report.max_violation(), 0.0);
    assert_eq!(dfdx_conv.kernel.as_vec(), host(&conv.kernel.val()));
    assert_eq!(dfdx_conv.bias.as_vec(), host(&conv.bias.val()));
}

/// A signed tie's file is the same from both front ends: `−v` below the diagonal, read back into
/// the stored values exactly.
#[test]
fn skew_files_are_the_same_from_burn_and_dfdx() {
    let dev = Cpu::default();
    let device = device();
    let mut dfdx_skew = dev.build_module::<crate::interop::SkewLinearConfig, f32>();
    dfdx_skew.weight = dev.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let dfdx_path = temp("dfdx_skew.safetensors");
    tied::export_dense(&dfdx_skew, &dfdx_path).unwrap();
    let mut skew = BurnSkewConfig::new(4).init(&device);
    let report = tied::burn::import_dense(&mut skew, &dfdx_path, 0.0).unwrap();
    assert_eq!(report.max_violation(), 0.0);
    assert_eq!(host(&skew.weight.val()), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let burn_path = temp("burn_skew.safetensors");
    export_dense(&skew, &burn_path).unwrap();
    assert_eq!(contents(&burn_path), contents(&dfdx_path));
}

#[test]
fn an_f64_burn_layer_is_written_in_f64() {
    let device = device();
    let mut rows = BurnRowsConfig::new(4, 3).init(&device);
    rows.weight = rows.weight.map(|t| t.cast(DType::F64));
    rows.bias = rows.bias.map(|t| t.cast(DType::F64));
    let path = temp("rows64.safetensors");
    export_dense(&rows, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        file.tensor("weight").unwrap().dtype(),
        ::safetensors::Dtype::F64
    );
    let w = rows.weight.val().try_to_vec_as::<f64>().unwrap();
    let (tensors, _) = contents(&path);
    // PyTorch's out×in weight: every entry of row i of W is w[i].
    let (_, shape, dense) = tensors.iter().find(|(n, ..)| n == "weight").unwrap();
    assert_eq!(shape, &[3, 4]);
    for (flat, value) in dense.iter().enumerate() {
        assert_eq!(*value, w[flat % 4]);
    }
}
