//! The generated `TensorCollection`, builder and `Module` do what dfdx users rely on: optimizers,
//! zero_grads, reset_params, to_device, to_dtype, num_trainable_params, safetensors, tuple models.

use crate::common::*;
use tied::dfdx::optim::{Adam, Optimizer, RMSprop, Sgd, SgdConfig};
use tied::prelude::*;

/// Inputs and targets a rows-tied layer can fit exactly.
fn regression(
    dev: &Cpu,
) -> (
    Tensor<Rank2<32, 4>, f32, Cpu>,
    Tensor<Rank2<32, 4>, f32, Cpu>,
) {
    let x: Tensor<Rank2<32, 4>, f32, _> = dev.sample_normal();
    let w = dev.tensor([0.5f32, -1.0, 1.5, 2.0]);
    let b = dev.tensor([0.1f32, 0.2, -0.3, 0.0]);
    let dot = (x.clone() * w.broadcast()).sum::<Rank1<32>, _>();
    let y = dot.broadcast() + b.broadcast();
    (x, y)
}

fn train<O: Optimizer<TiedLinear<4, f32, Cpu>, Cpu, f32>>(
    layer: &mut TiedLinear<4, f32, Cpu>,
    opt: &mut O,
    steps: usize,
) -> (f32, f32) {
    let dev = Cpu::seed_from_u64(1);
    let (x, y) = regression(&dev);
    let mut grads = layer.alloc_grads();
    let mut losses = Vec::new();
    for _ in 0..steps {
        let loss = mse_loss(layer.forward_mut(x.trace(grads)), y.clone());
        losses.push(loss.array());
        grads = loss.backward();
        opt.update(layer, &grads).expect("all parameters used");
        layer.zero_grads(&mut grads);
    }
    (losses[0], losses[steps - 1])
}

#[test]
fn adam_lowers_the_loss() {
    let dev = Cpu::seed_from_u64(0);
    let mut layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    let mut opt = Adam::new(
        &layer,
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let (first, last) = train(&mut layer, &mut opt, 200);
    assert!(last < first * 1e-3, "Adam: loss {first} -> {last}");
    assert!(layer
        .weight
        .array()
        .iter()
        .zip([0.5, -1.0, 1.5, 2.0])
        .all(|(a, b)| (a - b).abs() < 1e-2));
}

#[test]
fn sgd_lowers_the_loss() {
    let dev = Cpu::seed_from_u64(0);
    let mut layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    let mut opt = Sgd::new(
        &layer,
        SgdConfig {
            lr: 0.01,
            ..Default::default()
        },
    );
    let (first, last) = train(&mut layer, &mut opt, 200);
    assert!(last < first * 0.01, "Sgd: loss {first} -> {last}");
}

#[test]
fn rmsprop_lowers_the_loss() {
    let dev = Cpu::seed_from_u64(0);
    let mut layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    let mut opt = RMSprop::new(
        &layer,
        RMSpropConfig {
            lr: 0.01,
            ..Default::default()
        },
    );
    let (first, last) = train(&mut layer, &mut opt, 300);
    assert!(last < first * 0.01, "RMSprop: loss {first} -> {last}");
}

#[test]
fn sgd_step_moves_each_stored_value_by_its_summed_gradient() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    let before = layer.weight.array();
    let x = dev.tensor([1.0f32, 2.0, 3.0, 4.0]);
    let grads = layer.forward(x.trace(layer.alloc_grads())).sum().backward();
    let mut opt = Sgd::new(
        &layer,
        SgdConfig {
            lr: 0.5,
            momentum: None,
            weight_decay: None,
        },
    );
    opt.update(&mut layer, &grads).unwrap();
    let after = layer.weight.array();
    for i in 0..4 {
        // grad = 4·x[i]; one SGD step subtracts lr·grad = 2·x[i].
        assert!((before[i] - 2.0 * (i as f32 + 1.0) - after[i]).abs() < 1e-6);
    }
}

#[test]
fn num_trainable_params_counts_distinct_values() {
    let dev = Cpu::default();
    assert_eq!(
        dev.build_module::<TiedLinearConfig<4>, f32>()
            .num_trainable_params(),
        8
    );
    assert_eq!(
        dev.build_module::<RowsNoBiasConfig<7, 3>, f32>()
            .num_trainable_params(),
        7
    );
    assert_eq!(
        dev.build_module::<ColsLinearConfig<7, 3>, f32>()
            .num_trainable_params(),
        6
    );
    assert_eq!(
        dev.build_module::<ScalarLinearConfig<7, 3>, f32>()
            .num_trainable_params(),
        4
    );
    assert_eq!(
        dev.build_module::<DenseLinearConfig<7, 3>, f32>()
            .num_trainable_params(),
        24
    );
}

#[test]
fn reset_params_is_fan_in_uniform() {
    let dev = Cpu::seed_from_u64(9);
    let mut layer = dev.build_module::<RowsNoBiasConfig<16, 2>, f64>();
    let bound = 1.0 / 16f64.sqrt();
    let first = layer.weight.as_vec();
    assert!(first.iter().all(|v| v.abs() <= bound));
    assert!(
        first.iter().any(|v| v.abs() > bound / 10.0),
        "not all near zero: {first:?}"
    );
    layer.reset_params();
    let second = layer.weight.as_vec();
    assert!(second.iter().all(|v| v.abs() <= bound));
    assert_ne!(first, second);

    let full = dev.build_module::<TiedLinearConfig<16>, f64>();
    assert!(full.bias.as_vec().iter().all(|v| v.abs() <= bound));
}

#[test]
fn zero_grads_clears_the_stored_gradient() {
    let dev = Cpu::default();
    let layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    let x = dev.tensor([1.0f32, 2.0, 3.0, 4.0]);
    let mut grads = layer.forward(x.trace(layer.alloc_grads())).sum().backward();
    assert_ne!(grads.get(&layer.weight).array(), [0.0; 4]);
    layer.zero_grads(&mut grads);
    assert_eq!(grads.get(&layer.weight).array(), [0.0; 4]);
}

#[test]
fn to_dtype_and_to_device_keep_the_tie() {
    let dev = Cpu::default();
    let layer = dev.build_module::<TiedLinearConfig<4>, f32>();
    let wide: TiedLinear<4, f64, Cpu> = layer.to_dtype::<f64>();
    // The stored weight is still the 4 distinct values, as a type and in number.
    let stored: &Tensor<Rank1<4>, f64, Cpu> = &wide.weight;
    assert_eq!(wide.num_trainable_params(), 8);
    let narrow = layer.weight.array().map(f64::from);
    assert_eq!(stored.array(), narrow);
    let x32 = dev.tensor([1.0f32, -2.0, 0.5, 3.0]);
    let x64 = dev.tensor([1.0f64, -2.0, 0.5, 3.0]);
    let (y32, y64) = (layer.forward(x32).array(), wide.forward(x64).array());
    for (a, b) in y32.iter().zip(y64) {
        assert!((f64::from(*a) - b).abs() < 1e-5);
    }

    let moved: TiedLinear<4, f32, Cpu> = layer.to_device(&Cpu::default());
    assert_eq!(moved.weight.array(), layer.weight.array());
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tied-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn safetensors_round_trip_is_exact_and_stores_the_weight_once() {
    let dev = Cpu::seed_from_u64(5);
    let layer = dev.build_module::<TiedLinearConfig<6>, f32>();
    let path = temp_path("rows.safetensors");
    layer.save_safetensors(&path).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["bias", "weight"]);
    assert_eq!(file.tensor("weight").unwrap().shape(), [6]);
    assert_eq!(file.tensor("bias").unwrap().shape(), [6]);

    let mut loaded = Cpu::seed_from_u64(6).build_module::<TiedLinearConfig<6>, f32>();
    assert_ne!(loaded.weight.array(), layer.weight.array());
    loaded.load_safetensors(&path).unwrap();
    assert_eq!(loaded.weight.array(), layer.weight.array());
    assert_eq!(loaded.bias.array(), layer.bias.array());
}

#[test]
fn loading_a_dense_checkpoint_into_a_tied_layer_is_an_error() {
    let dev = Cpu::default();
    let path = temp_path("dense.safetensors");
    dev.build_module::<DenseLinearConfig<6, 6>, f32>()
        .save_safetensors(&path)
        .unwrap();
    let mut tied = dev.build_module::<TiedLinearConfig<6>, f32>();
    // The layer's own `load_safetensors` is the checked loader: a `LoadError`, not dfdx's.
    let err: tied::LoadError = tied.load_safetensors(&path).unwrap_err();
    assert!(matches!(err, tied::LoadError::Mismatch(..)), "{err:?}");
}

#[test]
fn checked_load_names_the_mismatch_and_leaves_the_model_as_it_was() {
    let dev = Cpu::seed_from_u64(8);
    let dense_path = temp_path("dense-checked.safetensors");
    dev.build_module::<DenseLinearConfig<6, 6>, f32>()
        .save_safetensors(&dense_path)
        .unwrap();
    let mut tied = dev.build_module::<TiedLinearConfig<6>, f32>();
    let before = (tied.weight.array(), tied.bias.array());

    let err = tied.load_safetensors_checked(&dense_path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not fit this model:\n  - `weight` has shape [6, 6] in the file, this model \
             stores [6] (a tied weight stores only its distinct values)",
            dense_path.display()
        )
    );
    assert_eq!((tied.weight.array(), tied.bias.array()), before);

    // A file whose weight fits but whose bias does not: dfdx alone would load the weight and
    // then fail; the checked load changes nothing.
    let mut other = dev.build_module::<TiedLinearConfig<6>, f32>();
    other.weight = dev.tensor([9.0; 6]);
    let path = temp_path("half-fits.safetensors");
    let narrow = dev.build_module::<RowsNoBiasConfig<6, 2>, f32>();
    narrow.save_safetensors(&path).unwrap();
    let err = other.load_safetensors_checked(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains("`bias` is missing (this model stores [6])"),
        "{err}"
    );
    assert_eq!(other.weight.array(), [9.0; 6]);

    // f64 file into an f32 model.
    let wide_path = temp_path("wide.safetensors");
    dev.build_module::<TiedLinearConfig<6>, f64>()
        .save_safetensors(&wide_path)
        .unwrap();
    let err = tied.load_safetensors_checked(&wide_path).unwrap_err();
    assert!(
        err.to_string()
            .contains("`weight` is F64 in the file, this model is F32"),
        "{err}"
    );

    let err = tied
        .load_safetensors_checked(temp_path("absent.safetensors"))
        .unwrap_err();
    assert!(err.to_string().starts_with("cannot read"), "{err}");

    // And a good file loads.
    let good = temp_path("good.safetensors");
    let source = Cpu::seed_from_u64(99).build_module::<TiedLinearConfig<6>, f32>();
    source.save_safetensors(&good).unwrap();
    tied.load_safetensors_checked(&good).unwrap();
    assert_eq!(tied.weight.array(), source.weight.array());
}

#[test]
fn works_inside_a_dfdx_tuple_model() {
    type Model = (TiedLinearConfig<4>, ReLU, Linear<4, 2>);
    let dev = Cpu::seed_from_u64(2);
    let mut model = dev.build_module::<Model, f32>();
    assert_eq!(model.num_trainable_params(), 8 + 4 * 2 + 2);
    let x: Tensor<Rank2<3, 4>, f32, _> = dev.sample_normal();
    let y = model.forward(x.trace(model.alloc_grads()));
    assert_eq!(y.shape(), &(Const::<3>, Const::<2>));
    let grads = y.sum().backward();
    assert_eq!(grads.get(&model.0.weight).shape(), &(Const::<4>,));
    let before = model.0.weight.array();
    let mut opt = Sgd::new(
        &model,
        SgdConfig {
            lr: 0.1,
            ..Default::default()
        },
    );
    opt.update(&mut model, &grads).unwrap();
    assert_ne!(model.0.weight.array(), before);
    // Named like dfdx's own tuple members.
    let path = temp_path("tuple.safetensors");
    model.save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.tensor("0.weight").unwrap().shape(), [4]);
}

#[test]
fn forward_mut_and_runtime_batches() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<RowsNoBiasConfig<3, 2>, f32>();
    layer.weight = dev.tensor([1.0, 2.0, 3.0]);
    let x: Tensor<(usize, Const<3>), f32, _> =
        dev.tensor_from_vec(vec![1.0, 1.0, 1.0, 0.0, 1.0, 0.0], (2, Const));
    let y = layer.forward_mut(x);
    assert_eq!(y.shape(), &(2, Const::<2>));
    assert_eq!(y.as_vec(), [6.0, 6.0, 2.0, 2.0]);
    let x3: Tensor<(usize, usize, Const<3>), f32, _> = dev.ones_like(&(2, 4, Const));
    assert_eq!(layer.forward(x3).as_vec(), vec![6.0; 16]);
}

#[test]
fn dfdx_version_is_the_one_built_against() {
    let lock = include_str!("../../Cargo.lock");
    let line = format!("name = \"dfdx\"\nversion = \"{}.", tied::DFDX_VERSION);
    assert!(
        lock.contains(&line),
        "Cargo.lock has no dfdx {}",
        tied::DFDX_VERSION
    );
}
