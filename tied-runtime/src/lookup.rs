//! Rows of an effective weight picked by ids (an embedding lookup), without building the weight.

use dfdx::prelude::*;

use crate::Tie;

/// Rows `ids` of pattern `P`'s effective I×O weight, like dfdx's `Embedding`: `(B,)` ids give
/// `(B, O)`, `(B, S)` ids give `(B, S, O)`. The ids' tape carries the gradient to `stored`.
///
/// Reads only the rows it returns, for every pattern: the positions of the requested rows come
/// from [`Tie::index`] (O per id), and one gather reads them from the stored values. O(ids·O) time
/// and memory whatever `I` is: a 2^20-row `rows` weight looks up two ids in two rows' worth of
/// work, where materializing `W` first would need 2^40 entries. Runs on any device (plain dfdx
/// ops; the ids are read on the host to build the positions). Structural zeros (outside a band)
/// are zeros with no gradient.
///
/// # Panics
/// On an id of `I` or more, as dfdx's gather does.
pub fn try_lookup<P, const I: usize, const O: usize, E, D, T, Idx, Dst>(
    stored: &Tensor<P::Stored, E, D>,
    ids: Tensor<Idx, usize, D, T>,
) -> Result<Tensor<Dst, E, D, T>, D::Err>
where
    P: Tie<I, O>,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    Idx: Shape,
    Dst: Shape,
    Rank2<I, O>: ReplaceDimTo<Dst, Idx>,
{
    let weight = (Const::<I>, Const::<O>);
    ReplaceDimTo::<Dst, Idx>::check(&weight, ids.shape());
    let dst: Dst = ReplaceDimTo::<Dst, Idx>::replace(&weight, *ids.shape());
    let (ids, tape) = ids.split_tape();
    let dev = stored.device().clone();
    if ids.shape().num_elements() == 0 {
        return Ok(dev.try_zeros_like(&dst)?.put_tape(tape));
    }
    let numel = <P::Stored as ConstShape>::NUMEL;
    let rows = ids.as_vec();
    let mut index = Vec::with_capacity(rows.len() * O);
    let mut mask = Vec::with_capacity(rows.len() * O);
    for &row in &rows {
        assert!(row < I, "lookup: id {row} is out of range for {I} rows");
        for j in 0..O {
            // Positions past the stored values are structural zeros here, as in
            // `gather_effective` (generated layers refuse such patterns when they are built).
            match P::index(row, j).filter(|&k| k < numel) {
                Some(k) => {
                    index.push(k);
                    mask.push(E::ONE);
                }
                None => {
                    index.push(0);
                    mask.push(E::default());
                }
            }
        }
    }
    let flat: Tensor<(usize,), E, D, T> =
        stored.clone().put_tape(tape).try_reshape_like(&(numel,))?;
    let len = index.len();
    let index: Tensor<(usize,), usize, D> = dev.try_tensor_from_vec(index, (len,))?;
    let picked: Tensor<(usize,), E, D, T> = flat.try_gather(index)?;
    let picked = if mask.iter().all(|m| *m == E::ONE) {
        picked
    } else {
        picked.try_mul(dev.try_tensor_from_vec(mask, (len,))?)?
    };
    picked.try_reshape_like(&dst)
}
