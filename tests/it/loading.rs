//! The checked loader against every kind of file a user may hand it: another float dtype (f64,
//! f16, bf16), integer bytes, a wrong bias shape, extra tensors, NaN and ±inf, values out of the
//! model dtype's range, a tuple's checkpoint (`0.weight`) and the reverse, whole tuple models.
//! Every refused load leaves every tensor of the model as it was.

use crate::common::{TiedLinear, TiedLinearConfig};
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef,
};
use safetensors::tensor::{Dtype as FileDtype, TensorView};
use std::path::PathBuf;
use tied::prelude::*;
use tied::{LoadError, Mismatch};

/// A dfdx tuple model around a tied layer.
type Model = (TiedLinearConfig<3>, ReLU, Linear<3, 2>);

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tied-loading-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A safetensors file of raw tensors: (name, dtype, shape, little-endian bytes).
fn write_file(name: &str, tensors: &[(&str, FileDtype, Vec<usize>, Vec<u8>)]) -> PathBuf {
    let path = temp_path(name);
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes).unwrap();
            (name.to_string(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, &None, &path).unwrap();
    path
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Every tensor of `model`, by name: to show a refused load changed nothing.
fn snapshot<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<(String, Vec<f32>)> {
    struct Snap(Vec<(String, Vec<f32>)>);
    impl TensorVisitor<f32, Cpu> for Snap {
        type Viewer = (ViewTensorRef, ViewTensorName);
        type Err = <Cpu as HasErr>::Err;
        type E2 = f32;
        type D2 = Cpu;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, Cpu>,
            (t, name): (&Tensor<S, f32, Cpu>, String),
        ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
            self.0.push((name, t.as_vec()));
            Ok(None)
        }
    }
    let mut snap = Snap(Vec::new());
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut snap,
    })
    .unwrap();
    snap.0
}

/// Loads `path` into `model` with `options`, expects a refusal, checks `model` is unchanged, and
/// returns the problems.
fn refused<M: TensorCollection<f32, Cpu>>(
    model: &mut M,
    path: &PathBuf,
    options: LoadOptions,
) -> Vec<Mismatch> {
    let before = snapshot(model);
    let err = model.load_safetensors_with(path, options).unwrap_err();
    assert_eq!(snapshot(model), before, "a refused load changed the model");
    match err {
        LoadError::Mismatch(at, problems) => {
            assert_eq!(&at, path);
            problems
        }
        other => panic!("{other}"),
    }
}

fn layer() -> TiedLinear<3, f32, Cpu> {
    Cpu::seed_from_u64(1).build_module::<TiedLinearConfig<3>, f32>()
}

#[test]
fn an_f64_file_is_refused_then_converted_when_asked() {
    let path = write_file(
        "f64.safetensors",
        &[
            (
                "weight",
                FileDtype::F64,
                vec![3],
                f64_bytes(&[0.1, -2.0, 3.5]),
            ),
            (
                "bias",
                FileDtype::F64,
                vec![3],
                f64_bytes(&[1.0, 0.0, -1.0]),
            ),
        ],
    );
    let mut layer = layer();
    let problems = refused(&mut layer, &path, LoadOptions::default());
    assert_eq!(
        problems[0].to_string(),
        "`weight` is F64 in the file, this model is F32 (`LoadOptions::convert_floats(true)` \
         converts it)"
    );
    assert_eq!(problems.len(), 2);

    layer
        .load_safetensors_with(&path, LoadOptions::default().convert_floats(true))
        .unwrap();
    assert_eq!(layer.weight.array(), [0.1f64 as f32, -2.0, 3.5]);
    assert_eq!(layer.bias.array(), [1.0, 0.0, -1.0]);
}

#[test]
fn an_f16_or_bf16_file_is_refused_then_converted_exactly() {
    // 1.0, -2.0, 1365/4096 in f16; 1.0, -2.0, 0.33203125 in bf16.
    let f16: Vec<u8> = [0x3c00u16, 0xc000, 0x3555]
        .iter()
        .flat_map(|h| h.to_le_bytes())
        .collect();
    let bf16: Vec<u8> = [0x3f80u16, 0xc000, 0x3eaa]
        .iter()
        .flat_map(|h| h.to_le_bytes())
        .collect();
    for (dtype, bytes, third) in [
        (FileDtype::F16, f16, 1365.0 / 4096.0),
        (FileDtype::BF16, bf16, 0.33203125),
    ] {
        let path = write_file(
            &format!("{dtype:?}.safetensors"),
            &[
                ("weight", dtype, vec![3], bytes.clone()),
                ("bias", dtype, vec![3], bytes),
            ],
        );
        let mut layer = layer();
        let problems = refused(&mut layer, &path, LoadOptions::default());
        assert!(
            problems[0].to_string().starts_with(&format!(
                "`weight` is {dtype:?} in the file, this model is F32"
            )),
            "{}",
            problems[0]
        );
        layer
            .load_safetensors_with(&path, LoadOptions::default().convert_floats(true))
            .unwrap();
        assert_eq!(layer.weight.array(), [1.0, -2.0, third]);
    }
}

#[test]
fn integer_bytes_are_never_loaded_as_floats() {
    let ints: Vec<u8> = [1i32, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let path = write_file(
        "i32.safetensors",
        &[
            ("weight", FileDtype::I32, vec![3], ints),
            ("bias", FileDtype::F32, vec![3], f32_bytes(&[0.0; 3])),
        ],
    );
    let mut layer = layer();
    for options in [
        LoadOptions::default(),
        LoadOptions::default().convert_floats(true),
    ] {
        let problems = refused(&mut layer, &path, options);
        assert_eq!(
            problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            [
                "`weight` is I32 in the file, this model is F32 (not a float: it cannot be loaded \
              as parameters)"
            ]
        );
    }
}

#[test]
fn a_wrong_bias_shape_loads_nothing() {
    // The weight fits; dfdx alone would load it and then fail on the bias.
    let path = write_file(
        "bias-shape.safetensors",
        &[
            ("weight", FileDtype::F32, vec![3], f32_bytes(&[7.0; 3])),
            ("bias", FileDtype::F32, vec![2], f32_bytes(&[7.0; 2])),
        ],
    );
    let mut layer = layer();
    let problems = refused(&mut layer, &path, LoadOptions::default());
    assert_eq!(
        problems,
        [Mismatch::Shape {
            name: "bias".into(),
            file: vec![2],
            model: vec![3]
        }]
    );
    assert_eq!(
        problems[0].to_string(),
        "`bias` has shape [2] in the file, this model stores [3]"
    );
}

#[test]
fn extra_tensors_are_refused_unless_allowed() {
    let path = write_file(
        "extra.safetensors",
        &[
            (
                "weight",
                FileDtype::F32,
                vec![3],
                f32_bytes(&[1.0, 2.0, 3.0]),
            ),
            ("bias", FileDtype::F32, vec![3], f32_bytes(&[4.0, 5.0, 6.0])),
            ("scale", FileDtype::F32, vec![1], f32_bytes(&[2.0])),
        ],
    );
    let mut layer = layer();
    let problems = refused(&mut layer, &path, LoadOptions::default());
    assert_eq!(
        problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        [
            "`scale` is in the file but not in this model (`LoadOptions::allow_unknown(true)` \
          ignores it)"
        ]
    );
    layer
        .load_safetensors_with(&path, LoadOptions::default().allow_unknown(true))
        .unwrap();
    assert_eq!(layer.weight.array(), [1.0, 2.0, 3.0]);
    assert_eq!(layer.bias.array(), [4.0, 5.0, 6.0]);
}

#[test]
fn non_finite_values_are_refused_unless_allowed() {
    let path = write_file(
        "nan.safetensors",
        &[
            (
                "weight",
                FileDtype::F32,
                vec![3],
                f32_bytes(&[1.0, f32::NAN, f32::INFINITY]),
            ),
            ("bias", FileDtype::F32, vec![3], f32_bytes(&[0.0; 3])),
        ],
    );
    let mut layer = layer();
    let problems = refused(&mut layer, &path, LoadOptions::default());
    assert_eq!(
        problems[0].to_string(),
        "`weight` holds 2 value(s) that are not finite numbers in the file (first at 1: NaN) \
         (`LoadOptions::allow_non_finite(true)` loads them)"
    );
    assert_eq!(problems.len(), 1);
    layer
        .load_safetensors_with(&path, LoadOptions::default().allow_non_finite(true))
        .unwrap();
    let w = layer.weight.array();
    assert!(w[0] == 1.0 && w[1].is_nan() && w[2] == f32::INFINITY);
}

#[test]
fn values_out_of_the_model_dtype_range_are_refused_when_converting() {
    let path = write_file(
        "huge.safetensors",
        &[
            (
                "weight",
                FileDtype::F64,
                vec![3],
                f64_bytes(&[1.0, 1e300, 0.0]),
            ),
            ("bias", FileDtype::F64, vec![3], f64_bytes(&[0.0; 3])),
        ],
    );
    let mut layer = layer();
    let problems = refused(
        &mut layer,
        &path,
        LoadOptions::default().convert_floats(true),
    );
    assert_eq!(
        problems[0].to_string(),
        "`weight` holds 1 value(s) that are not finite numbers in this model's dtype (first at \
         1: 1e300 is out of range) (`LoadOptions::allow_non_finite(true)` loads them)"
    );
}

#[test]
fn a_tuple_checkpoint_gets_a_prefix_hint_and_loads_with_the_prefix() {
    let dev = Cpu::seed_from_u64(2);
    let model = dev.build_module::<Model, f32>();
    let path = temp_path("tuple.safetensors");
    model.save_safetensors(&path).unwrap();

    let mut layer = layer();
    let problems = refused(&mut layer, &path, LoadOptions::default());
    assert_eq!(
        problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        [
            "`weight` is missing (this model stores [3]); the file has `0.weight`: did you mean \
             to load into the tuple's element 0 (`model.0`), or strip the prefix `0.` \
             (`LoadOptions::default().prefix(\"0.\")`)?",
            "`bias` is missing (this model stores [3]); the file has `0.bias`: did you mean to \
             load into the tuple's element 0 (`model.0`), or strip the prefix `0.` \
             (`LoadOptions::default().prefix(\"0.\")`)?",
        ]
    );

    // With the prefix, element 0 loads; the other elements' tensors are not under it.
    layer
        .load_safetensors_with(&path, LoadOptions::default().prefix("0."))
        .unwrap();
    assert_eq!(layer.weight.array(), model.0.weight.array());
    assert_eq!(layer.bias.array(), model.0.bias.array());
}

#[test]
fn a_layer_checkpoint_into_a_tuple_says_which_element() {
    let source = Cpu::seed_from_u64(3).build_module::<TiedLinearConfig<3>, f32>();
    let path = temp_path("layer.safetensors");
    source.save_safetensors(&path).unwrap();

    let mut model = Cpu::seed_from_u64(4).build_module::<Model, f32>();
    let problems = refused(&mut model, &path, LoadOptions::default());
    assert_eq!(
        problems[0].to_string(),
        "`0.weight` is missing (this model stores [3]); the file has `weight`: the file was \
         saved from this model's `0` alone: did you mean to load it into that part \
         (`model.0`)?"
    );
    // As the hint says.
    model.0.load_safetensors_checked(&path).unwrap();
    assert_eq!(model.0.weight.array(), source.weight.array());
}

#[test]
fn a_whole_tuple_model_loads_checked() {
    let dev = Cpu::seed_from_u64(5);
    let source = dev.build_module::<Model, f32>();
    let path = temp_path("whole.safetensors");
    source.save_safetensors(&path).unwrap();

    let mut model = Cpu::seed_from_u64(6).build_module::<Model, f32>();
    assert_ne!(snapshot(&model), snapshot(&source));
    model.load_safetensors_checked(&path).unwrap();
    assert_eq!(snapshot(&model), snapshot(&source));

    // One element that does not fit: the whole tuple stays as it was, and every problem is named.
    let bad = write_file(
        "whole-bad.safetensors",
        &[
            ("0.weight", FileDtype::F32, vec![3], f32_bytes(&[1.0; 3])),
            ("0.bias", FileDtype::F32, vec![3], f32_bytes(&[1.0; 3])),
            ("2.weight", FileDtype::F32, vec![3, 2], f32_bytes(&[1.0; 6])),
            ("2.bias", FileDtype::F32, vec![2], f32_bytes(&[f32::NAN; 2])),
        ],
    );
    let problems = refused(&mut model, &bad, LoadOptions::default());
    assert_eq!(
        problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        [
            "`2.weight` has shape [3, 2] in the file, this model stores [2, 3]",
            "`2.bias` holds 2 value(s) that are not finite numbers in the file (first at 0: \
             NaN) (`LoadOptions::allow_non_finite(true)` loads them)",
        ]
    );
}

#[test]
fn a_file_that_is_not_safetensors_is_a_format_error() {
    let path = temp_path("garbage.safetensors");
    std::fs::write(&path, b"not a checkpoint").unwrap();
    let mut layer = layer();
    let before = snapshot(&layer);
    let err = layer.load_safetensors_checked(&path).unwrap_err();
    assert!(matches!(err, LoadError::Format(..)), "{err}");
    assert_eq!(snapshot(&layer), before);
}

#[test]
fn an_f32_file_converts_exactly_into_an_f64_model_from_bytes() {
    let source = Cpu::seed_from_u64(7).build_module::<TiedLinearConfig<3>, f32>();
    let path = temp_path("f32-for-f64.safetensors");
    source.save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();

    let mut wide = Cpu::seed_from_u64(8).build_module::<TiedLinearConfig<3>, f64>();
    let before = wide.weight.array();
    let problems = wide
        .load_safetensors_from(&file, LoadOptions::default())
        .unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(wide.weight.array(), before);

    wide.load_safetensors_from(&file, LoadOptions::default().convert_floats(true))
        .unwrap();
    assert_eq!(wide.weight.array(), source.weight.array().map(f64::from));
    assert_eq!(wide.bias.array(), source.bias.array().map(f64::from));
}
