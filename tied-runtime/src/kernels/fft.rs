//! Hankel, Toeplitz and circulant weights: `x·W` as a correlation, O(N log N) per row through real
//! FFTs (`realfft` on `rustfft`), and a direct O(I·O) kernel below a measured crossover.
//!
//! All three are one operator. Put the input row into a buffer of `m_in` slots (as is, reversed,
//! or at `−i mod N` for circulant), correlate it with the values `u`,
//! `c[j] = Σ_a buf[a]·u[(a + j) mod L]` for `j < m_out`, and read the output row from `c` (as is,
//! reversed, or at `−j mod N`):
//!
//! | pattern | `W[i, j]` | input slot | output slot | `u` |
//! |---|---|---|---|---|
//! | Hankel | `v[i + j]` | `i` | `j` | `v` |
//! | Toeplitz | `v[i + O − 1 − j]` | `i` | `O − 1 − j` | `v` |
//! | circulant | `v[(j − i) mod N]` | `−i mod N` | `j` | `v`, periodic |
//!
//! A transpose swaps the two sides. The backward is the same correlation run on the output's
//! gradient (for `x`'s gradient) and a convolution of `x` with it (for the values').
//!
//! Direct kernel: `c += buf[a]·u[a..a + m_out]` for each `a` (a vectorized AXPY), on
//! `u` extended periodically for circulant. FFT kernel: `c = IFFT(conj(FFT(buf))·FFT(u))` on a
//! length `L ≥ m_in + m_out − 1` with only small prime factors (so no wrap-around reaches
//! the kept outputs), or `L = N` for a circulant whose `N` is such a length. Plans are made once
//! per length and cached; `FFT(u)` once per call; the input's spectra are kept from the forward
//! for the backward when asked.
//!
//! Accuracy: the FFT path's error against the exact (f64, direct) result is, relative to the
//! output's norm, about `ε·log₂ L` (ε the type's epsilon); `tests/index_kernels.rs` asserts
//! [`fft_tolerance`].

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::index::{add_bias, add_bias_grad, add_partials, axpy, map_row_tasks, rows_per_task};
use super::{Backward, Forward, KernelDtype, LinearKernel};

/// The direct kernel's multiply-adds per row against the FFT path's `L·log₂ L`, at which both
/// take the same time: the FFT path is used when `m_in·m_out > FFT_CROSSOVER·L·log₂ L`.
///
/// Measured with `benches/fft_crossover.rs` (B = 64, f32, forward + backward, one thread, on a
/// loaded 2-core machine, so only the ordering is reliable): square Toeplitz (L = 2N) is faster
/// direct at N = 32 (48 µs against 140 µs) and by FFT at N = 64 (163 µs against 212 µs), ratios
/// `N²/(L·log₂ L)` of 2.7 and 4.6; circulant (L = N) direct at N = 32 (110 against 199 µs), FFT
/// at 64 (350 against 483 µs). 4 puts the switch between those sizes for Toeplitz and Hankel,
/// and at N = 32 for circulant, where both paths are within noise. Rerun the benchmark on an idle
/// machine to refine it.
pub const FFT_CROSSOVER: f64 = 4.0;

/// The relative error (‖FFT result − exact‖ / ‖exact‖) the FFT path stays within for a
/// correlation of length `len`, in the precision of `E`: `4·ε·log₂ len`, a bound with margin
/// over what the tests measure.
pub fn fft_tolerance<E: KernelDtype>(len: usize) -> f64 {
    let eps = E::epsilon().to_f64().unwrap_or(f64::EPSILON);
    4.0 * eps * (len.max(2) as f64).log2()
}

/// Where a row of the layer (input or output) sits in the correlation's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Entry `i` at `i`.
    Same,
    /// Entry `i` at `m − 1 − i` (a buffer of `m` slots).
    Reversed,
    /// Entry `i` at `−i mod N` (the period), summed where several entries land (a circulant
    /// weight with more rows than its period).
    Negated,
}

/// `x·W` for a Hankel, Toeplitz or circulant `W` (rows×cols), or its transpose: a plan of the
/// correlation, made cheaply per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftKernel {
    len_in: usize,
    len_out: usize,
    m_in: usize,
    m_out: usize,
    slot_in: Slot,
    slot_out: Slot,
    /// `Some(N)`: the values repeat with period `N` (circulant).
    period: Option<usize>,
    /// `Some(true)`: always the FFT path, `Some(false)`: always direct, `None`: the faster.
    forced: Option<bool>,
}

impl ShiftKernel {
    /// `W[i, j] = v[i + j]`, rows×cols, `rows + cols − 1` values.
    pub fn hankel(rows: usize, cols: usize) -> Self {
        Self {
            len_in: rows,
            len_out: cols,
            m_in: rows,
            m_out: cols,
            slot_in: Slot::Same,
            slot_out: Slot::Same,
            period: None,
            forced: None,
        }
    }

    /// `W[i, j] = v[i + cols − 1 − j]`, rows×cols, `rows + cols − 1` values.
    pub fn toeplitz(rows: usize, cols: usize) -> Self {
        Self {
            slot_out: Slot::Reversed,
            ..Self::hankel(rows, cols)
        }
    }

    /// `W[i, j] = v[(j − i) mod cols]`, rows×cols, `cols` values.
    pub fn circulant(rows: usize, cols: usize) -> Self {
        Self {
            len_in: rows,
            len_out: cols,
            m_in: cols,
            m_out: cols,
            slot_in: Slot::Negated,
            slot_out: Slot::Same,
            period: Some(cols),
            forced: None,
        }
    }

    /// The kernel of `Wᵀ`: `y = x·Wᵀ`, on the same values.
    pub fn transposed(self) -> Self {
        Self {
            len_in: self.len_out,
            len_out: self.len_in,
            m_in: self.m_out,
            m_out: self.m_in,
            slot_in: self.slot_out,
            slot_out: self.slot_in,
            ..self
        }
    }

    /// Inputs per row.
    pub fn len_in(&self) -> usize {
        self.len_in
    }

    /// Outputs per row.
    pub fn len_out(&self) -> usize {
        self.len_out
    }

    /// The number of stored values.
    pub fn values(&self) -> usize {
        self.period.unwrap_or(self.m_in + self.m_out - 1)
    }

    /// The length of the values seen by the correlation without wrap-around.
    fn extended(&self) -> usize {
        self.m_in + self.m_out - 1
    }

    /// The FFT length when the FFT path is taken, `None` for the direct kernel.
    pub fn fft_len(&self) -> Option<usize> {
        let len = self.transform_len();
        let direct = (self.m_in * self.m_out) as f64;
        let faster = direct > FFT_CROSSOVER * len as f64 * (len as f64).log2();
        self.forced.unwrap_or(faster).then_some(len)
    }

    /// The kernel fixed on one path, `fft` or direct, whatever the sizes (tests, benchmarks).
    pub fn forcing(self, fft: bool) -> Self {
        Self {
            forced: Some(fft),
            ..self
        }
    }

    /// The FFT length the FFT path would use.
    fn transform_len(&self) -> usize {
        match self.period {
            // The period itself is fast: correlate circularly on it, the values as they are.
            Some(n) if n % 2 == 0 && fast_len(n) == n => n,
            _ => fast_len(self.extended()),
        }
    }

    /// `buf[..m] = row` placed by `slot` (the rest of `buf` zeroed).
    fn place<E: KernelDtype>(&self, slot: Slot, m: usize, row: &[E], buf: &mut [E]) {
        match slot {
            Slot::Same => {
                buf[..row.len()].copy_from_slice(row);
                buf[row.len()..].fill(E::zero());
            }
            Slot::Reversed => {
                for (b, &r) in buf[..m].iter_mut().zip(row.iter().rev()) {
                    *b = r;
                }
                buf[m..].fill(E::zero());
            }
            Slot::Negated => {
                // Entry `c·N + k` goes to `−k mod N`: `0` for `k = 0`, else `N − k`, so each
                // period of the row is added reversed behind its first entry (no division).
                let n = self.period.unwrap_or(m);
                buf.fill(E::zero());
                for chunk in row.chunks(n) {
                    buf[0] += chunk[0];
                    for (b, &r) in buf[1..n].iter_mut().rev().zip(&chunk[1..]) {
                        *b += r;
                    }
                }
            }
        }
    }

    /// Input row `r` of `x` placed in `buf`.
    fn place_row_in<E: KernelDtype>(&self, x: &[E], r: usize, buf: &mut [E]) {
        let row = &x[r * self.len_in..][..self.len_in];
        self.place(self.slot_in, self.m_in, row, buf);
    }

    /// Output row `r` of `g` (an output's gradient) placed in `buf`.
    fn place_row_out<E: KernelDtype>(&self, g: &[E], r: usize, buf: &mut [E]) {
        let row = &g[r * self.len_out..][..self.len_out];
        self.place(self.slot_out, self.m_out, row, buf);
    }

    /// `row = buf` read back by `slot`, added to `row` when `add`.
    fn read<E: KernelDtype>(&self, slot: Slot, m: usize, buf: &[E], row: &mut [E], add: bool) {
        match slot {
            Slot::Same => put(row.iter_mut(), buf.iter(), add),
            Slot::Reversed => put(row.iter_mut(), buf[..m].iter().rev(), add),
            Slot::Negated => {
                // Entry `c·N + k` reads `−k mod N`, as placed.
                let n = self.period.unwrap_or(m);
                for chunk in row.chunks_mut(n) {
                    let (first, rest) = chunk.split_at_mut(1);
                    put(first.iter_mut(), buf[..1].iter(), add);
                    put(rest.iter_mut(), buf[1..n].iter().rev(), add);
                }
            }
        }
    }

    fn check<E>(&self, v: &[E], x: &[E], y: &[E]) -> usize {
        assert_eq!(v.len(), self.values(), "shift kernel: stored values");
        let rows = x.len().checked_div(self.len_in).unwrap_or(0);
        assert_eq!(x.len(), rows * self.len_in, "shift kernel: input rows");
        assert_eq!(y.len(), rows * self.len_out, "shift kernel: output rows");
        rows
    }

    /// The values as the correlation reads them without wrap-around: `u[t] = v[t mod N]`.
    fn extend<'a, E: KernelDtype>(&self, v: &'a [E]) -> Cow<'a, [E]> {
        match self.period {
            None => Cow::Borrowed(v),
            Some(n) => Cow::Owned((0..self.extended()).map(|t| v[t % n]).collect()),
        }
    }

    /// Adds the gradient of the extended values (`gu`, at least `extended()` long) into `grad_v`.
    fn fold_extended<E: KernelDtype>(&self, gu: &[E], grad_v: &mut [E]) {
        match self.period {
            None => axpy(E::one(), &gu[..grad_v.len()], grad_v),
            Some(n) => {
                for (t, &g) in gu[..self.extended()].iter().enumerate() {
                    grad_v[t % n] += g;
                }
            }
        }
    }

    /// `y = x·W` for `x.len() / len_in` rows; returns the input's spectra for
    /// [`ShiftKernel::backward`] when `keep` and the FFT path is taken (empty otherwise).
    pub fn forward<E: KernelDtype>(
        &self,
        v: &[E],
        x: &[E],
        y: &mut [E],
        keep: bool,
    ) -> Vec<Complex<E>> {
        let rows = self.check(v, x, y);
        if rows == 0 || self.len_out == 0 {
            return Vec::new();
        }
        let Some(len) = self.fft_len() else {
            let u = self.extend(v);
            let per_task = rows_per_task(rows, self.m_in * self.m_out);
            map_row_tasks(rows, per_task, Some(y), self.len_out, |first, n, y| {
                let mut a = vec![E::zero(); self.m_in];
                let mut c = vec![E::zero(); self.m_out];
                for r in 0..n {
                    self.place_row_in(x, first + r, &mut a);
                    correlate(&a, &u, &mut c);
                    let out = &mut y[r * self.len_out..][..self.len_out];
                    self.read(self.slot_out, self.m_out, &c, out, false);
                }
            });
            return Vec::new();
        };
        let spectrum = Spectrum::<E>::new(len);
        let u = spectrum.values(self, v);
        let bins = spectrum.bins();
        let per_task = rows_per_task(rows, spectrum.row_work());
        let kept = map_row_tasks(rows, per_task, Some(y), self.len_out, |first, n, y| {
            let mut work = spectrum.workspace();
            let mut kept = Vec::with_capacity(if keep { n * bins } else { 0 });
            for r in 0..n {
                self.place_row_in(x, first + r, &mut work.real);
                spectrum.forward(&mut work);
                if keep {
                    kept.extend_from_slice(&work.spec);
                }
                for (s, &u) in work.spec.iter_mut().zip(&u) {
                    *s = s.conj() * u;
                }
                spectrum.inverse(&mut work);
                let out = &mut y[r * self.len_out..][..self.len_out];
                self.read(self.slot_out, self.m_out, &work.real, out, false);
            }
            kept
        });
        if keep {
            kept.concat()
        } else {
            Vec::new()
        }
    }

    /// Adds `g·Wᵀ` into `grad_x` and the values' gradient into `grad_v`; `spectra` is what
    /// [`ShiftKernel::forward`] returned (may be empty: then they are recomputed).
    pub fn backward<E: KernelDtype>(
        &self,
        v: &[E],
        x: &[E],
        spectra: &[Complex<E>],
        g: &[E],
        grad_x: Option<&mut [E]>,
        grad_v: Option<&mut [E]>,
    ) {
        let rows = self.check(v, x, g);
        if let Some(gx) = &grad_x {
            assert_eq!(gx.len(), x.len(), "shift kernel: input gradient");
        }
        if let Some(gv) = &grad_v {
            assert_eq!(gv.len(), v.len(), "shift kernel: values' gradient");
        }
        if rows == 0 || self.len_out == 0 || self.len_in == 0 {
            return;
        }
        let want_x = grad_x.is_some();
        let want_v = grad_v.is_some();
        let Some(len) = self.fft_len() else {
            let u = self.extend(v);
            let per_task = rows_per_task(rows, 2 * self.m_in * self.m_out);
            let partials = map_row_tasks(rows, per_task, grad_x, self.len_in, |first, n, gx| {
                let mut a = vec![E::zero(); self.m_in];
                let mut b = vec![E::zero(); self.m_out];
                let mut gu = vec![E::zero(); if want_v { self.extended() } else { 0 }];
                for r in 0..n {
                    let row = first + r;
                    self.place_row_out(g, row, &mut b);
                    if want_v {
                        self.place_row_in(x, row, &mut a);
                        for (t, &at) in a.iter().enumerate() {
                            axpy(at, &b, &mut gu[t..t + self.m_out]);
                        }
                    }
                    if want_x {
                        correlate(&b, &u, &mut a);
                        let out = &mut gx[r * self.len_in..][..self.len_in];
                        self.read(self.slot_in, self.m_in, &a, out, true);
                    }
                }
                gu
            });
            if let Some(gv) = grad_v {
                let mut gu = vec![E::zero(); self.extended()];
                add_partials(&partials, &mut gu);
                self.fold_extended(&gu, gv);
            }
            return;
        };
        let spectrum = Spectrum::<E>::new(len);
        let u = spectrum.values(self, v);
        let bins = spectrum.bins();
        let kept = spectra.len() == rows * bins;
        let per_task = rows_per_task(rows, spectrum.row_work());
        let partials = map_row_tasks(rows, per_task, grad_x, self.len_in, |first, n, gx| {
            let mut work = spectrum.workspace();
            let mut xs = spectrum.workspace();
            let mut acc = vec![Complex::<E>::default(); if want_v { bins } else { 0 }];
            for r in 0..n {
                let row = first + r;
                self.place_row_out(g, row, &mut work.real);
                spectrum.forward(&mut work);
                if want_v {
                    let xk = if kept {
                        &spectra[row * bins..][..bins]
                    } else {
                        self.place_row_in(x, row, &mut xs.real);
                        spectrum.forward(&mut xs);
                        &xs.spec
                    };
                    for ((a, &xk), &gk) in acc.iter_mut().zip(xk).zip(&work.spec) {
                        *a = *a + xk * gk;
                    }
                }
                if want_x {
                    for (s, &u) in work.spec.iter_mut().zip(&u) {
                        *s = s.conj() * u;
                    }
                    spectrum.inverse(&mut work);
                    let out = &mut gx[r * self.len_in..][..self.len_in];
                    self.read(self.slot_in, self.m_in, &work.real, out, true);
                }
            }
            acc
        });
        if let Some(gv) = grad_v {
            let mut work = spectrum.workspace();
            work.spec.fill(Complex::default());
            for p in &partials {
                for (s, &a) in work.spec.iter_mut().zip(p) {
                    *s = *s + a;
                }
            }
            let scale = E::one() / E::from_usize(len).unwrap_or_else(E::one);
            work.spec.iter_mut().for_each(|s| *s = s.scale(scale));
            spectrum.inverse(&mut work);
            if self.period == Some(len) {
                axpy(E::one(), &work.real, gv);
            } else {
                self.fold_extended(&work.real, gv);
            }
        }
    }
}

/// A [`ShiftKernel`] as a fused op on dfdx's tape ([`LinearKernel`]): it keeps the input's
/// spectra from the forward for the backward when asked (`keep`: there will be a backward).
pub struct ShiftOp {
    kernel: ShiftKernel,
    keep: bool,
    spectra: Mutex<Option<Box<dyn Any + Send>>>,
}

impl ShiftKernel {
    /// This kernel as a fused op; `keep`: hold the forward's spectra for a backward.
    pub fn op(self, keep: bool) -> ShiftOp {
        ShiftOp {
            kernel: self,
            keep,
            spectra: Mutex::new(None),
        }
    }
}

impl LinearKernel for ShiftOp {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        let spectra = self.kernel.forward(a.w, a.x, a.y, self.keep);
        add_bias(a.y, a.bias);
        if !spectra.is_empty() {
            *self.spectra.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(spectra));
        }
    }

    fn backward<F: KernelDtype>(&self, a: Backward<'_, F>) {
        let kept = self
            .spectra
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .and_then(|s| s.downcast::<Vec<Complex<F>>>().ok());
        let spectra = kept.as_deref().map_or(&[][..], Vec::as_slice);
        self.kernel
            .backward(a.w, a.x, spectra, a.dy, Some(a.dx), Some(a.dw));
        add_bias_grad(a.dy, a.db);
    }
}

/// `dst = src` (or `dst += src` when `add`), one loop per case so each vectorizes.
#[inline]
fn put<'a, E: KernelDtype>(
    dst: impl Iterator<Item = &'a mut E>,
    src: impl Iterator<Item = &'a E>,
    add: bool,
) {
    if add {
        dst.zip(src).for_each(|(d, &s)| *d += s);
    } else {
        dst.zip(src).for_each(|(d, &s)| *d = s);
    }
}

/// `c[j] = Σ_a a[a]·u[a + j]` for `j < c.len()` (`u` at least `a.len() + c.len() − 1` long).
fn correlate<E: KernelDtype>(a: &[E], u: &[E], c: &mut [E]) {
    c.fill(E::zero());
    let m = c.len();
    for (t, &at) in a.iter().enumerate() {
        if at != E::zero() {
            axpy(at, &u[t..t + m], c);
        }
    }
}

/// The smallest even length `≥ n` whose half has no prime factor above 5: the lengths rustfft
/// transforms fastest (realfft does an even length as a complex FFT of half the length).
pub fn fast_len(n: usize) -> usize {
    let smooth = |mut m: usize| {
        for p in [2, 3, 5] {
            while m.is_multiple_of(p) {
                m /= p;
            }
        }
        m == 1
    };
    let mut half = n.div_ceil(2).max(1);
    while !smooth(half) {
        half += 1;
    }
    2 * half
}

/// Forward and inverse real FFT plans of one length and type, shared by every call.
struct Plans<E: KernelDtype> {
    forward: Arc<dyn RealToComplex<E>>,
    inverse: Arc<dyn ComplexToReal<E>>,
}

fn plans<E: KernelDtype>(len: usize) -> Arc<Plans<E>> {
    type Cache = HashMap<(TypeId, usize), Arc<dyn Any + Send + Sync>>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let entry = cache.entry((TypeId::of::<E>(), len)).or_insert_with(|| {
        let mut planner = RealFftPlanner::<E>::new();
        Arc::new(Plans {
            forward: planner.plan_fft_forward(len),
            inverse: planner.plan_fft_inverse(len),
        })
    });
    Arc::clone(entry)
        .downcast::<Plans<E>>()
        .unwrap_or_else(|_| unreachable!("the cache is keyed by the element type"))
}

/// FFTs of one length: the shared plans and per-task buffers.
struct Spectrum<E: KernelDtype> {
    len: usize,
    plans: Arc<Plans<E>>,
}

/// One task's buffers: a real signal, its spectrum, and the transforms' scratch.
struct Workspace<E: KernelDtype> {
    real: Vec<E>,
    spec: Vec<Complex<E>>,
    scratch: Vec<Complex<E>>,
}

impl<E: KernelDtype> Spectrum<E> {
    fn new(len: usize) -> Self {
        Self {
            len,
            plans: plans(len),
        }
    }

    fn bins(&self) -> usize {
        self.len / 2 + 1
    }

    /// Work per row, in the units of [`rows_per_task`].
    fn row_work(&self) -> usize {
        self.len * (usize::BITS - self.len.leading_zeros()) as usize
    }

    fn workspace(&self) -> Workspace<E> {
        let scratch = self
            .plans
            .forward
            .get_scratch_len()
            .max(self.plans.inverse.get_scratch_len());
        Workspace {
            real: vec![E::zero(); self.len],
            spec: vec![Complex::default(); self.bins()],
            scratch: vec![Complex::default(); scratch],
        }
    }

    /// `spec = FFT(real)` (`real` is overwritten).
    fn forward(&self, w: &mut Workspace<E>) {
        let done =
            self.plans
                .forward
                .process_with_scratch(&mut w.real, &mut w.spec, &mut w.scratch);
        debug_assert!(done.is_ok(), "buffers are sized by the plan");
    }

    /// `real = IFFT(spec)`, unnormalized (`spec` is overwritten). The DC and Nyquist bins of a
    /// real signal's spectrum are real: rounding may leave an imaginary part, dropped here.
    fn inverse(&self, w: &mut Workspace<E>) {
        w.spec[0].im = E::zero();
        if self.len.is_multiple_of(2) {
            let last = w.spec.len() - 1;
            w.spec[last].im = E::zero();
        }
        let done =
            self.plans
                .inverse
                .process_with_scratch(&mut w.spec, &mut w.real, &mut w.scratch);
        debug_assert!(done.is_ok(), "buffers are sized by the plan");
    }

    /// `FFT(u) / L`: the values' spectrum, normalized for the unnormalized inverse.
    fn values(&self, k: &ShiftKernel, v: &[E]) -> Vec<Complex<E>> {
        let mut w = self.workspace();
        if k.period == Some(self.len) {
            w.real.copy_from_slice(v);
        } else {
            let u = k.extend(v);
            w.real[..u.len()].copy_from_slice(&u);
        }
        self.forward(&mut w);
        let scale = E::one() / E::from_usize(self.len).unwrap_or_else(E::one);
        w.spec.iter_mut().for_each(|s| *s = s.scale(scale));
        w.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `W` of a kernel, from its definition.
    fn dense(kind: &str, rows: usize, cols: usize, v: &[f64]) -> Vec<f64> {
        let mut w = vec![0.0; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                w[i * cols + j] = match kind {
                    "hankel" => v[i + j],
                    "toeplitz" => v[i + cols - 1 - j],
                    _ => v[(j + cols - i % cols) % cols],
                };
            }
        }
        w
    }

    fn kernel(kind: &str, rows: usize, cols: usize) -> ShiftKernel {
        match kind {
            "hankel" => ShiftKernel::hankel(rows, cols),
            "toeplitz" => ShiftKernel::toeplitz(rows, cols),
            _ => ShiftKernel::circulant(rows, cols),
        }
    }

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.iter()
            .zip(b)
            .all(|(a, b)| (a - b).abs() <= tol * (1.0 + b.abs()))
    }

    #[test]
    fn both_paths_match_the_dense_weight() {
        let shapes = [
            (1, 1),
            (3, 5),
            (5, 3),
            (4, 4),
            (7, 7),
            (6, 9),
            (12, 5),
            (33, 33),
        ];
        for kind in ["hankel", "toeplitz", "circulant"] {
            for (rows, cols) in shapes {
                for transposed in [false, true] {
                    let mut k = kernel(kind, rows, cols);
                    let v: Vec<f64> = (0..k.values()).map(|t| (t as f64 * 0.37).sin()).collect();
                    let w_v = dense(kind, rows, cols, &v);
                    let (fi, fo) = if transposed {
                        (cols, rows)
                    } else {
                        (rows, cols)
                    };
                    if transposed {
                        k = k.transposed();
                    }
                    let n = 3;
                    let x: Vec<f64> = (0..n * fi).map(|t| (t as f64 * 0.11).cos()).collect();
                    let g: Vec<f64> = (0..n * fo).map(|t| (t as f64 * 0.23).sin()).collect();
                    let at = |i: usize, j: usize| {
                        if transposed {
                            w_v[j * cols + i]
                        } else {
                            w_v[i * cols + j]
                        }
                    };
                    let mut y_ref = vec![0.0; n * fo];
                    let mut gx_ref = vec![0.0; n * fi];
                    let mut gw = vec![0.0; fi * fo];
                    for r in 0..n {
                        for i in 0..fi {
                            for j in 0..fo {
                                y_ref[r * fo + j] += x[r * fi + i] * at(i, j);
                                gx_ref[r * fi + i] += g[r * fo + j] * at(i, j);
                                gw[i * fo + j] += x[r * fi + i] * g[r * fo + j];
                            }
                        }
                    }
                    // The values' gradient: dW summed over each value's copies.
                    let mut gv_ref = vec![0.0; k.values()];
                    for i in 0..fi {
                        for j in 0..fo {
                            let (a, b) = if transposed { (j, i) } else { (i, j) };
                            let t = match kind {
                                "hankel" => a + b,
                                "toeplitz" => a + cols - 1 - b,
                                _ => (b + cols - a % cols) % cols,
                            };
                            gv_ref[t] += gw[i * fo + j];
                        }
                    }
                    for fft in [false, true] {
                        let p = k.forcing(fft);
                        for keep in [false, true] {
                            let mut y = vec![f64::NAN; n * fo];
                            let spectra = p.forward(&v, &x, &mut y, keep);
                            let mut gx = vec![1.0; n * fi];
                            let mut gv = vec![1.0; k.values()];
                            p.backward(&v, &x, &spectra, &g, Some(&mut gx), Some(&mut gv));
                            let what = format!("{kind} {rows}x{cols} t={transposed} fft={fft}");
                            assert!(close(&y, &y_ref, 1e-12), "{what}: y {y:?} vs {y_ref:?}");
                            let gx1: Vec<f64> = gx_ref.iter().map(|g| g + 1.0).collect();
                            assert!(close(&gx, &gx1, 1e-12), "{what}: gx");
                            let gv1: Vec<f64> = gv_ref.iter().map(|g| g + 1.0).collect();
                            assert!(close(&gv, &gv1, 1e-12), "{what}: gv {gv:?} vs {gv1:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fast_lengths_are_even_and_smooth() {
        assert_eq!(fast_len(1), 2);
        assert_eq!(fast_len(8191), 8192);
        assert_eq!(fast_len(7), 8);
        assert_eq!(fast_len(13), 16);
        assert_eq!(fast_len(2047), 2048);
        assert_eq!(fast_len(61), 64);
        assert_eq!(fast_len(59), 60);
    }
}
