//! Pictures of tie patterns ([`Picture`], framework-free in `tied-patterns`), drawn from a dfdx
//! [`Tie`] type's index map.

pub use tied_patterns::Picture;

use crate::Tie;

/// [`Picture::of`]: the picture of a [`Tie`] type at its const sizes (in the prelude).
pub trait PictureOf {
    /// The picture of tie `P` for a weight called `name`, labelling stored value `k` as
    /// `{label}{k + 1}`.
    fn of<P: Tie<I, O>, const I: usize, const O: usize>(name: &str, label: &str) -> Picture;
}

impl PictureOf for Picture {
    fn of<P: Tie<I, O>, const I: usize, const O: usize>(name: &str, label: &str) -> Picture {
        Picture::from_entry(
            name,
            label,
            P::NAME,
            (I, O),
            <P::Stored as dfdx::shapes::ConstShape>::NUMEL,
            |i, j| P::index(i, j).map(|k| (k, P::SIGNED && P::negated(i, j))),
        )
    }
}
