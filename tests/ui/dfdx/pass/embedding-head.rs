//! The embedding/output-head tie (Press & Wolf): the head is the embedding's transpose, used by
//! hand through the generated `lookup_embed` and `matmul_head`, as a language model would.
#![deny(warnings)]

use tied::prelude::*;

/// `V` tokens embedded in `H` features, and logits back over the `V` tokens.
#[tied::layer]
pub struct TiedLm<const V: usize, const H: usize, E: Dtype, D: Device<E>> {
    /// The embedding table, one row per token.
    pub embed: Tensor<Rank2<V, H>, E, D>,
    /// The output head: the table's transpose.
    #[tied(transpose_of = embed)]
    pub head: Tensor<Rank2<H, V>, E, D>,
}

#[test]
fn runs() {
    let dev = Cpu::default();
    let mut lm = dev.build_module::<TiedLmConfig<3, 2>, f32>();
    assert_eq!(lm.num_trainable_params(), 3 * 2);
    lm.embed = dev.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
    let ids: Tensor<(usize,), usize, Cpu> = dev.tensor_from_vec(vec![2, 0], (2,));
    let h: Tensor<(usize, Const<2>), f32, Cpu> = lm.lookup_embed(ids);
    assert_eq!(h.as_vec(), [1.0, 1.0, 1.0, 0.0]);
    // Each row's logits are its embedding dotted with every token's.
    let logits = lm.matmul_head(h);
    assert_eq!(logits.as_vec(), [1.0, 1.0, 2.0, 1.0, 0.0, 1.0]);
}
