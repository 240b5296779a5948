//! [`try_fused_linear`]: a [`LinearKernel`] registered on dfdx's tape.

use std::borrow::Cow;

use dfdx::prelude::*;
use dfdx::tensor::Storage;

use super::cpu::{cpu_output, cpu_slice, OnCpu, RawGrad};
use super::{enabled, Backward, CpuDtype, Forward, Fused, FusedLinear, LinearKernel};
use crate::Batch;

/// Where effective bias entry `j` comes from: `index(0, j)` into the stored values (a tied bias's
/// pattern, [`crate::Tie::index`] of a 1×O weight), `None` for a structural zero.
pub type BiasIndex = fn(usize, usize) -> Option<usize>;

/// How a fused kernel treats a layer's bias (what [`crate::Bias`] says of itself).
pub enum KernelBias<E, D: Storage<E>> {
    /// There is none.
    None,
    /// The kernel adds it, and fills its gradient.
    Fused(FusedBias<E, D>),
    /// Add it after the kernel, with [`crate::Bias::try_add_to`].
    Separate,
}

/// A bias for a fused op to add: its stored values (any shape; the gradient goes to that tensor)
/// and how they fill the O-entry bias row.
pub struct FusedBias<E, D: Storage<E>> {
    /// The stored values, flattened: the same tensor (id and buffer) as the parameter.
    values: Tensor<(usize,), E, D>,
    /// `None`: entry `j` is stored value `j`.
    index: Option<BiasIndex>,
}

impl<E: Clone, D: Storage<E>> Clone for FusedBias<E, D> {
    fn clone(&self) -> Self {
        FusedBias {
            values: self.values.clone(),
            index: self.index,
        }
    }
}

impl<E: Dtype, D: Device<E>> FusedBias<E, D> {
    /// `stored` as a bias: entry `j` of the bias row is stored value `index(0, j)`, or value `j` when
    /// `index` is `None`. `None` when `stored` cannot be viewed flat without a copy (a copy would
    /// take the gradient away from the parameter): then add the bias with dfdx ops.
    pub fn new<S: Shape>(stored: &Tensor<S, E, D>, index: Option<BiasIndex>) -> Option<Self> {
        let numel = stored.shape().num_elements();
        // A row-major reshape keeps the tensor's id and buffer (dfdx's `try_reshape_like`); a
        // strided one copies, under a new id: detected on the CPU by comparing buffers.
        let values = stored.clone().try_reshape_like(&(numel,)).ok()?;
        let same = if OnCpu::<E, D, f32>::new().is_some() {
            same_buffer::<E, D, f32, S>(stored, &values)
        } else if OnCpu::<E, D, f64>::new().is_some() {
            same_buffer::<E, D, f64, S>(stored, &values)
        } else {
            true
        };
        same.then_some(FusedBias { values, index })
    }
}

/// Whether `a` and `b` (CPU tensors) view the same row-major buffer.
fn same_buffer<E: Dtype, D: Storage<E>, F: CpuDtype, S: Shape>(
    a: &Tensor<S, E, D>,
    b: &Tensor<(usize,), E, D>,
) -> bool {
    let Some(cast) = OnCpu::<E, D, F>::new() else {
        return false;
    };
    match (cpu_slice(cast.tensor_ref(a)), cpu_slice(cast.tensor_ref(b))) {
        (Some(a), Some(b)) => a.as_ptr() == b.as_ptr() && a.len() == b.len(),
        _ => false,
    }
}

impl<E, D: Storage<E>> FusedBias<E, D> {
    /// The stored value that fills bias entry `j`, if any.
    fn position(&self, j: usize, stored: usize) -> Option<usize> {
        match self.index {
            None => Some(j),
            Some(index) => index(0, j),
        }
        .filter(|&k| k < stored)
    }

    /// The O-entry bias row from the stored `values` (borrowed when it is them).
    fn row<'a, F: Copy + Default>(&self, values: &'a [F], outputs: usize) -> Cow<'a, [F]> {
        if self.index.is_none() && values.len() == outputs {
            return Cow::Borrowed(values);
        }
        (0..outputs)
            .map(|j| {
                self.position(j, values.len())
                    .map_or_else(F::default, |k| values[k])
            })
            .collect()
    }
}

/// `y = x·W (+ b)` by `kernel` on dfdx's tape, when `D` is `Cpu` and `E` is `f32` or `f64` (and
/// kernels are [`enabled`](super::enabled)); otherwise `Declined(x)`.
///
/// `stored` holds the pattern's values (its gradient accumulates there, under any tape), `bias`
/// an optional bias fused into the same pass. The output is a fresh contiguous n×O tensor from
/// dfdx's allocator; its tape is `x`'s, carrying one backward op that fills the gradients of `x`,
/// `stored` and the bias. With a [`NoneTape`] nothing is recorded. `n = 0` gives an empty output
/// and, on a tape, zero gradients.
pub fn try_fused_linear<K, const I: usize, const O: usize, S, E, D, T>(
    x: Batch<I, E, D, T>,
    stored: &Tensor<S, E, D>,
    bias: Option<&FusedBias<E, D>>,
    kernel: K,
) -> FusedLinear<I, O, E, D, T>
where
    K: LinearKernel,
    S: Shape,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    if !enabled() {
        return Fused::Declined(x);
    }
    if let Some(cast) = OnCpu::<E, D, f32>::new() {
        return on_cpu::<K, I, O, S, E, D, T, f32>(cast, x, stored, bias, kernel);
    }
    if let Some(cast) = OnCpu::<E, D, f64>::new() {
        return on_cpu::<K, I, O, S, E, D, T, f64>(cast, x, stored, bias, kernel);
    }
    Fused::Declined(x)
}

/// [`try_fused_linear`] once the device is known to be `Cpu` and the dtype `F`.
///
/// The tape and the backward closure stay spelled with `E`/`D` (that is what `T: Tape<E, D>`
/// accepts); the values are read as `F` on `Cpu` through `cast`.
fn on_cpu<K, const I: usize, const O: usize, S, E, D, T, F>(
    cast: OnCpu<E, D, F>,
    x: Batch<I, E, D, T>,
    stored: &Tensor<S, E, D>,
    bias: Option<&FusedBias<E, D>>,
    kernel: K,
) -> FusedLinear<I, O, E, D, T>
where
    K: LinearKernel,
    S: Shape,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    F: CpuDtype,
{
    let n = x.shape().0;
    // A view (stride 0, permuted) is copied by dfdx on the tape, so its gradient still reaches `x`;
    // a contiguous input is passed through unchanged (same id and buffer).
    let x = match x.try_contiguous() {
        Ok(x) => x,
        Err(err) => return Fused::Done(Err(err)),
    };
    let (x, mut tape) = x.split_tape();
    let (Some(xs), Some(ws)) = (
        cpu_slice(cast.tensor_ref(&x)),
        cpu_slice(cast.tensor_ref(stored)),
    ) else {
        return Fused::Declined(x.put_tape(tape));
    };
    let bias_values = match bias.map(|b| cpu_slice(cast.tensor_ref(&b.values))) {
        Some(None) => return Fused::Declined(x.put_tape(tape)),
        Some(Some(values)) => Some(values),
        None => None,
    };
    let bias_row = bias.zip(bias_values).map(|(b, v)| b.row(v, O));
    let dev: &Cpu = cast.tensor_ref(&x).device();
    let y = cpu_output(dev, (n, Const::<O>), |y| {
        kernel.forward(Forward {
            n,
            x: &xs[..n * I],
            w: ws,
            bias: bias_row.as_deref(),
            y,
        })
    });
    let y: Batch<O, E, D, NoneTape> = match y {
        Ok(y) => cast.back(y),
        Err(err) => return Fused::Done(Err(cast.err(err))),
    };
    if T::OWNS_TAPE {
        let out = y.ghost();
        let stored = stored.clone();
        let bias = bias.cloned();
        tape.add_backward_op(move |grads| {
            // Every gradient is allocated before any is viewed (see `RawGrad`); the output's was
            // made by the ops after this one, or is zeros if none used it.
            let dy = RawGrad::of(cast.grad(grads.get_or_alloc_mut(&out)?));
            let dx = RawGrad::of(cast.grad(grads.get_or_alloc_mut(&x)?));
            let dw = RawGrad::of(cast.grad(grads.get_or_alloc_mut(&stored)?));
            let (xs, ws) = (
                cpu_slice(cast.tensor_ref(&x)).expect("checked in the forward"),
                cpu_slice(cast.tensor_ref(&stored)).expect("checked in the forward"),
            );
            assert!(dy.len() >= n * O && dx.len() >= n * I && dw.len() >= ws.len());
            let mut db = bias.as_ref().map(|_| vec![F::zero(); O]);
            // `out` is new, so `dy` is its own buffer; `x` and `stored` are the same buffer only
            // when the caller passed one tensor as both: then `dw` goes through a copy.
            let mut dw_copy = dx.overlaps(&dw).then(|| vec![F::zero(); ws.len()]);
            {
                // SAFETY: `dy` overlaps neither `dx` nor (unless copied) `dw`; `grads` is not
                // touched while these views live.
                let (dy, dx) = unsafe { (dy.slice(), dx.slice_mut()) };
                let dw_view: &mut [F] = match dw_copy.as_mut() {
                    Some(copy) => copy,
                    // SAFETY: `dw` overlaps neither `dx` (checked) nor `dy`.
                    None => unsafe { &mut dw.slice_mut()[..ws.len()] },
                };
                kernel.backward(Backward {
                    n,
                    x: &xs[..n * I],
                    w: ws,
                    dy: &dy[..n * O],
                    dx: &mut dx[..n * I],
                    dw: dw_view,
                    db: db.as_deref_mut(),
                });
            }
            if let Some(copy) = dw_copy {
                // SAFETY: the views above are gone; this is the only one.
                let dw = unsafe { dw.slice_mut() };
                dw.iter_mut().zip(copy).for_each(|(g, c)| *g += c);
            }
            if let (Some(bias), Some(db)) = (bias, db) {
                let stored = bias.values.shape().0;
                let g = cast.grad(grads.get_or_alloc_mut(&bias.values)?);
                for (j, v) in db.into_iter().enumerate() {
                    if let Some(k) = bias.position(j, stored) {
                        g[k] += v;
                    }
                }
            }
            Ok(())
        });
    }
    Fused::Done(Ok(y.put_tape(tape)))
}
