//! `pub(crate)` and private fields, in a private module: the generated builder and accessors
//! must not leak a private type, nor warn.
#![deny(warnings)]
// The crate-visible items are used only by the test below: a library build without it calls them
// unused, which is not what this case checks.
#![cfg_attr(not(test), allow(dead_code))]

mod layers {
    use tied::prelude::*;

    /// A crate-visible layer with a private bias.
    #[tied::layer]
    pub(crate) struct Inner<const N: usize, E: Dtype, D: Device<E>> {
        #[tied(cols)]
        pub(crate) weight: Tensor<Rank2<N, N>, E, D>,
        bias: Tensor<Rank1<N>, E, D>,
    }

    impl<const N: usize, E: Dtype, D: Device<E>> Inner<N, E, D> {
        pub(crate) fn set_bias(&mut self, bias: Tensor<Rank1<N>, E, D>) {
            self.bias = bias;
        }
    }

    /// A private layer, used only in this module.
    #[tied::layer]
    struct Hidden<E: Dtype, D: Device<E>> {
        #[tied(scalar)]
        weight: Tensor<Rank2<2, 2>, E, D>,
    }

    pub(crate) fn hidden_forward(dev: &Cpu) -> [f32; 2] {
        let mut layer = dev.build_module::<HiddenConfig, f32>();
        layer.weight = dev.tensor([3.0]);
        layer.forward(dev.tensor([1.0, 2.0])).array()
    }
}

#[test]
fn runs() {
    use tied::prelude::*;

    let dev = Cpu::default();
    let mut layer = dev.build_module::<layers::InnerConfig<2>, f32>();
    layer.weight = dev.tensor([1.0, 2.0]);
    layer.set_bias(dev.tensor([0.0, 0.5]));
    // W[i, j] = w[j]: output j is (Σx)·w[j] = 5·w[j], plus its bias.
    let y = layer.forward(dev.tensor([2.0, 3.0]));
    assert_eq!(y.array(), [5.0, 10.5]);
    // W = 3 everywhere: 3·(1 + 2) = 9 in both outputs.
    assert_eq!(layers::hidden_forward(&dev), [9.0, 9.0]);
}
