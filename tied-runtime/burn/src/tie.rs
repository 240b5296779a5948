//! [`Tie`]: a pattern on an I×O weight, checked, with its lowerings.

use std::sync::{Arc, Mutex, PoisonError};

use burn::tensor::{Device, Int, Tensor, TensorData};
use tied_patterns::{Fold, Geometry, Packing, Pattern, Picture, Shift, Structure};

use crate::gather::{GatherTable, IndexMap};
use crate::{lower, Error};

/// How a pattern's `x·W` runs on Burn (see each pattern's lowering in the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lowering {
    /// `x·W` with the stored I×O weight (no tie).
    Dense,
    /// Sums, a small `matmul` and broadcasts: `rows`, `cols`, `scalar`, `tile`, `block`; never an
    /// I×O tensor.
    Broadcast,
    /// One correlation of the rows of `x` with the stored values: `toeplitz`, `circulant`,
    /// `hankel`. A `conv1d` (every backend has it), or with the `fft` feature Burn's real FFT
    /// ([`Tie::uses_fft`]).
    Correlation,
    /// One `conv1d` of `x` with the stored diagonals as the filter: `banded`.
    Band,
    /// One elementwise product: `diagonal`.
    Elementwise,
    /// `W` gathered from the stored values by an `Int` index table, then `matmul`: `symmetric`,
    /// the triangular patterns.
    Gather,
}

/// A built-in pattern (or no tie) on a weight of `I` inputs × `O` outputs (`y = x·W`), with its
/// sizes checked, and its lowerings onto Burn.
///
/// The stored values are one tensor, of the shape [`Tie::stored_shape`]: `[R, C]` for `tile`
/// and `block`, `[I, O]` for no tie (as Burn's `Linear` stores its weight), `[len]` otherwise.
/// The lowerings take it by value, as a `Param`'s `val()`; on an autodiff device its gradient is
/// the sum over every copy of each stored value in `W`.
///
/// Every method that takes tensors has a `try_` form returning [`Error`] on a shape that does not
/// fit; the plain form panics with the same message, as Burn's own modules do on a wrong shape.
#[derive(Debug, Clone)]
pub struct Tie {
    map: TieMap,
    /// `symmetric`'s index table (and every pattern's, for [`Tie::lookup`]), built on first use on
    /// a device and shared by clones.
    table: Arc<Mutex<Option<GatherTable>>>,
    /// Correlations through the FFT (the `fft` feature, unless [`Tie::without_fft`]).
    fft: bool,
    /// Flex's fused ops where there is one (the `flex` feature, unless [`Tie::without_kernels`]).
    kernels: bool,
}

/// What a tie's index map is: a built-in pattern's checked geometry, or a pattern of the user's.
#[derive(Debug, Clone)]
enum TieMap {
    Builtin(Geometry),
    User(Arc<UserMap>),
}

/// A user's index map with its sizes, checked when the tie is made.
struct UserMap {
    name: &'static str,
    inputs: usize,
    outputs: usize,
    stored_len: usize,
    index: Box<dyn Fn(usize, usize) -> Option<usize> + Send + Sync>,
}

impl core::fmt::Debug for UserMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UserMap")
            .field("name", &self.name)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("stored_len", &self.stored_len)
            .finish_non_exhaustive()
    }
}

impl IndexMap for TieMap {
    fn stored_len(&self) -> usize {
        match self {
            TieMap::Builtin(g) => g.stored_len(),
            TieMap::User(u) => u.stored_len,
        }
    }

    fn index(&self, i: usize, j: usize) -> Option<usize> {
        match self {
            TieMap::Builtin(g) => g.index(i, j),
            TieMap::User(u) => (u.index)(i, j),
        }
    }

    fn negated(&self, i: usize, j: usize) -> bool {
        match self {
            TieMap::Builtin(g) => IndexMap::negated(g, i, j),
            TieMap::User(_) => false,
        }
    }
}

impl PartialEq for Tie {
    fn eq(&self, other: &Self) -> bool {
        match (&self.map, &other.map) {
            (TieMap::Builtin(a), TieMap::Builtin(b)) => a == b,
            (TieMap::User(a), TieMap::User(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Tie {
    /// The built-in pattern `key` (`"rows"`, `"toeplitz"`, ..., or `"dense"` for no tie) on an
    /// `inputs`×`outputs` weight, with `stated` sizes as in the attribute: `&[]`, `&[K]` or
    /// `&[R, C]`. A size the shape gives may be left out; `tile` and `block` need `R, C` and
    /// `banded` its `K`.
    pub fn new(key: &str, inputs: usize, outputs: usize, stated: &[usize]) -> Result<Tie, Error> {
        if key == "dense" {
            if !stated.is_empty() {
                return Err(Error::UnknownPattern {
                    key: format!("dense{stated:?}"),
                });
            }
            return Tie::dense(inputs, outputs);
        }
        match tied_patterns::find(key) {
            Some(pattern) => Tie::of(pattern, inputs, outputs, stated),
            None => Err(Error::UnknownPattern { key: key.into() }),
        }
    }

    /// `pattern` (a row of [`tied_patterns::PATTERNS`]) on an `inputs`×`outputs` weight.
    pub fn of(
        pattern: &'static Pattern,
        inputs: usize,
        outputs: usize,
        stated: &[usize],
    ) -> Result<Tie, Error> {
        Ok(Tie::from_geometry(Geometry::new(
            pattern, inputs, outputs, stated,
        )?))
    }

    /// No tie: every entry its own parameter, stored `[inputs, outputs]`.
    pub fn dense(inputs: usize, outputs: usize) -> Result<Tie, Error> {
        Ok(Tie::from_geometry(Geometry::dense(inputs, outputs)?))
    }

    /// A pattern of your own on an `inputs`×`outputs` weight, called `name`: `stored_len` values,
    /// `W[i, j]` being stored value `index(i, j)` (`None` for a structural zero). The map is
    /// checked now (every position in range, every stored value used, something stored); its
    /// lowering is the gather ([`Lowering::Gather`]). `#[tied::burn::layer]` makes one from a
    /// dfdx `Tie` type for `pattern = ..`, so one pattern type serves both front ends.
    pub fn from_index_map(
        name: &'static str,
        inputs: usize,
        outputs: usize,
        stored_len: usize,
        index: impl Fn(usize, usize) -> Option<usize> + Send + Sync + 'static,
    ) -> Result<Tie, Error> {
        let map = TieMap::User(Arc::new(UserMap {
            name,
            inputs,
            outputs,
            stored_len,
            index: Box::new(index),
        }));
        crate::gather::checked_table(&map, inputs, outputs)?;
        Ok(Tie::with_map(map))
    }

    /// A geometry already checked.
    pub fn from_geometry(geometry: Geometry) -> Tie {
        Tie::with_map(TieMap::Builtin(geometry))
    }

    fn with_map(map: TieMap) -> Tie {
        Tie {
            map,
            table: Arc::new(Mutex::new(None)),
            fft: cfg!(feature = "fft"),
            kernels: cfg!(feature = "flex"),
        }
    }

    /// The same tie without the fused ops of the `flex` feature ([`Tie::uses_kernels`]): Burn's
    /// portable ops everywhere, the reference the fused ops are tested against. Other backends
    /// always take the portable ops.
    pub fn without_kernels(mut self) -> Tie {
        self.kernels = false;
        self
    }

    /// The same tie with Toeplitz, circulant and Hankel on their `conv1d` form even with the
    /// `fft` feature: the portable reference the FFT form is tested against, and the choice on a
    /// backend without burn-signal's FFT kernels (they exist for Flex, the CubeCL backends and
    /// LibTorch, not for NdArray).
    pub fn without_fft(mut self) -> Tie {
        self.fft = false;
        self
    }

    /// Whether `x·W` (and `x·Wᵀ`) on f32 values runs through Burn's real FFT: a correlation
    /// pattern with the `fft` feature, on the portable path (on Flex with the `flex` feature the
    /// shift kernel of `tied-kernels` runs instead, [`Tie::uses_kernels`]). The FFT length is the power of two at or above `I + O − 1`
    /// (`2N − 1` for circulant): O(n·L log L) instead of the n·I·O of the `conv1d` form. Other
    /// dtypes keep the `conv1d`: flex's FFT computes in f32, and f64 weights would lose their
    /// precision (1e-8 relative, measured).
    pub fn uses_fft(&self) -> bool {
        self.fft && self.lowering() == Lowering::Correlation
    }

    /// Whether a fused op of the `flex` feature serves this tie when its values are f32 or f64 on
    /// Flex: no tie (faer's product, as for a dense field on dfdx), `rows`, `cols`, `scalar`, the
    /// correlations (by FFT or directly, as the dfdx side chooses), `banded` and the triangles
    /// run the slice kernels of `tied-kernels`, the ones the dfdx front end runs, with the bias
    /// inside the op ([`Tie::try_forward_with_bias`]); `symmetric` its fused product. `tile`,
    /// `block` and `diagonal` keep Burn's own ops, which were as fast or faster. Elsewhere, and after [`Tie::without_kernels`],
    /// Burn's portable ops.
    pub fn uses_kernels(&self) -> bool {
        self.kernels
            && self
                .geometry()
                .is_some_and(|g| g.structure() == SYMMETRIC || has_flex_kernel(g))
    }

    /// A built-in pattern's map and sizes; `None` for a pattern of the user's.
    pub fn geometry(&self) -> Option<&Geometry> {
        match &self.map {
            TieMap::Builtin(g) => Some(g),
            TieMap::User(_) => None,
        }
    }

    /// The pattern's key (`"dense"` for no tie), or a user pattern's name.
    pub fn key(&self) -> &'static str {
        match &self.map {
            TieMap::Builtin(g) => g.key(),
            TieMap::User(u) => u.name,
        }
    }

    /// `I`.
    pub fn inputs(&self) -> usize {
        match &self.map {
            TieMap::Builtin(g) => g.inputs(),
            TieMap::User(u) => u.inputs,
        }
    }

    /// `O`.
    pub fn outputs(&self) -> usize {
        match &self.map {
            TieMap::Builtin(g) => g.outputs(),
            TieMap::User(u) => u.outputs,
        }
    }

    /// How many values are stored.
    pub fn stored_len(&self) -> usize {
        self.map.stored_len()
    }

    /// The stored tensor's shape: `[R, C]`, `[I, O]` or `[len]`.
    pub fn stored_shape(&self) -> Vec<usize> {
        match &self.map {
            TieMap::Builtin(g) if g.stores_matrix() => g.stored_shape().to_vec(),
            _ => vec![self.stored_len()],
        }
    }

    /// The stored position of `W[i, j]`, `None` for a structural zero.
    pub fn index(&self, i: usize, j: usize) -> Option<usize> {
        self.map.index(i, j)
    }

    /// `W[i, j]` as a signed tie: its stored position and whether it is that value negated
    /// (`skew` below its diagonal), `None` for a structural zero.
    pub fn entry(&self, i: usize, j: usize) -> Option<(usize, bool)> {
        self.map.index(i, j).map(|k| (k, self.map.negated(i, j)))
    }

    /// Whether some entry is a stored value negated (`skew`).
    pub fn signed(&self) -> bool {
        self.geometry().is_some_and(Geometry::signed)
    }

    /// `W` drawn as labels of the stored values (`{label}1`, ...), the way the forum draws it;
    /// `transposed` draws `Wᵀ`, the weight of a field declared `transpose_of` this one.
    pub fn picture(&self, name: &str, label: &str, transposed: bool) -> Picture {
        let (i, o) = (self.inputs(), self.outputs());
        if transposed {
            Picture::from_entry(
                name,
                label,
                self.key(),
                (o, i),
                self.stored_len(),
                |b, a| self.entry(a, b),
            )
        } else {
            Picture::from_entry(
                name,
                label,
                self.key(),
                (i, o),
                self.stored_len(),
                |a, b| self.entry(a, b),
            )
        }
    }

    /// How `x·W` runs.
    pub fn lowering(&self) -> Lowering {
        let TieMap::Builtin(g) = &self.map else {
            return Lowering::Gather;
        };
        match g.structure() {
            Structure::Dense => Lowering::Dense,
            Structure::Fold { .. } => Lowering::Broadcast,
            Structure::Shift(_) => Lowering::Correlation,
            Structure::Band { .. } => Lowering::Band,
            Structure::Diagonal => Lowering::Elementwise,
            Structure::Packed(_) => Lowering::Gather,
        }
    }

    /// Zeros of the stored shape on `device` (a placeholder to load into, or to fill).
    pub fn zeros<const S: usize>(&self, device: &Device) -> Result<Tensor<S>, Error> {
        let shape = self.stored_shape();
        if shape.len() != S {
            return Err(Error::Rank {
                what: "the stored tensor",
                want: shape.len(),
                got: S,
            });
        }
        Ok(Tensor::<1>::zeros([self.stored_len()], device).reshape(self.stored_dims::<S>()))
    }

    fn stored_dims<const S: usize>(&self) -> [usize; S] {
        let shape = self.stored_shape();
        let mut dims = [1; S];
        for (d, s) in dims.iter_mut().zip(shape) {
            *d = s;
        }
        dims
    }

    /// Checks that `stored` has the stored shape.
    pub fn check_stored<const S: usize>(&self, stored: &Tensor<S>) -> Result<(), Error> {
        let got = stored.dims().to_vec();
        if got == self.stored_shape() {
            Ok(())
        } else {
            Err(Error::StoredShape {
                key: self.key(),
                want: self.stored_shape(),
                got,
            })
        }
    }

    /// `y = x·W` for `x` of shape `[.., I]` (any rank from 1), `y` `[.., O]`.
    pub fn try_forward<const D: usize, const S: usize>(
        &self,
        x: Tensor<D>,
        stored: Tensor<S>,
    ) -> Result<Tensor<D>, Error> {
        self.check_stored(&stored)?;
        let (x2, dims) = self.flatten(x, self.inputs())?;
        let y = self.forward_2d(x2, stored, None);
        Ok(unflatten(y, dims, self.outputs()))
    }

    /// `y = x·W + b` for `x` of shape `[.., I]`, `b` `[O]`: on Flex the bias is added inside the
    /// fused op (`y` starts at `b`, no second pass over `y`), elsewhere broadcast after the
    /// product. What a generated layer's `forward` runs for a weight followed by its bias.
    pub fn try_forward_with_bias<const D: usize, const S: usize>(
        &self,
        x: Tensor<D>,
        stored: Tensor<S>,
        bias: Tensor<1>,
    ) -> Result<Tensor<D>, Error> {
        self.check_stored(&stored)?;
        self.check_bias(&bias, self.outputs())?;
        let (x2, dims) = self.flatten(x, self.inputs())?;
        let y = self.forward_2d(x2, stored, Some(bias));
        Ok(unflatten(y, dims, self.outputs()))
    }

    /// [`Tie::try_forward_with_bias`], panicking with its message on a shape that does not fit.
    #[track_caller]
    pub fn forward_with_bias<const D: usize, const S: usize>(
        &self,
        x: Tensor<D>,
        stored: Tensor<S>,
        bias: Tensor<1>,
    ) -> Tensor<D> {
        self.try_forward_with_bias(x, stored, bias)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Tie::try_forward`], panicking with its message on a shape that does not fit.
    #[track_caller]
    pub fn forward<const D: usize, const S: usize>(
        &self,
        x: Tensor<D>,
        stored: Tensor<S>,
    ) -> Tensor<D> {
        self.try_forward(x, stored)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `y = x·Wᵀ` for `x` of shape `[.., O]`, `y` `[.., I]`: the lowering of a weight declared
    /// `transpose_of` this one (a tied decoder, a language model's head tied to its embedding),
    /// on the same stored values.
    pub fn try_forward_transposed<const D: usize, const S: usize>(
        &self,
        x: Tensor<D>,
        stored: Tensor<S>,
    ) -> Result<Tensor<D>, Error> {
        self.check_stored(&stored)?;
        let (x2, dims) = self.flatten(x, self.outputs())?;
        let y = self.forward_transposed_2d(x2, stored, None);
        Ok(unflatten(y, dims, self.inputs()))
    }

    /// `y = x·Wᵀ + b` for `x` of shape `[.., O]`, `b` `[I]`: [`Tie::try_forward_transposed`]
    /// with the bias inside the op on Flex, as [`Tie::try_forward_with_bias`].
    pub fn try_forward_transposed_with_bias<const D: usize, const S: usize>(
        &self,
        x: Tensor<D>,
        stored: Tensor<S>,
        bias: Tensor<1>,
    ) -> Result<Tensor<D>, Error> {
        self.check_stored(&stored)?;
        self.check_bias(&bias, self.inputs())?;
        let (x2, dims) = self.flatten(x, self.outputs())?;
        let y = self.forward_transposed_2d(x2, stored, Some(bias));
        Ok(unflatten(y, dims, self.inputs()))
    }

    /// [`Tie::try_forward_transposed_with_bias`], panicking with its message on a shape that does
    /// not fit.
    #[track_caller]
    pub fn forward_transposed_with_bias<const D: usize, const S: usize>(
        &self,
        x: Tensor<D>,
        stored: Tensor<S>,
        bias: Tensor<1>,
    ) -> Tensor<D> {
        self.try_forward_transposed_with_bias(x, stored, bias)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Tie::try_forward_transposed`], panicking with its message on a shape that does not fit.
    #[track_caller]
    pub fn forward_transposed<const D: usize, const S: usize>(
        &self,
        x: Tensor<D>,
        stored: Tensor<S>,
    ) -> Tensor<D> {
        self.try_forward_transposed(x, stored)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The effective weight `W`, I×O, materialized (for inspection and export), differentiable:
    /// the stored tensor for no tie, the gathered `W` for `symmetric`, and otherwise the
    /// pattern's own lowering applied to the identity (`W = 1·W`).
    pub fn try_effective<const S: usize>(&self, stored: Tensor<S>) -> Result<Tensor<2>, Error> {
        self.check_stored(&stored)?;
        let (i, o) = (self.inputs(), self.outputs());
        Ok(match self.lowering() {
            Lowering::Dense => stored.reshape([i, o]),
            Lowering::Gather => self.gathered(stored.reshape([self.stored_len()])),
            _ => {
                let (device, dtype) = (stored.device(), stored.dtype());
                let mut eye = vec![0.0f32; i * i];
                for k in 0..i {
                    eye[k * i + k] = 1.0;
                }
                let eye = Tensor::from_data(TensorData::new(eye, [i, i]), (&device, dtype));
                self.forward_2d(eye, stored, None)
            }
        })
    }

    /// [`Tie::try_effective`], panicking with its message on a stored shape that does not fit.
    #[track_caller]
    pub fn effective<const S: usize>(&self, stored: Tensor<S>) -> Tensor<2> {
        self.try_effective(stored).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Rows `ids` of `W` (`ids` of any shape, each below `I`): shape `ids.dims() ++ [O]`, so
    /// `D2 = D + 1`. An embedding whose table is `W`; with [`Tie::forward_transposed`] on the same
    /// stored values, the language-model head tied to it.
    ///
    /// Ids are not range-checked on the host (that would read them back from the device): an id
    /// of `I` or more is what Burn's `select` makes of it on the backend.
    pub fn try_lookup<const D: usize, const D2: usize, const S: usize>(
        &self,
        ids: Tensor<D, Int>,
        stored: Tensor<S>,
    ) -> Result<Tensor<D2>, Error> {
        self.check_stored(&stored)?;
        let (i, o) = (self.inputs(), self.outputs());
        lookup_rows(ids, o, |ids, m| match self.structure() {
            Some(Structure::Dense) => stored.reshape([i, o]).select(0, ids),
            // Row `a` of W is row `rows(a)` of V, spread over the outputs.
            Some(Structure::Fold { rows, cols }) => {
                let v = stored.reshape([rows.groups(), cols.groups()]);
                let picked = match rows {
                    Fold::Div(g) if g == i => v.select(0, ids),
                    Fold::Div(1) => v.expand([m, cols.groups()]),
                    Fold::Div(g) => v.select(0, ids.div_scalar((i / g) as i64)),
                    Fold::Mod(g) => v.select(0, ids.remainder_scalar(g as i64)),
                };
                lower::spread(picked, cols, o)
            }
            _ => {
                let table = self.table(&stored.device());
                table.lookup(ids, stored.reshape([self.stored_len()]))
            }
        })
    }

    /// Rows `ids` of `Wᵀ` (columns of `W`, each id below `O`): shape `ids.dims() ++ [I]`. The
    /// lookup of a weight declared `transpose_of` this one; it materializes `W`.
    pub fn try_lookup_transposed<const D: usize, const D2: usize, const S: usize>(
        &self,
        ids: Tensor<D, Int>,
        stored: Tensor<S>,
    ) -> Result<Tensor<D2>, Error> {
        let wt = self.try_effective(stored)?.transpose();
        lookup_rows(ids, self.inputs(), |ids, _| wt.select(0, ids))
    }

    /// [`Tie::try_lookup`], panicking with its message on a shape that does not fit.
    #[track_caller]
    pub fn lookup<const D: usize, const D2: usize, const S: usize>(
        &self,
        ids: Tensor<D, Int>,
        stored: Tensor<S>,
    ) -> Tensor<D2> {
        self.try_lookup(ids, stored)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A built-in pattern's structure; `None` for a user's.
    fn structure(&self) -> Option<Structure> {
        self.geometry().map(Geometry::structure)
    }

    /// The index table on `device`, built on first use there.
    fn table(&self, device: &Device) -> GatherTable {
        let mut cached = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        match &*cached {
            Some(table) if table.device() == *device => table.clone(),
            _ => {
                let table = GatherTable::new(&self.map, self.inputs(), self.outputs(), device)
                    // A checked map (a built-in geometry, tied-patterns' tests; a user map, at
                    // `from_index_map`) is in range and uses every value.
                    .expect("a built-in pattern's index map is valid");
                *cached = Some(table.clone());
                table
            }
        }
    }

    /// Whether `bias` has `len` values, the side the product gives.
    fn check_bias(&self, bias: &Tensor<1>, len: usize) -> Result<(), Error> {
        let got = bias.dims()[0];
        if got == len {
            Ok(())
        } else {
            Err(Error::BiasShape {
                key: self.key(),
                want: len,
                got,
            })
        }
    }

    /// `x` as n×`features`, and the leading dims to restore.
    fn flatten<const D: usize>(
        &self,
        x: Tensor<D>,
        features: usize,
    ) -> Result<(Tensor<2>, [usize; D]), Error> {
        if D == 0 {
            return Err(Error::Rank {
                what: "an input",
                want: 1,
                got: 0,
            });
        }
        let dims = x.dims();
        if dims[D - 1] != features {
            return Err(Error::InputShape {
                key: self.key(),
                want: features,
                got: dims.to_vec(),
            });
        }
        let n = dims[..D - 1].iter().product();
        Ok((x.reshape([n, features]), dims))
    }

    /// `x·W (+ b)` on n×I.
    fn forward_2d<const S: usize>(
        &self,
        x: Tensor<2>,
        stored: Tensor<S>,
        bias: Option<Tensor<1>>,
    ) -> Tensor<2> {
        let (i, o) = (self.inputs(), self.outputs());
        let n = x.dims()[0];
        if n == 0 {
            return Tensor::zeros([0, o], (&x.device(), x.dtype()));
        }
        let len = self.stored_len();
        let Some(geometry) = self.geometry() else {
            let y = self.table(&x.device()).forward(x, stored.reshape([len]));
            return with_bias(y, bias);
        };
        #[cfg(feature = "flex")]
        if let Some(kernel) = self.flex_kernel(geometry, &x, &stored, bias.as_ref(), false) {
            return crate::flex::linear(x, stored.reshape([len]), bias, kernel, o);
        }
        let y = match geometry.structure() {
            Structure::Dense => x.matmul(stored.reshape([i, o])),
            Structure::Fold { rows, cols } => lower::fold(
                x,
                stored.reshape([rows.groups(), cols.groups()]),
                rows,
                cols,
                o,
            ),
            Structure::Shift(Shift::Toeplitz) => {
                lower::toeplitz(x, stored.reshape([len]), o, self.fft)
            }
            Structure::Shift(Shift::Circulant) => {
                lower::circulant(x, stored.reshape([len]), self.fft)
            }
            Structure::Shift(Shift::Hankel) => lower::hankel(x, stored.reshape([len]), o, self.fft),
            Structure::Band { .. } => lower::banded(x, stored.reshape([len]), o),
            Structure::Diagonal => lower::diagonal(x, stored.reshape([len])),
            SYMMETRIC => self.symmetric(x, stored.reshape([len])),
            Structure::Packed(_) => x.matmul(self.gathered(stored.reshape([len]))),
        };
        with_bias(y, bias)
    }

    /// The slice kernel for `x·W` (`x·Wᵀ` when `transposed`) when it runs: the `flex` feature,
    /// kernels on, values (and the bias) on Flex in one dtype, f32 or f64, and a pattern that has
    /// one.
    #[cfg(feature = "flex")]
    fn flex_kernel<const S: usize>(
        &self,
        geometry: &Geometry,
        x: &Tensor<2>,
        stored: &Tensor<S>,
        bias: Option<&Tensor<1>>,
        transposed: bool,
    ) -> Option<crate::flex::FlexKernel> {
        if !self.kernels
            || x.dtype() != stored.dtype()
            || !crate::flex::runs_here(stored)
            || bias.is_some_and(|b| b.dtype() != x.dtype() || !crate::flex::runs_here(b))
        {
            return None;
        }
        crate::flex::FlexKernel::of(geometry, transposed)
    }

    /// `x·W` for `symmetric` (`W = Wᵀ`, so also `x·Wᵀ`): on Flex one fused op of the `flex`
    /// feature (`W` never on the tape), elsewhere the gathered `W` and `matmul`.
    fn symmetric(&self, x: Tensor<2>, stored: Tensor<1>) -> Tensor<2> {
        #[cfg(feature = "flex")]
        if self.kernels && crate::flex::runs_here(&stored) && x.dtype() == stored.dtype() {
            return crate::flex::symmetric_matmul(x, stored, self.outputs());
        }
        x.matmul(self.gathered(stored))
    }

    /// `W` from the stored values (flat) by the gather lowering: `symmetric` and the patterns
    /// without a lowering of their own. `symmetric` on Flex takes the fused op of the `flex`
    /// feature instead of the `select`.
    fn gathered(&self, stored: Tensor<1>) -> Tensor<2> {
        #[cfg(feature = "flex")]
        if self.kernels && self.structure() == Some(SYMMETRIC) && crate::flex::runs_here(&stored) {
            return crate::flex::symmetric_effective(stored, self.outputs());
        }
        self.table(&stored.device()).effective(stored)
    }

    /// `x·Wᵀ (+ b)` on n×O.
    fn forward_transposed_2d<const S: usize>(
        &self,
        x: Tensor<2>,
        stored: Tensor<S>,
        bias: Option<Tensor<1>>,
    ) -> Tensor<2> {
        let (i, o) = (self.inputs(), self.outputs());
        let n = x.dims()[0];
        if n == 0 {
            return Tensor::zeros([0, i], (&x.device(), x.dtype()));
        }
        let len = self.stored_len();
        let Some(geometry) = self.geometry() else {
            let y = self
                .table(&x.device())
                .forward_transposed(x, stored.reshape([len]));
            return with_bias(y, bias);
        };
        #[cfg(feature = "flex")]
        if let Some(kernel) = self.flex_kernel(geometry, &x, &stored, bias.as_ref(), true) {
            return crate::flex::linear(x, stored.reshape([len]), bias, kernel, i);
        }
        let y = match geometry.structure() {
            Structure::Dense => x.matmul(stored.reshape([i, o]).transpose()),
            // Wᵀ[j, i] = V[rows(i), cols(j)] = Vᵀ[cols(j), rows(i)]: the folds swapped, on Vᵀ
            // (`rows`ᵀ is `cols`, a tile's transpose tiles Vᵀ).
            Structure::Fold { rows, cols } => {
                let (r, c) = (rows.groups(), cols.groups());
                let vt = if r == 1 || c == 1 {
                    stored.reshape([c, r])
                } else {
                    stored.reshape([r, c]).transpose()
                };
                lower::fold(x, vt, cols, rows, i)
            }
            Structure::Shift(Shift::Toeplitz) => {
                lower::toeplitz_transposed(x, stored.reshape([len]), i, self.fft)
            }
            Structure::Shift(Shift::Circulant) => {
                lower::circulant_transposed(x, stored.reshape([len]), self.fft)
            }
            // Wᵀ[j, i] = v[i + j]: Hankel again, of the transposed shape.
            Structure::Shift(Shift::Hankel) => lower::hankel(x, stored.reshape([len]), i, self.fft),
            // Wᵀ[j, i] = v[i − j + b] = v'[j − i + b] with v' = v read backwards: a band again.
            Structure::Band { .. } => lower::banded(x, stored.reshape([len]).flip([0]), i),
            // Wᵀ = W.
            Structure::Diagonal => lower::diagonal(x, stored.reshape([len])),
            SYMMETRIC => self.symmetric(x, stored.reshape([len])),
            Structure::Packed(_) => x.matmul(self.gathered(stored.reshape([len])).transpose()),
        };
        with_bias(y, bias)
    }
}

/// `y + b`, `b` broadcast over the rows, when there is a bias.
fn with_bias(y: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    match bias {
        Some(b) => y + b.unsqueeze::<2>(),
        None => y,
    }
}

/// `symmetric`'s structure, which has a fused op of its own on Flex.
const SYMMETRIC: Structure = Structure::Packed(Packing::SYMMETRIC);

/// Whether a built-in pattern at these sizes has a slice kernel on Flex (never without the
/// `flex` feature).
fn has_flex_kernel(geometry: &Geometry) -> bool {
    #[cfg(feature = "flex")]
    return crate::flex::has_kernel(geometry);
    #[cfg(not(feature = "flex"))]
    {
        let _ = geometry;
        false
    }
}

/// A lookup's shape bookkeeping: `ids` (rank `D`) flattened to `m` ids, `rows(ids, m)` their
/// m×`cols` rows, given back the ids' shape with `cols` last (rank `D2 = D + 1`).
fn lookup_rows<const D: usize, const D2: usize>(
    ids: Tensor<D, Int>,
    cols: usize,
    rows: impl FnOnce(Tensor<1, Int>, usize) -> Tensor<2>,
) -> Result<Tensor<D2>, Error> {
    if D2 != D + 1 {
        return Err(Error::Rank {
            what: "a lookup's output",
            want: D + 1,
            got: D2,
        });
    }
    let id_dims = ids.dims();
    let m: usize = id_dims.iter().product();
    let rows = rows(ids.reshape([m]), m);
    let mut dims = [0; D2];
    dims[..D].copy_from_slice(&id_dims);
    dims[D] = cols;
    Ok(rows.reshape(dims))
}

/// `y` (n×`features`) back to the input's leading dims.
fn unflatten<const D: usize>(y: Tensor<2>, mut dims: [usize; D], features: usize) -> Tensor<D> {
    dims[D - 1] = features;
    y.reshape(dims)
}
