//! A guide by example: one runnable example per pattern, per tie between fields and per
//! checkpoint function. Every example here runs as a doctest.
//!
//! Each weight is declared by its effective type `Tensor<Rank2<I, O>, E, D>` (`y = x·W`, inputs ×
//! outputs); the attribute says which entries share a value, and the layer stores only the
//! distinct values. `{field}_effective(NoneTape)` gives `W` back to check it.
//!
//! # Patterns
//!
//! ## `rows`: `W[i, j] = w[i]`
//!
//! The forum's layer: one value per input, I stored instead of I×O.
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct RowsLayer<E: Dtype, D: Device<E>> {
//!     #[tied(rows)]
//!     pub weight: Tensor<Rank2<3, 4>, E, D>,
//! }
//!
//! let layer = Cpu::default().build_module::<RowsLayerConfig, f32>();
//! assert_eq!(layer.num_trainable_params(), 3);
//! let w = layer.weight_effective(NoneTape).array();
//! assert!((0..3).all(|i| w[i] == [layer.weight.array()[i]; 4]));
//! ```
//!
//! ## `cols`: `W[i, j] = w[j]`
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct ColsLayer<E: Dtype, D: Device<E>> {
//!     #[tied(cols = 4)]
//!     pub weight: Tensor<Rank2<3, 4>, E, D>,
//! }
//!
//! let layer = Cpu::default().build_module::<ColsLayerConfig, f32>();
//! assert_eq!(layer.num_trainable_params(), 4);
//! let w = layer.weight_effective(NoneTape).array();
//! assert!(w.iter().all(|row| *row == layer.weight.array()));
//! ```
//!
//! ## `scalar`: one value for the whole weight
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct ScalarLayer<E: Dtype, D: Device<E>> {
//!     #[tied(scalar)]
//!     pub weight: Tensor<Rank2<3, 4>, E, D>,
//! }
//!
//! let dev = Cpu::default();
//! let layer = dev.build_module::<ScalarLayerConfig, f32>();
//! assert_eq!(layer.num_trainable_params(), 1);
//! // y[j] = w · Σ x[i]
//! let y = layer.forward(dev.tensor([1.0, 2.0, 3.0]));
//! assert!(y.array().iter().all(|&v| (v - 6.0 * layer.weight.array()[0]).abs() < 1e-6));
//! ```
//!
//! ## `tile(R, C)`: `W[i, j] = V[i mod R, j mod C]` (PyTorch's `repeat`)
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct TileLayer<E: Dtype, D: Device<E>> {
//!     #[tied(tile(2, 3))]
//!     pub weight: Tensor<Rank2<4, 6>, E, D>,
//! }
//!
//! let layer = Cpu::default().build_module::<TileLayerConfig, f32>();
//! assert_eq!(layer.num_trainable_params(), 6);
//! let (w, v) = (layer.weight_effective(NoneTape).array(), layer.weight.array());
//! assert!((0..4).all(|i| (0..6).all(|j| w[i][j] == v[i % 2][j % 3])));
//! ```
//!
//! ## `block(R, C)`: `W[i, j] = V[i / (I/R), j / (O/C)]` (`repeat_interleave`)
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct BlockLayer<E: Dtype, D: Device<E>> {
//!     #[tied(block(2, 3))]
//!     pub weight: Tensor<Rank2<4, 6>, E, D>,
//! }
//!
//! let layer = Cpu::default().build_module::<BlockLayerConfig, f32>();
//! let (w, v) = (layer.weight_effective(NoneTape).array(), layer.weight.array());
//! assert!((0..4).all(|i| (0..6).all(|j| w[i][j] == v[i / 2][j / 2])));
//! ```
//!
//! ## `toeplitz = K`: constant along each diagonal, K = I + O − 1
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct ToeplitzLayer<E: Dtype, D: Device<E>> {
//!     #[tied(toeplitz = 6)]
//!     pub weight: Tensor<Rank2<4, 3>, E, D>,
//! }
//!
//! let layer = Cpu::default().build_module::<ToeplitzLayerConfig, f32>();
//! assert_eq!(layer.num_trainable_params(), 6);
//! let w = layer.weight_effective(NoneTape).array();
//! assert!((0..3).all(|i| (0..2).all(|j| w[i][j] == w[i + 1][j + 1])));
//! ```
//!
//! ## `circulant`: each row the previous one shifted by one, square
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct CirculantLayer<E: Dtype, D: Device<E>> {
//!     #[tied(circulant)]
//!     pub weight: Tensor<Rank2<4, 4>, E, D>,
//! }
//!
//! let layer = Cpu::default().build_module::<CirculantLayerConfig, f32>();
//! assert_eq!(layer.num_trainable_params(), 4);
//! let w = layer.weight_effective(NoneTape).array();
//! assert!((0..4).all(|i| (0..4).all(|j| w[i][j] == w[(i + 1) % 4][(j + 1) % 4])));
//! ```
//!
//! ## `hankel = K`: constant along each anti-diagonal, `W[i, j] = v[i + j]`
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct HankelLayer<E: Dtype, D: Device<E>> {
//!     #[tied(hankel = 6)]
//!     pub weight: Tensor<Rank2<3, 4>, E, D>,
//! }
//!
//! let layer = Cpu::default().build_module::<HankelLayerConfig, f32>();
//! let (w, v) = (layer.weight_effective(NoneTape).array(), layer.weight.array());
//! assert!((0..3).all(|i| (0..4).all(|j| w[i][j] == v[i + j])));
//! ```
//!
//! ## `symmetric = K`: `W = Wᵀ`, K = N(N + 1)/2
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct SymmetricLayer<E: Dtype, D: Device<E>> {
//!     #[tied(symmetric = 10)]
//!     pub weight: Tensor<Rank2<4, 4>, E, D>,
//! }
//!
//! let layer = Cpu::default().build_module::<SymmetricLayerConfig, f32>();
//! assert_eq!(layer.num_trainable_params(), 10);
//! let w = layer.weight_effective(NoneTape).array();
//! assert!((0..4).all(|i| (0..4).all(|j| w[i][j] == w[j][i])));
//! ```
//!
//! ## `banded = K`: a band of half-width b = (K − 1)/2 (a 1-D convolution), zeros outside
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct Conv<E: Dtype, D: Device<E>> {
//!     #[tied(banded = 3)]
//!     pub kernel: Tensor<Rank2<5, 5>, E, D>,
//! }
//!
//! let conv = Cpu::default().build_module::<ConvConfig, f32>();
//! assert_eq!(conv.num_trainable_params(), 3);
//! let w = conv.kernel_effective(NoneTape).array();
//! assert_eq!(w[0][3], 0.0); // |i − j| > 1: a structural zero
//! assert!((0..4).all(|i| w[i][i] == w[i + 1][i + 1] && w[i][i + 1] == w[0][1]));
//! ```
//!
//! ## `pattern = MyTie`: your own pattern
//!
//! Implement [`Tie`](crate::Tie): `Stored`, `NAME` and `index(i, j)` (`None` for a structural
//! zero). The layer checks the pattern when built ([`try_build`](crate::try_build) returns the
//! error).
//!
//! ```
//! use tied::prelude::*;
//!
//! /// Two values, alternating like a checkerboard.
//! pub struct Checkerboard;
//! impl<const I: usize, const O: usize> Tie<I, O> for Checkerboard {
//!     type Stored = Rank1<2>;
//!     const NAME: &'static str = "checkerboard";
//!     fn index(i: usize, j: usize) -> Option<usize> {
//!         Some((i + j) % 2)
//!     }
//! }
//!
//! #[tied::layer]
//! pub struct Board<E: Dtype, D: Device<E>> {
//!     #[tied(pattern = Checkerboard)]
//!     pub weight: Tensor<Rank2<4, 4>, E, D>,
//! }
//!
//! let board = tied::try_build::<BoardConfig, f32, _>(&Cpu::default()).unwrap();
//! let (w, v) = (board.weight_effective(NoneTape).array(), board.weight.array());
//! assert!((0..4).all(|i| (0..4).all(|j| w[i][j] == v[(i + j) % 2])));
//! assert_eq!(board.weight_picture().label(0, 1), "w2");
//! ```
//!
//! # Ties between fields
//!
//! ## `transpose_of`: a tied autoencoder's decoder, a language model's output head
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
//! pub struct AutoEncoder<E: Dtype, D: Device<E>> {
//!     pub enc: Tensor<Rank2<8, 3>, E, D>,
//!     pub enc_bias: Tensor<Rank1<3>, E, D>,
//!     #[tied(transpose_of = enc)]
//!     pub dec: Tensor<Rank2<3, 8>, E, D>,
//!     pub dec_bias: Tensor<Rank1<8>, E, D>,
//! }
//!
//! let ae = Cpu::default().build_module::<AutoEncoderConfig, f32>();
//! assert_eq!(ae.num_trainable_params(), 8 * 3 + 3 + 8); // the decoder stores nothing
//! let (e, d) = (ae.enc_effective(NoneTape).array(), ae.dec_effective(NoneTape).array());
//! assert!((0..8).all(|i| (0..3).all(|j| d[j][i] == e[i][j])));
//! ```
//!
//! ## `same_as`: one weight used by several layers (ALBERT)
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer(forward = [first + b1, Tanh, second + b2])]
//! pub struct Shared<E: Dtype, D: Device<E>> {
//!     pub first: Tensor<Rank2<4, 4>, E, D>,
//!     pub b1: Tensor<Rank1<4>, E, D>,
//!     #[tied(same_as = first)]
//!     pub second: Tensor<Rank2<4, 4>, E, D>,
//!     pub b2: Tensor<Rank1<4>, E, D>,
//! }
//!
//! let m = Cpu::default().build_module::<SharedConfig, f32>();
//! assert_eq!(m.num_trainable_params(), 16 + 4 + 4);
//! assert_eq!(m.second_effective(NoneTape).array(), m.first.array());
//! ```
//!
//! ## Tied biases: `scalar`, `pattern = ..` or `same_as` on a `Rank1` field
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! pub struct OneBias<E: Dtype, D: Device<E>> {
//!     pub weight: Tensor<Rank2<3, 4>, E, D>,
//!     /// One value added to every output.
//!     #[tied(scalar)]
//!     pub bias: Tensor<Rank1<4>, E, D>,
//! }
//!
//! let dev = Cpu::default();
//! let layer = dev.build_module::<OneBiasConfig, f32>();
//! assert_eq!(layer.num_trainable_params(), 12 + 1);
//! let y = layer.forward(dev.zeros::<Rank1<3>>());
//! assert_eq!(y.array(), [layer.bias.array()[0]; 4]);
//! ```
//!
//! # Checkpoints
//!
//! ## `save_safetensors` and [`load_safetensors_checked`](crate::LoadChecked)
//!
//! A tied weight is saved once, at its stored size. The checked load verifies every name, shape
//! and dtype first and leaves the model unchanged on a mismatch.
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer]
//! #[derive(Clone)]
//! pub struct RowsLayer<E: Dtype, D: Device<E>> {
//!     #[tied(rows)]
//!     pub weight: Tensor<Rank2<4, 4>, E, D>,
//!     pub bias: Tensor<Rank1<4>, E, D>,
//! }
//!
//! let path = std::env::temp_dir().join("tied-guide-rows.safetensors");
//! let a = Cpu::seed_from_u64(1).build_module::<RowsLayerConfig, f32>();
//! a.save_safetensors(&path).unwrap();
//!
//! let mut b = Cpu::seed_from_u64(2).build_module::<RowsLayerConfig, f32>();
//! b.load_safetensors_checked(&path).unwrap();
//! assert_eq!(b.weight.array(), a.weight.array());
//!
//! // A dense dfdx `Linear` checkpoint does not fit: refused, with the reason.
//! let dense = Cpu::default().build_module::<Linear<4, 4>, f32>();
//! dense.save_safetensors(&path).unwrap();
//! let err = b.load_safetensors_checked(&path).unwrap_err();
//! assert!(err.to_string().contains("`weight` has shape [4, 4] in the file"));
//! assert_eq!(b.weight.array(), a.weight.array());
//! ```
//!
//! ## [`export_dense`](crate::export_dense): to PyTorch
//!
//! Writes the effective weights with `nn.Linear`'s conventions (weight out×in, bias length O),
//! under names you choose, with a manifest of the ties in the file's metadata. In PyTorch:
//! `model.load_state_dict(safetensors.torch.load_file(path))`.
//!
//! ```
//! use tied::prelude::*;
//!
//! #[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias])]
//! pub struct AutoEncoder<E: Dtype, D: Device<E>> {
//!     pub enc: Tensor<Rank2<8, 3>, E, D>,
//!     pub enc_bias: Tensor<Rank1<3>, E, D>,
//!     #[tied(transpose_of = enc)]
//!     pub dec: Tensor<Rank2<3, 8>, E, D>,
//!     pub dec_bias: Tensor<Rank1<8>, E, D>,
//! }
//!
//! let ae = Cpu::default().build_module::<AutoEncoderConfig, f32>();
//! let path = std::env::temp_dir().join("tied-guide-export.safetensors");
//! let names = [
//!     ("enc", "encoder.weight"),
//!     ("enc_bias", "encoder.bias"),
//!     ("dec", "decoder.weight"),
//!     ("dec_bias", "decoder.bias"),
//! ];
//! let manifest = tied::export_dense_as(&ae, &path, names).unwrap();
//! // The decoder is written as its own dense weight, and recorded as tied.
//! assert_eq!(manifest.tensors.len(), 4);
//! assert_eq!(
//!     manifest.tied,
//!     [("decoder.weight".to_owned(), "encoder.weight".to_owned(), true)]
//! );
//! ```
//!
//! ## [`import_dense`](crate::import_dense): from PyTorch
//!
//! Projects each dense weight onto its pattern (each stored value becomes the mean of its
//! copies), reports how far each field was from its tie, and refuses past your tolerance.
//!
//! ```
//! use tied::prelude::*;
//! use tied::InteropError;
//!
//! #[tied::layer]
//! #[derive(Clone)]
//! pub struct RowsLayer<E: Dtype, D: Device<E>> {
//!     #[tied(rows)]
//!     pub weight: Tensor<Rank2<3, 2>, E, D>,
//!     pub bias: Tensor<Rank1<2>, E, D>,
//! }
//!
//! // A dense dfdx `Linear` (stored out×in, like PyTorch), nearly rows-tied: W[i, ·] ≈ i + 1.
//! let dev = Cpu::default();
//! let mut dense = dev.build_module::<Linear<3, 2>, f32>();
//! dense.weight = dev.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.5]]);
//! let path = std::env::temp_dir().join("tied-guide-import.safetensors");
//! tied::export_dense(&dense, &path).unwrap();
//!
//! let mut layer = dev.build_module::<RowsLayerConfig, f32>();
//! let before = layer.weight.array();
//! let err = tied::import_dense(&mut layer, &path, 0.1).unwrap_err();
//! assert!(matches!(err, InteropError::TieViolated(ref v) if (v.i, v.j) == (2, 0) || (v.i, v.j) == (2, 1)));
//! assert_eq!(layer.weight.array(), before); // unchanged on refusal
//!
//! let report = tied::import_dense(&mut layer, &path, 0.5).unwrap();
//! assert_eq!(layer.weight.array(), [1.0, 2.0, 3.25]); // the mean of each row's copies
//! assert_eq!(report.max_violation(), 0.25);
//! ```
