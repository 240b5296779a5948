//! Rows of an effective weight picked by ids (an embedding lookup), without building the weight.

use dfdx::prelude::*;

use crate::kernels::{cpu_output, cpu_slice, enabled, CpuDtype, Fused, OnCpu, RawGrad};
use crate::Tie;

/// Rows `ids` of pattern `P`'s effective I×O weight, like dfdx's `Embedding`: `(B,)` ids give
/// `(B, O)`, `(B, S)` ids give `(B, S, O)`. The ids' tape carries the gradient to `stored`.
///
/// Reads only the rows it returns, for every pattern: the positions of the requested rows come
/// from [`Tie::index`] (O per id), and one gather reads them from the stored values. O(ids·O) time
/// and memory whatever `I` is: a 2^20-row `rows` weight looks up two ids in two rows' worth of
/// work, where materializing `W` first would need 2^40 entries. Runs on any device (plain dfdx
/// ops; the ids are read on the host to build the positions). Structural zeros (outside a band)
/// are zeros with no gradient; negated entries (`skew`) are their stored value times −1.
///
/// On dfdx's `Cpu` in f32 and f64 (with [kernels](crate::kernels) on) the same reads are one fused
/// op: the output is filled straight from the stored values and one backward op adds each output
/// gradient at its position, with no position or index tensor built per call. `char_lm`'s
/// 128×12 lookup of 32-wide rows took a fifth of its training step through dfdx's gather.
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
        // No ids (an empty batch or sequence): dfdx's gather reads element 0 of its index and
        // panics, so the empty output is made here, and the stored values get a zero gradient.
        let stored = stored.ghost();
        return crate::layer::try_empty_on_tape(&dev, dst, tape, move |grads| {
            grads.try_alloc_for(&stored)
        });
    }
    let numel = <P::Stored as ConstShape>::NUMEL;
    let rows = ids.as_vec();
    if let Some(&row) = rows.iter().find(|&&row| row >= I) {
        panic!("lookup: id {row} is out of range for {I} rows");
    }
    let tape = match fused::<P, I, O, E, D, T, Dst>(stored, &rows, dst, tape) {
        Fused::Done(y) => return y,
        Fused::Declined(tape) => tape,
    };
    let mut index = Vec::with_capacity(rows.len() * O);
    let mut mask = Vec::with_capacity(rows.len() * O);
    for &row in &rows {
        for j in 0..O {
            match position::<P, I, O>(row, j, numel) {
                Some(k) => {
                    index.push(k);
                    mask.push(if P::SIGNED && P::negated(row, j) {
                        E::default() - E::ONE
                    } else {
                        E::ONE
                    });
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

/// Where `W[row, j]` is among `numel` stored values, `None` for a structural zero.
///
/// # Panics
/// On a position past the stored values: never a silent zero (every build checks the pattern, see
/// `gather_effective`; generated layers refuse such patterns when they are built).
#[inline]
fn position<P: Tie<I, O>, const I: usize, const O: usize>(
    row: usize,
    j: usize,
    numel: usize,
) -> Option<usize> {
    let k = P::index(row, j)?;
    if k >= numel {
        panic!(
            "tied: {}",
            crate::PatternError::OutOfRange {
                pattern: P::NAME,
                i: row,
                j,
                index: k,
                stored: numel,
            }
        );
    }
    Some(k)
}

/// What the fused lookup gives: the rows (or dfdx's error), or the tape back for the dfdx ops.
type FusedLookup<Dst, E, D, T> = Fused<Result<Tensor<Dst, E, D, T>, <D as HasErr>::Err>, T>;

/// Where each entry of the looked-up rows is stored: from a table of all I rows when there are at
/// least as many ids as rows (an embedding: `char_lm` looks up its 64 rows 1536 times a step, and
/// `Tie::index` through a runtime geometry took a tenth of the step), else [`position`] per entry.
struct Positions<P, const I: usize, const O: usize> {
    /// `I·O` positions, `usize::MAX` for a structural zero.
    table: Option<Vec<usize>>,
    numel: usize,
    pattern: core::marker::PhantomData<fn() -> P>,
}

impl<P: Tie<I, O>, const I: usize, const O: usize> Positions<P, I, O> {
    fn new(rows: &[usize], numel: usize) -> Self {
        let table = (I <= rows.len()).then(|| {
            (0..I * O)
                .map(|e| position::<P, I, O>(e / O, e % O, numel).unwrap_or(usize::MAX))
                .collect()
        });
        Positions {
            table,
            numel,
            pattern: core::marker::PhantomData,
        }
    }

    #[inline]
    fn at(&self, row: usize, j: usize) -> Option<usize> {
        match &self.table {
            Some(table) => Some(table[row * O + j]).filter(|&k| k != usize::MAX),
            None => position::<P, I, O>(row, j, self.numel),
        }
    }
}

/// The fused form of [`try_lookup`] on dfdx's `Cpu` in f32 or f64; otherwise the tape back.
fn fused<P, const I: usize, const O: usize, E, D, T, Dst>(
    stored: &Tensor<P::Stored, E, D>,
    rows: &[usize],
    dst: Dst,
    tape: T,
) -> FusedLookup<Dst, E, D, T>
where
    P: Tie<I, O>,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    Dst: Shape,
{
    // The fused reads copy stored values unsigned: a signed tie (`skew`) takes the gather.
    if !enabled() || P::SIGNED {
        return Fused::Declined(tape);
    }
    if let Some(cast) = OnCpu::<E, D, f32>::new() {
        return fused_on::<P, I, O, E, D, T, Dst, f32>(cast, stored, rows, dst, tape);
    }
    if let Some(cast) = OnCpu::<E, D, f64>::new() {
        return fused_on::<P, I, O, E, D, T, Dst, f64>(cast, stored, rows, dst, tape);
    }
    Fused::Declined(tape)
}

/// [`fused`] once the device is known to be `Cpu` and the dtype `F`.
fn fused_on<P, const I: usize, const O: usize, E, D, T, Dst, F>(
    cast: OnCpu<E, D, F>,
    stored: &Tensor<P::Stored, E, D>,
    rows: &[usize],
    dst: Dst,
    mut tape: T,
) -> FusedLookup<Dst, E, D, T>
where
    P: Tie<I, O>,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    Dst: Shape,
    F: CpuDtype,
{
    let Some(ws) = cpu_slice(cast.tensor_ref(stored)) else {
        return Fused::Declined(tape);
    };
    debug_assert_eq!(dst.num_elements(), rows.len() * O);
    let positions = Positions::<P, I, O>::new(rows, ws.len());
    let dev: &Cpu = cast.tensor_ref(stored).device();
    let y = cpu_output(dev, dst, |y| {
        for (&row, out) in rows.iter().zip(y.chunks_exact_mut(O)) {
            for (j, v) in out.iter_mut().enumerate() {
                *v = positions.at(row, j).map_or(F::zero(), |k| ws[k]);
            }
        }
    });
    let y: Tensor<Dst, E, D> = match y {
        Ok(y) => cast.back(y),
        Err(err) => return Fused::Done(Err(cast.err(err))),
    };
    if T::OWNS_TAPE {
        let (out, stored, rows) = (y.ghost(), stored.clone(), rows.to_vec());
        tape.add_backward_op(move |grads| {
            // Both allocated before either is viewed (see `RawGrad`); `out` is new, so its
            // gradient is a buffer of its own.
            let dy = RawGrad::of(cast.grad(grads.get_or_alloc_mut(&out)?));
            let dw = RawGrad::of(cast.grad(grads.get_or_alloc_mut(&stored)?));
            // SAFETY: two distinct tensors' buffers; `grads` is not touched while the views live.
            let (dy, dw) = unsafe { (dy.slice(), dw.slice_mut()) };
            for (&row, g) in rows.iter().zip(dy.chunks_exact(O)) {
                for (j, &g) in g.iter().enumerate() {
                    if let Some(k) = positions.at(row, j) {
                        dw[k] += g;
                    }
                }
            }
            Ok(())
        });
    }
    Fused::Done(Ok(y.put_tape(tape)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rows;

    #[test]
    fn lookup_of_no_ids_is_empty_with_zero_gradient() {
        let dev = Cpu::default();
        let w: Tensor<Rank1<4>, f64, _> = dev.sample_normal();
        let none: Tensor<(usize,), usize, _> = dev.zeros_like(&(0,));
        let y: Tensor<(usize, Const<3>), f64, _, _> =
            try_lookup::<Rows, 4, 3, _, _, _, _, _>(&w, none.leaky_traced()).unwrap();
        assert_eq!(y.shape().concrete(), [0, 3]);
        let grads = y.sum::<Rank1<3>, _>().sum().backward();
        assert_eq!(grads.get(&w).array(), [0.0; 4]);
        for ids in [(2, 0), (0, 5)] {
            let none: Tensor<(usize, usize), usize, _> = dev.zeros_like(&ids);
            let y: Tensor<(usize, usize, Const<3>), f64, _, _> =
                try_lookup::<Rows, 4, 3, _, _, _, _, _>(&w, none.leaky_traced()).unwrap();
            assert_eq!(y.shape().concrete(), [ids.0, ids.1, 3]);
            let grads = y.sum::<Rank1<3>, _>().sum().backward();
            assert_eq!(grads.get(&w).array(), [0.0; 4]);
        }
        // With ids: the rows of W, W[i, j] = w[i].
        let ids: Tensor<(usize,), usize, _> = dev.tensor_from_vec(vec![3, 0], (2,));
        let y: Tensor<(usize, Const<3>), f64, _> =
            try_lookup::<Rows, 4, 3, _, _, _, _, _>(&w, ids).unwrap();
        let w = w.array();
        assert_eq!(y.as_vec(), [[w[3]; 3], [w[0]; 3]].concat());
    }
}
