//! Doc comments and other attributes on fields, tied or not, are kept.
#![deny(warnings, missing_docs)]

use tied::prelude::*;

/// A layer whose fields carry docs and lints.
#[tied::layer]
pub struct Documented<const N: usize, E: Dtype, D: Device<E>> {
    /// The weight: one value per row.
    ///
    /// A second paragraph, which the macro's own doc line must not run into.
    #[allow(clippy::struct_field_names)]
    #[tied(rows)]
    #[allow(unused)]
    pub weight: Tensor<Rank2<N, N>, E, D>,
    #[doc = "The bias, documented with the attribute form."]
    #[allow(dead_code)]
    pub bias: Tensor<Rank1<N>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut layer = dev.build_module::<DocumentedConfig<2>, f32>();
    assert_eq!(layer.num_trainable_params(), 2 + 2);
    layer.weight = dev.tensor([1.0, -1.0]);
    layer.bias = dev.tensor([0.5, 0.25]);
    // x·w = 3 - 4 = -1 in every output, plus its bias.
    let y = layer.forward(dev.tensor([3.0, 4.0]));
    assert_eq!(y.array(), [-0.5, -0.75]);
}
