//! [`try_fused_map`]: one tensor to another by a [`MapKernel`], on dfdx's tape (for instance a
//! pattern's effective weight materialized from its stored values, with a scatter-add backward).

use dfdx::prelude::*;

use super::cpu::{cpu_output, cpu_slice, OnCpu, RawGrad};
use super::{enabled, CpuDtype, Fused};

/// `out = f(input)` as slice arithmetic. Both slices are row-major and contiguous.
pub trait MapKernel: Send + Sync + 'static {
    /// Fills `out` (zeroed) from `input`.
    fn forward<F: CpuDtype>(&self, input: &[F], out: &mut [F]);

    /// Accumulates (`+=`) the input's gradient `d_input` from the output's `d_out`.
    fn backward<F: CpuDtype>(&self, input: &[F], d_out: &[F], d_input: &mut [F]);
}

/// `kernel` applied to `input`, giving a new contiguous tensor of `shape` on `input`'s tape, when
/// `D` is `Cpu` and `E` is `f32` or `f64` (and kernels are [`enabled`](super::enabled));
/// otherwise `Declined(input)`.
#[allow(clippy::type_complexity)]
pub fn try_fused_map<K, Si, So, E, D, T>(
    input: Tensor<Si, E, D, T>,
    shape: So,
    kernel: K,
) -> Fused<Result<Tensor<So, E, D, T>, D::Err>, Tensor<Si, E, D, T>>
where
    K: MapKernel,
    Si: Shape,
    So: Shape,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    if !enabled() {
        return Fused::Declined(input);
    }
    if let Some(cast) = OnCpu::<E, D, f32>::new() {
        return on_cpu(cast, input, shape, kernel);
    }
    if let Some(cast) = OnCpu::<E, D, f64>::new() {
        return on_cpu(cast, input, shape, kernel);
    }
    Fused::Declined(input)
}

#[allow(clippy::type_complexity)]
fn on_cpu<K, Si, So, E, D, T, F>(
    cast: OnCpu<E, D, F>,
    input: Tensor<Si, E, D, T>,
    shape: So,
    kernel: K,
) -> Fused<Result<Tensor<So, E, D, T>, D::Err>, Tensor<Si, E, D, T>>
where
    K: MapKernel,
    Si: Shape,
    So: Shape,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    F: CpuDtype,
{
    let input = match input.try_contiguous() {
        Ok(input) => input,
        Err(err) => return Fused::Done(Err(err)),
    };
    let (input, mut tape) = input.split_tape();
    let Some(values) = cpu_slice(cast.tensor_ref(&input)) else {
        return Fused::Declined(input.put_tape(tape));
    };
    let dev: &Cpu = cast.tensor_ref(&input).device();
    let out = match cpu_output(dev, shape, |out| kernel.forward(values, out)) {
        Ok(out) => cast.back(out),
        Err(err) => return Fused::Done(Err(cast.err(err))),
    };
    if T::OWNS_TAPE {
        let out_ghost = out.ghost();
        let numel = shape.num_elements();
        tape.add_backward_op(move |grads| {
            // Both gradients allocated before either is viewed (see `RawGrad`); `out` is new, so
            // its buffer is not the input's.
            let d_out = RawGrad::of(cast.grad(grads.get_or_alloc_mut(&out_ghost)?));
            let d_in = RawGrad::of(cast.grad(grads.get_or_alloc_mut(&input)?));
            let values = cpu_slice(cast.tensor_ref(&input)).expect("checked in the forward");
            assert!(d_out.len() >= numel && d_in.len() >= values.len());
            // SAFETY: distinct tensors, distinct buffers; `grads` is untouched while they live.
            let (d_out, d_in) = unsafe { (d_out.slice(), d_in.slice_mut()) };
            kernel.backward(values, &d_out[..numel], &mut d_in[..values.len()]);
            Ok(())
        });
    }
    Fused::Done(Ok(out.put_tape(tape)))
}
