//! From a pattern's structure to its kernel: the one choice both front ends make, the dfdx fused
//! path for every built-in and Burn's fused Flex op (which declines some, by its own measurements).

use tied_patterns::{Shift, Structure};

use crate::band::BandKernel;
use crate::dense::DenseKernel;
use crate::diagonal::DiagonalKernel;
use crate::fft::{ShiftKernel, ShiftOp};
use crate::fold::FoldKernel;
use crate::symmetric::SymmetricBlocks;
use crate::{Backward, Forward, KernelDtype, LinearKernel};

/// The kernel of one [`Structure`], as [`kernel_for`] builds it.
pub enum Kernel {
    /// The broadcast family ([`Structure::Fold`]).
    Fold(FoldKernel),
    /// Toeplitz, circulant, Hankel ([`Structure::Shift`]).
    Shift(ShiftOp),
    /// [`Structure::Band`].
    Band(BandKernel),
    /// [`Structure::Diagonal`].
    Diagonal(DiagonalKernel),
    /// No tie ([`Structure::Dense`]).
    Dense(DenseKernel),
    /// The packed triangles: symmetric, skew, triangular ([`Structure::Packed`]).
    Packed(SymmetricBlocks),
}

/// The kernel of `structure` on an `inputs`×`outputs` weight, for `x·W`, or `x·Wᵀ` when
/// `transposed` (on the same stored values); `None` where the sizes do not fit it (a fold whose
/// groups do not divide the sides, a circulant without outputs, an empty band, a diagonal or
/// packed weight that is not square). The caller checks that the stored values are as many as
/// [`Structure::stored_len`] says.
///
/// A correlation keeps the forward's spectra for the backward; [`Kernel::keeping`] says whether.
pub fn kernel_for(
    structure: Structure,
    inputs: usize,
    outputs: usize,
    transposed: bool,
) -> Option<Kernel> {
    let (i, o) = (inputs, outputs);
    Some(match structure {
        Structure::Dense => {
            let dense = DenseKernel::new(i, o);
            Kernel::Dense(if transposed {
                dense.transposed()
            } else {
                dense
            })
        }
        Structure::Fold { rows, cols } => {
            let fold = FoldKernel::new(i, o, rows, cols)?;
            Kernel::Fold(if transposed { fold.transposed() } else { fold })
        }
        Structure::Shift(shift) => {
            let kernel = match shift {
                Shift::Toeplitz => ShiftKernel::toeplitz(i, o),
                Shift::Circulant if o > 0 => ShiftKernel::circulant(i, o),
                Shift::Circulant => return None,
                Shift::Hankel => ShiftKernel::hankel(i, o),
            };
            let kernel = if transposed {
                kernel.transposed()
            } else {
                kernel
            };
            Kernel::Shift(kernel.op(true))
        }
        Structure::Band { k } if k > 0 => {
            let band = BandKernel::banded(i, o, k);
            Kernel::Band(if transposed { band.transposed() } else { band })
        }
        Structure::Band { .. } => return None,
        // Its own transpose.
        Structure::Diagonal if i == o => Kernel::Diagonal(DiagonalKernel::new(o)),
        Structure::Packed(packing) if i == o => {
            let blocks = SymmetricBlocks::packed(o, packing);
            Kernel::Packed(if transposed {
                blocks.transposed()
            } else {
                blocks
            })
        }
        Structure::Diagonal | Structure::Packed(_) => return None,
    })
}

impl Kernel {
    /// The same kernel, keeping what its forward computed for a backward only when `keep` (a
    /// correlation's spectra; the others keep nothing that costs a pass).
    pub fn keeping(self, keep: bool) -> Self {
        match self {
            Kernel::Shift(op) => Kernel::Shift(op.keeping(keep)),
            other => other,
        }
    }

    /// The kernel's kind, for debugging: `"fold"`, `"shift"`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Kernel::Fold(_) => "fold",
            Kernel::Shift(_) => "shift",
            Kernel::Band(_) => "band",
            Kernel::Diagonal(_) => "diagonal",
            Kernel::Dense(_) => "dense",
            Kernel::Packed(_) => "packed",
        }
    }
}

impl core::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Kernel").field(&self.kind()).finish()
    }
}

impl LinearKernel for Kernel {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        match self {
            Kernel::Fold(k) => k.forward(a),
            Kernel::Shift(k) => k.forward(a),
            Kernel::Band(k) => LinearKernel::forward(k, a),
            Kernel::Diagonal(k) => k.forward(a),
            Kernel::Dense(k) => k.forward(a),
            Kernel::Packed(k) => k.forward(a),
        }
    }

    fn backward<F: KernelDtype>(&self, a: Backward<'_, F>) {
        match self {
            Kernel::Fold(k) => k.backward(a),
            Kernel::Shift(k) => k.backward(a),
            Kernel::Band(k) => LinearKernel::backward(k, a),
            Kernel::Diagonal(k) => k.backward(a),
            Kernel::Dense(k) => k.backward(a),
            Kernel::Packed(k) => k.backward(a),
        }
    }
}
