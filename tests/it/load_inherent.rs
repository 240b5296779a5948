//! A generated layer's `load_safetensors` is the checked loader (an inherent method, which method
//! resolution prefers over dfdx's unchecked trait method): a file of another dtype or shape is an
//! error, never a panic or a half-load, and the layer is unchanged. `save_safetensors` is dfdx's.

use tied::prelude::*;
use tied::LoadError;

#[tied::layer]
#[derive(Clone, Debug)]
pub struct Forum<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    pub bias: Tensor<Rank1<N>, E, D>,
}

/// Not `Clone`: the checked loader reads and checks the whole file before writing, so it needs no
/// copy of the layer, and this layer gets it too.
#[tied::layer]
pub struct Unclonable<const N: usize, E: Dtype, D: Device<E>> {
    #[tied(rows)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tied-loading-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir.join(name)
}

#[test]
fn load_safetensors_is_checked() {
    let dev = Cpu::seed_from_u64(1);
    let saved = dev.build_module::<ForumConfig<4>, f32>();
    let path = temp_path("forum.safetensors");
    saved.save_safetensors(&path).expect("dfdx's save");

    let mut layer = Cpu::seed_from_u64(2).build_module::<ForumConfig<4>, f32>();
    let result: Result<(), LoadError> = layer.load_safetensors(&path);
    result.expect("the same layer loads");
    assert_eq!(layer.weight.array(), saved.weight.array());
    assert_eq!(layer.bias.array(), saved.bias.array());

    // An f64 file: dfdx's loader panics on it; the layer's reports it and keeps its values.
    let f64_path = temp_path("forum64.safetensors");
    dev.build_module::<ForumConfig<4>, f64>()
        .save_safetensors(&f64_path)
        .expect("dfdx's save");
    let before = layer.clone();
    let err = layer.load_safetensors(&f64_path).unwrap_err();
    assert!(matches!(err, LoadError::Mismatch(..)), "{err}");
    assert!(err.to_string().contains("F64"), "{err}");
    assert_eq!(layer.weight.array(), before.weight.array());

    // A wider layer's file: every tensor's shape differs, nothing is loaded.
    let wide = temp_path("wide.safetensors");
    dev.build_module::<ForumConfig<5>, f32>()
        .save_safetensors(&wide)
        .expect("dfdx's save");
    assert!(matches!(
        layer.load_safetensors(&wide),
        Err(LoadError::Mismatch(..))
    ));
    assert_eq!(layer.bias.array(), before.bias.array());

    // A layer that is not `Clone` gets the checked loader too: the file's extra `bias` is an
    // unknown tensor, refused by default; with `allow_unknown` it loads `weight` only.
    let mut plain = dev.build_module::<UnclonableConfig<4>, f32>();
    let before = plain.weight.array();
    let err = plain.load_safetensors(&path).unwrap_err();
    assert!(err.to_string().contains("bias"), "{err}");
    assert_eq!(plain.weight.array(), before);
    plain
        .load_safetensors_with(&path, LoadOptions::default().allow_unknown(true))
        .expect("loads `weight`, ignoring `bias`");
    assert_eq!(plain.weight.array(), saved.weight.array());
}
