//! Hankel, Toeplitz and circulant weights: `x·W` as a correlation, O(N log N) per row through
//! FFTs (`rustfft`), and a direct O(I·O) kernel below a measured crossover.
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
//! `u` extended periodically for circulant. FFT kernel: on a length `L ≥ m_in + m_out − 1` with
//! only small prime factors (so no wrap-around reaches the kept outputs), or `L = N` for a
//! circulant whose `N` is such a length, the correlation is the circular convolution of
//! `p[s] = buf[−s mod L]` with `u`, `c = IFFT(FFT(p)·FFT(u))`. Two rows go through one complex
//! FFT, one as the real part of `p` and one as the imaginary part: `u` is real, so the product's
//! inverse holds both rows' results the same way, and no real-FFT pre- and post-processing is
//! needed (it cost as much as the transforms themselves). Plans are made once per length and
//! cached, workspaces once per thread; `FFT(u)` once per call; the input's spectra are kept from
//! the forward for the backward when asked, in a buffer reused from step to step.
//!
//! Accuracy: the FFT path's error against the exact (f64, direct) result is, relative to the
//! output's norm, about `ε·log₂ L` (ε the type's epsilon); `tests/it/index_kernels.rs` asserts
//! [`fft_tolerance`].

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::util::{add_bias, add_bias_grad, add_partials, axpy, map_row_tasks, rows_per_task};
use crate::{Backward, Forward, KernelDtype, LinearKernel};

/// The direct kernel's multiply-adds per row against the FFT path's `L·log₂ L`, at which both
/// take the same time: the FFT path is used when `m_in·m_out > FFT_CROSSOVER·L·log₂ L`.
///
/// Measured with `benches/fft_crossover.rs` (B = 64, f32, forward + backward, one thread, on a
/// loaded 2-core machine, so only the ordering is reliable). With two rows per complex FFT and
/// the workspaces kept per thread, the FFT path was the faster at every size measured, N = 4 to
/// 128, square Toeplitz and circulant: at N = 4, 3.7 µs against 4.3 (Toeplitz, ratio
/// `N²/(L·log₂ L)` 0.67) and 2.7 against 5.0 (circulant, ratio 2); at N = 8, 4.2 against 7.4
/// (Toeplitz, ratio 1). Both take a few µs there: 1 keeps the direct path (exact, no transform)
/// for the smallest shapes only. Rerun the benchmark on an idle machine to refine it.
pub const FFT_CROSSOVER: f64 = 1.0;

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

/// The gradients [`ShiftKernel::backward_into`] adds into (`None`: not wanted).
#[derive(Debug, Default)]
pub struct Grads<'a, E> {
    /// The input's, as many values as the input.
    pub x: Option<&'a mut [E]>,
    /// The stored values'.
    pub v: Option<&'a mut [E]>,
    /// The bias's: the column sums of the output's gradient (one output row).
    pub bias: Option<&'a mut [E]>,
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

    /// `row = part(buf)` read back by `slot`, added to `row` when `add`; `flipped`: from the
    /// circular reversal of `buf` (`buf[−s mod L]` at `s`, `L = buf.len()`), see [`flips`].
    #[allow(clippy::too_many_arguments)]
    fn read<E: KernelDtype, S: Copy>(
        &self,
        slot: Slot,
        m: usize,
        buf: &[S],
        part: fn(S) -> E,
        row: &mut [E],
        add: bool,
        flipped: bool,
    ) {
        debug_assert!(!flipped || slot != Slot::Same, "`Same` reads never flip");
        let at = |s: &S| part(*s);
        let l = buf.len();
        match (slot, flipped) {
            (Slot::Same, _) => put(row.iter_mut(), buf.iter().map(at), add),
            (Slot::Reversed, false) => put(row.iter_mut(), buf[..m].iter().rev().map(at), add),
            // Entry `j` reads `−(m − 1 − j) mod L`: `L − m + 1 + j`, and `0` for `j = m − 1`.
            (Slot::Reversed, true) => {
                let (head, last) = row.split_at_mut(m - 1);
                put(head.iter_mut(), buf[l + 1 - m..].iter().map(at), add);
                put(last.iter_mut(), buf[..1].iter().map(at), add);
            }
            (Slot::Negated, _) => {
                // Entry `c·N + k` reads `−k mod N` (`0`, else `N − k`), or `k mod N` flipped (`0`,
                // else `L − N + k`), as placed.
                let n = self.period.unwrap_or(m);
                for chunk in row.chunks_mut(n) {
                    let (first, rest) = chunk.split_at_mut(1);
                    put(first.iter_mut(), buf[..1].iter().map(at), add);
                    match flipped {
                        false => put(rest.iter_mut(), buf[1..n].iter().rev().map(at), add),
                        true => put(rest.iter_mut(), buf[l + 1 - n..].iter().map(at), add),
                    }
                }
            }
        }
    }

    /// Rows `r` and `r + 1` of `x` (the second `None` when `left` is 1).
    fn pair_in<'a, E>(&self, x: &'a [E], r: usize, left: usize) -> (&'a [E], Option<&'a [E]>) {
        pair(x, self.len_in, r, left)
    }

    /// Rows `r` and `r + 1` of `g` (an output's gradient).
    fn pair_out<'a, E>(&self, g: &'a [E], r: usize, left: usize) -> (&'a [E], Option<&'a [E]>) {
        pair(g, self.len_out, r, left)
    }

    /// Rows `a` and `b` (`None`: zeros) of one side, placed by `slot` as the real and imaginary
    /// parts of `z`, in convolution order: correlation buffer entry `s` at `−s mod L`, so that the
    /// product of `z`'s spectrum with the values' is the correlation of both rows; `flipped`
    /// (only for `Slot::Same`, see [`flips`]): at `s`, and the product is with the values'
    /// conjugate spectrum.
    fn place_pair<E: KernelDtype>(
        &self,
        (slot, m): (Slot, usize),
        a: &[E],
        b: Option<&[E]>,
        z: &mut [Complex<E>],
        flipped: bool,
    ) {
        debug_assert!(
            !flipped || slot == Slot::Same,
            "only `Same` placements flip"
        );
        z.fill(Complex::default());
        for (row, part) in [(Some(a), re_mut as fn(&mut _) -> &mut _), (b, im_mut)] {
            match (row, flipped) {
                (None, _) => {}
                (Some(row), true) => z.iter_mut().zip(row).for_each(|(z, &r)| *part(z) = r),
                (Some(row), false) => self.place_part(slot, m, row, z, part),
            }
        }
    }

    /// `row` into `part` of the zeroed `z`, as [`ShiftKernel::place_pair`] says.
    fn place_part<E: KernelDtype>(
        &self,
        slot: Slot,
        m: usize,
        row: &[E],
        z: &mut [Complex<E>],
        part: fn(&mut Complex<E>) -> &mut E,
    ) {
        let l = z.len();
        let Some((&first, rest)) = row.split_first() else {
            return;
        };
        match slot {
            // Entry `i` at `−i mod L`.
            Slot::Same => {
                *part(&mut z[0]) = first;
                for (z, &r) in z[l - rest.len()..].iter_mut().rev().zip(rest) {
                    *part(z) = r;
                }
            }
            // Entry `i` at `−(m − 1 − i) mod L`: `L − m + 1 + i`, and `0` for `i = m − 1`.
            Slot::Reversed => {
                let (head, last) = match row.len() == m {
                    true => (&row[..m - 1], Some(row[m - 1])),
                    false => (row, None),
                };
                for (z, &r) in z[l + 1 - m..].iter_mut().zip(head) {
                    *part(z) = r;
                }
                if let Some(last) = last {
                    *part(&mut z[0]) = last;
                }
            }
            // Entry `c·N + k` at `−(−k mod N) mod L`: `0` for `k = 0`, else `L − N + k`, summed
            // over the periods of the row.
            Slot::Negated => {
                let n = self.period.unwrap_or(m);
                for chunk in row.chunks(n) {
                    *part(&mut z[0]) += chunk[0];
                    for (z, &r) in z[l + 1 - n..].iter_mut().zip(&chunk[1..]) {
                        *part(z) += r;
                    }
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
        self.forward_biased(v, x, None, y, keep)
    }

    /// [`ShiftKernel::forward`], adding `bias` (one output row) to every output row as it is
    /// written.
    pub fn forward_biased<E: KernelDtype>(
        &self,
        v: &[E],
        x: &[E],
        bias: Option<&[E]>,
        y: &mut [E],
        keep: bool,
    ) -> Vec<Complex<E>> {
        let rows = self.check(v, x, y);
        if let Some(b) = bias {
            assert_eq!(b.len(), self.len_out, "shift kernel: bias");
        }
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
                    self.read(self.slot_out, self.m_out, &c, same, out, false, false);
                    add_bias(out, bias);
                }
            });
            return Vec::new();
        };
        let spectrum = Spectrum::<E>::new(len);
        let u = spectrum.values(self, v);
        let per_task = spectrum.rows_per_task(rows);
        let x_flip = flips(self.slot_in, self.slot_out);
        let mut kept = if keep {
            spare_spectra(rows.div_ceil(2) * len)
        } else {
            Vec::new()
        };
        let y_chunk = per_task * self.len_out;
        let kept_chunk = per_task / 2 * len;
        pair_tasks(
            rows,
            per_task,
            (y, y_chunk),
            (&mut kept, kept_chunk),
            |first, n, y, kept| {
                spectrum.with_workspace(|work| {
                    for pair in (0..n).step_by(2) {
                        let (a, b) = self.pair_in(x, first + pair, n - pair);
                        // Transformed in place where it is kept, else in the workspace.
                        let zx = if keep {
                            &mut kept[pair / 2 * len..][..len]
                        } else {
                            &mut work.zx[..]
                        };
                        self.place_pair((self.slot_in, self.m_in), a, b, zx, x_flip);
                        spectrum.forward(zx, &mut work.scratch);
                        multiply(&mut work.z, zx, &u, x_flip);
                        spectrum.inverse(&mut work.z, &mut work.scratch);
                        let out = &mut y[pair * self.len_out..];
                        let (out_a, out_b) = out.split_at_mut(self.len_out);
                        self.read(self.slot_out, self.m_out, &work.z, re, out_a, false, x_flip);
                        add_bias(out_a, bias);
                        if b.is_some() {
                            let out_b = &mut out_b[..self.len_out];
                            self.read(self.slot_out, self.m_out, &work.z, im, out_b, false, x_flip);
                            add_bias(out_b, bias);
                        }
                    }
                })
            },
        );
        kept
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
        let grads = Grads {
            x: grad_x,
            v: grad_v,
            bias: None,
        };
        self.backward_into(v, x, spectra, g, grads);
    }

    /// [`ShiftKernel::backward`] into `grads`, the bias's too (`g`'s column sums, added).
    pub fn backward_into<E: KernelDtype>(
        &self,
        v: &[E],
        x: &[E],
        spectra: &[Complex<E>],
        g: &[E],
        grads: Grads<'_, E>,
    ) {
        let Grads {
            x: grad_x,
            v: grad_v,
            bias: grad_bias,
        } = grads;
        let rows = self.check(v, x, g);
        if let Some(gb) = &grad_bias {
            assert_eq!(gb.len(), self.len_out, "shift kernel: bias gradient");
        }
        if let Some(gx) = &grad_x {
            assert_eq!(gx.len(), x.len(), "shift kernel: input gradient");
        }
        if let Some(gv) = &grad_v {
            assert_eq!(gv.len(), v.len(), "shift kernel: values' gradient");
        }
        if rows == 0 || self.len_out == 0 {
            return;
        }
        if self.len_in == 0 {
            add_bias_grad(g, grad_bias);
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
                        self.read(self.slot_in, self.m_in, &a, same, out, true, false);
                    }
                }
                gu
            });
            if let Some(gv) = grad_v {
                let mut gu = vec![E::zero(); self.extended()];
                add_partials(&partials, &mut gu);
                self.fold_extended(&gu, gv);
            }
            add_bias_grad(g, grad_bias);
            return;
        };
        let spectrum = Spectrum::<E>::new(len);
        let u = spectrum.values(self, v);
        let kept = spectra.len() == rows.div_ceil(2) * len;
        let per_task = spectrum.rows_per_task(rows);
        // The forward's placement of `x` (kept or placed again), and this one's of `g`.
        let x_flip = flips(self.slot_in, self.slot_out);
        let g_flip = flips(self.slot_out, self.slot_in);
        let want_bias = grad_bias.is_some();
        let gx_chunk = per_task * self.len_in;
        let gx = grad_x.unwrap_or_default();
        let mut none: [Complex<E>; 0] = [];
        let partials = pair_tasks(
            rows,
            per_task,
            (gx, gx_chunk),
            (&mut none, 0),
            |first, n, gx, _| {
                let mut acc = vec![Complex::<E>::default(); if want_v { len } else { 0 }];
                let mut bias_acc = vec![E::zero(); if want_bias { self.len_out } else { 0 }];
                spectrum.with_workspace(|work| {
                    for pair in (0..n).step_by(2) {
                        let row = first + pair;
                        let (ga, gb) = self.pair_out(g, row, n - pair);
                        if want_bias {
                            axpy(E::one(), ga, &mut bias_acc);
                            gb.into_iter()
                                .for_each(|gb| axpy(E::one(), gb, &mut bias_acc));
                        }
                        self.place_pair((self.slot_out, self.m_out), ga, gb, &mut work.z, g_flip);
                        spectrum.forward(&mut work.z, &mut work.scratch);
                        if want_v {
                            let zx = if kept {
                                &spectra[row / 2 * len..][..len]
                            } else {
                                let (xa, xb) = self.pair_in(x, row, n - pair);
                                self.place_pair(
                                    (self.slot_in, self.m_in),
                                    xa,
                                    xb,
                                    &mut work.zx,
                                    x_flip,
                                );
                                spectrum.forward(&mut work.zx, &mut work.scratch);
                                &work.zx
                            };
                            accumulate_pair(&mut acc, zx, &work.z, x_flip == g_flip);
                        }
                        if want_x {
                            multiply_in_place(&mut work.z, &u, g_flip);
                            spectrum.inverse(&mut work.z, &mut work.scratch);
                            let rows_in = &mut gx[pair * self.len_in..];
                            let (in_a, in_b) = rows_in.split_at_mut(self.len_in);
                            self.read(self.slot_in, self.m_in, &work.z, re, in_a, true, g_flip);
                            if gb.is_some() {
                                let in_b = &mut in_b[..self.len_in];
                                self.read(self.slot_in, self.m_in, &work.z, im, in_b, true, g_flip);
                            }
                        }
                    }
                });
                (acc, bias_acc)
            },
        );
        if let Some(db) = grad_bias {
            partials.iter().for_each(|(_, p)| axpy(E::one(), p, db));
        }
        if let Some(gv) = grad_v {
            spectrum.with_workspace(|work| {
                work.z.fill(Complex::default());
                for (p, _) in &partials {
                    work.z.iter_mut().zip(p).for_each(|(s, &a)| *s = *s + a);
                }
                spectrum.inverse(&mut work.z, &mut work.scratch);
                // The sum's inverse holds the values' gradient in its real part, reversed unless
                // `x` was placed flipped (see `accumulate_pair`).
                let scale = E::one() / E::from_usize(len).unwrap_or_else(E::one);
                let mut gu = vec![E::zero(); len];
                if x_flip {
                    gu.iter_mut()
                        .zip(&work.z)
                        .for_each(|(g, z)| *g = z.re * scale);
                } else {
                    gu[0] = work.z[0].re * scale;
                    for (g, z) in gu[1..].iter_mut().zip(work.z[1..].iter().rev()) {
                        *g = z.re * scale;
                    }
                }
                if self.period == Some(len) {
                    axpy(E::one(), &gu, gv);
                } else {
                    self.fold_extended(&gu, gv);
                }
            });
        }
    }
}

/// Workspaces a thread keeps between calls, of different lengths or types.
const SPARE_WORKSPACES: usize = 4;

/// Buffers of kept spectra given back after a backward, for the next forward: they are as large
/// as the input, and zeroing a fresh one costs as much as placing a row.
const SPARE_SPECTRA: usize = 4;

/// The largest buffer of spectra kept for reuse (bytes): a larger batch pays for a fresh one
/// rather than holding its memory between steps.
const SPARE_SPECTRA_BYTES: usize = 32 << 20;

fn spectra_pool() -> &'static Mutex<Vec<Box<dyn Any + Send>>> {
    static POOL: OnceLock<Mutex<Vec<Box<dyn Any + Send>>>> = OnceLock::new();
    POOL.get_or_init(Default::default)
}

/// A buffer of `len` spectra for a forward to keep, a given-back one when one fits.
fn spare_spectra<E: KernelDtype>(len: usize) -> Vec<Complex<E>> {
    let mut pool = spectra_pool()
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let fits = |b: &Box<dyn Any + Send>| {
        b.downcast_ref::<Vec<Complex<E>>>()
            .is_some_and(|v| v.len() == len)
    };
    match pool.iter().position(fits) {
        Some(at) => *pool
            .swap_remove(at)
            .downcast::<Vec<Complex<E>>>()
            .unwrap_or_else(|_| unreachable!("checked by `fits`")),
        None => vec![Complex::default(); len],
    }
}

/// Gives a kept buffer back once its backward has used it.
fn give_back_spectra<E: KernelDtype>(spectra: Vec<Complex<E>>) {
    if std::mem::size_of_val(spectra.as_slice()) > SPARE_SPECTRA_BYTES {
        return;
    }
    let mut pool = spectra_pool()
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if pool.len() >= SPARE_SPECTRA {
        pool.remove(0);
    }
    pool.push(Box::new(spectra));
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

impl ShiftOp {
    /// The same op, holding the forward's spectra for a backward only when `keep`.
    pub fn keeping(self, keep: bool) -> Self {
        ShiftOp { keep, ..self }
    }
}

impl LinearKernel for ShiftOp {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        let spectra = self.kernel.forward_biased(a.w, a.x, a.bias, a.y, self.keep);
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
        let grads = Grads {
            x: Some(a.dx),
            v: Some(a.dw),
            bias: a.db,
        };
        self.kernel.backward_into(a.w, a.x, spectra, a.dy, grads);
        if let Some(kept) = kept {
            give_back_spectra(*kept);
        }
    }
}

/// `dst = src` (or `dst += src` when `add`), one loop per case so each vectorizes.
#[inline]
fn put<'a, E: KernelDtype>(
    dst: impl Iterator<Item = &'a mut E>,
    src: impl Iterator<Item = E>,
    add: bool,
) {
    if add {
        dst.zip(src).for_each(|(d, s)| *d += s);
    } else {
        dst.zip(src).for_each(|(d, s)| *d = s);
    }
}

/// Whether the FFT path runs a correlation from `place` to `read` on circularly reversed signals
/// (`p[s]` at `−s`, results read at `−j`, the values' spectrum conjugated): a `Same` placement is a
/// reversed copy and a `Reversed` or `Negated` read a reversed read, so flipping both makes them
/// forward copies (circulant, Toeplitz and their transposes: all but Hankel, one way or the other).
fn flips(place: Slot, read: Slot) -> bool {
    place == Slot::Same && read != Slot::Same
}

/// `z = z·u`, or `z·conj(u)` when `conj`.
fn multiply_in_place<E: KernelDtype>(z: &mut [Complex<E>], u: &[Complex<E>], conj: bool) {
    let zs = z.iter_mut().zip(u);
    if conj {
        zs.for_each(|(z, &u)| *z = *z * u.conj());
    } else {
        zs.for_each(|(z, &u)| *z = *z * u);
    }
}

/// `z = s·u`, or `s·conj(u)` when `conj`.
fn multiply<E: KernelDtype>(z: &mut [Complex<E>], s: &[Complex<E>], u: &[Complex<E>], conj: bool) {
    let zs = z.iter_mut().zip(s).zip(u);
    if conj {
        zs.for_each(|((z, &s), &u)| *z = s * u.conj());
    } else {
        zs.for_each(|((z, &s), &u)| *z = s * u);
    }
}

/// Rows `r` and `r + 1` (if `left > 1`) of `width` values each.
fn pair<E>(data: &[E], width: usize, r: usize, left: usize) -> (&[E], Option<&[E]>) {
    let a = &data[r * width..][..width];
    let b = (left > 1).then(|| &data[(r + 1) * width..][..width]);
    (a, b)
}

fn same<E>(e: E) -> E {
    e
}

fn re<E>(c: Complex<E>) -> E {
    c.re
}

fn im<E>(c: Complex<E>) -> E {
    c.im
}

fn re_mut<E>(c: &mut Complex<E>) -> &mut E {
    &mut c.re
}

fn im_mut<E>(c: &mut Complex<E>) -> &mut E {
    &mut c.im
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

/// The smallest even length `≥ n` whose half has no prime factor above 5: lengths with only
/// small prime factors are the ones rustfft transforms fastest.
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

/// Forward and inverse complex FFT plans of one length and type, shared by every call.
struct Plans<E: KernelDtype> {
    forward: Arc<dyn Fft<E>>,
    inverse: Arc<dyn Fft<E>>,
}

fn plans<E: KernelDtype>(len: usize) -> Arc<Plans<E>> {
    type Cache = HashMap<(TypeId, usize), Arc<dyn Any + Send + Sync>>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let entry = cache.entry((TypeId::of::<E>(), len)).or_insert_with(|| {
        // The planner picks the AVX (or SSE, NEON) kernels when the CPU has them.
        let mut planner = FftPlanner::<E>::new();
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

/// One task's buffers: two complex signals and the transforms' scratch.
struct Workspace<E: KernelDtype> {
    z: Vec<Complex<E>>,
    zx: Vec<Complex<E>>,
    scratch: Vec<Complex<E>>,
}

impl<E: KernelDtype> Spectrum<E> {
    fn new(len: usize) -> Self {
        Self {
            len,
            plans: plans(len),
        }
    }

    /// Rows per parallel task: an even number, so that each task transforms whole pairs.
    fn rows_per_task(&self, rows: usize) -> usize {
        let row_work = self.len * (usize::BITS - self.len.leading_zeros()) as usize;
        let per_task = rows_per_task(rows, row_work);
        per_task + per_task % 2
    }

    fn workspace(&self) -> Workspace<E> {
        let scratch = self
            .plans
            .forward
            .get_inplace_scratch_len()
            .max(self.plans.inverse.get_inplace_scratch_len());
        Workspace {
            z: vec![Complex::default(); self.len],
            zx: vec![Complex::default(); self.len],
            scratch: vec![Complex::default(); scratch],
        }
    }

    /// `f` on a workspace of this length, the thread's own from an earlier call when it has one
    /// (rows come in tasks, calls in steps: the buffers are made once per thread, not per task).
    fn with_workspace<R>(&self, f: impl FnOnce(&mut Workspace<E>) -> R) -> R {
        thread_local! {
            static SPARE: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
        }
        let fits = |w: &Box<dyn Any>| {
            w.downcast_ref::<Workspace<E>>()
                .is_some_and(|w| w.z.len() == self.len)
        };
        let spare = SPARE.with_borrow_mut(|spare| {
            let at = spare.iter().position(fits)?;
            spare.swap_remove(at).downcast::<Workspace<E>>().ok()
        });
        let mut work = spare.unwrap_or_else(|| Box::new(self.workspace()));
        let out = f(&mut work);
        SPARE.with_borrow_mut(|spare| {
            // A few lengths per thread (a network's layers); the oldest go first.
            if spare.len() >= SPARE_WORKSPACES {
                spare.remove(0);
            }
            spare.push(work);
        });
        out
    }

    /// `z = FFT(z)`.
    fn forward(&self, z: &mut [Complex<E>], scratch: &mut [Complex<E>]) {
        self.plans.forward.process_with_scratch(z, scratch);
    }

    /// `z = IFFT(z)`, unnormalized.
    fn inverse(&self, z: &mut [Complex<E>], scratch: &mut [Complex<E>]) {
        self.plans.inverse.process_with_scratch(z, scratch);
    }

    /// `FFT(u) / L`: the values' spectrum, normalized for the unnormalized inverse.
    fn values(&self, k: &ShiftKernel, v: &[E]) -> Vec<Complex<E>> {
        let u = if k.period == Some(self.len) {
            Cow::Borrowed(v)
        } else {
            k.extend(v)
        };
        let scale = E::one() / E::from_usize(self.len).unwrap_or_else(E::one);
        let mut z = vec![Complex::default(); self.len];
        z.iter_mut()
            .zip(u.iter())
            .for_each(|(z, &u)| z.re = u * scale);
        self.with_workspace(|w| self.forward(&mut z, &mut w.scratch));
        z
    }
}

/// `acc[k] += zx[k]·conj(zg[−k mod L])` (`reversed`) or `zx[k]·conj(zg[k])`, for two pairs of rows
/// placed by [`ShiftKernel::place_pair`] and transformed.
///
/// With `zx = X₁ + i·X₂` and `zg = G₁ + i·G₂` (the `X`, `G` spectra of real rows, so
/// `X(−k) = conj X(k)`), the `reversed` sum's inverse has real part `IFFT(X₁·G₁ + X₂·G₂)`: both
/// rows' products, without separating the packed spectra. When one of the two was placed flipped
/// (its spectrum at `−k`), the same sum is the forward one; when both were, the reversed one
/// gives the sum at `−k`, whose inverse is the gradient the other way round.
fn accumulate_pair<E: KernelDtype>(
    acc: &mut [Complex<E>],
    zx: &[Complex<E>],
    zg: &[Complex<E>],
    reversed: bool,
) {
    if reversed {
        acc[0] = acc[0] + zx[0] * zg[0].conj();
        for ((a, &x), &g) in acc[1..].iter_mut().zip(&zx[1..]).zip(zg[1..].iter().rev()) {
            *a = *a + x * g.conj();
        }
    } else {
        for ((a, &x), &g) in acc.iter_mut().zip(zx).zip(zg) {
            *a = *a + x * g.conj();
        }
    }
}

/// Runs `task(first_row, rows, a_rows, b_rows)` over `rows` rows split in tasks of `per_task`
/// rows, in parallel when there is more than one task; `a` and `b` are handed out in chunks of
/// `a_chunk` and `b_chunk` values per task (an empty buffer gives each task an empty slice).
/// Returns each task's result in row order.
fn pair_tasks<A, B, R, F>(
    rows: usize,
    per_task: usize,
    (a, a_chunk): (&mut [A], usize),
    (b, b_chunk): (&mut [B], usize),
    task: F,
) -> Vec<R>
where
    A: Send,
    B: Send,
    R: Send,
    F: Fn(usize, usize, &mut [A], &mut [B]) -> R + Sync + Send,
{
    let tasks = rows.div_ceil(per_task);
    let a = split_mut(a, a_chunk, tasks);
    let b = split_mut(b, b_chunk, tasks);
    let run = |(t, (a, b)): (usize, (&mut [A], &mut [B]))| {
        let first = t * per_task;
        task(first, per_task.min(rows - first), a, b)
    };
    let parts: Vec<_> = a.into_iter().zip(b).enumerate().collect();
    if tasks <= 1 {
        parts.into_iter().map(run).collect()
    } else {
        parts.into_par_iter().map(run).collect()
    }
}

/// `buf` in `tasks` chunks of `chunk` values (the last may be shorter), or `tasks` empty slices.
fn split_mut<T>(buf: &mut [T], chunk: usize, tasks: usize) -> Vec<&mut [T]> {
    if buf.is_empty() || chunk == 0 {
        (0..tasks).map(|_| <&mut [T]>::default()).collect()
    } else {
        buf.chunks_mut(chunk).collect()
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

    /// The fused op (what the layers run): the bias added in the row tasks, its gradient summed
    /// there, and kept spectra given back and reused by the next forward (three rounds, new data
    /// each), on the FFT path against the direct one.
    #[test]
    fn fused_op_adds_the_bias_and_reuses_kept_spectra() {
        let wave = |len: usize, f: f64| (0..len).map(|t| (t as f64 * f).sin()).collect::<Vec<_>>();
        for kind in ["hankel", "toeplitz", "circulant"] {
            for transposed in [false, true] {
                let base = kernel(kind, 40, 48);
                let k = if transposed { base.transposed() } else { base };
                let (fi, fo) = (k.len_in(), k.len_out());
                let v = wave(k.values(), 0.37);
                let bias = wave(fo, 0.53);
                for (round, n) in [5, 6, 5].into_iter().enumerate() {
                    let f = 0.1 + round as f64 * 0.07;
                    let (x, g) = (wave(n * fi, f), wave(n * fo, f + 0.13));
                    let op = k.forcing(true).op(true);
                    let mut y = vec![f64::NAN; n * fo];
                    op.forward(Forward {
                        n,
                        x: &x,
                        w: &v,
                        bias: Some(&bias),
                        y: &mut y,
                    });
                    let (mut gx, mut gv, mut gb) =
                        (vec![0.5; n * fi], vec![0.5; v.len()], vec![0.0; fo]);
                    op.backward(Backward {
                        n,
                        x: &x,
                        w: &v,
                        dy: &g,
                        dx: &mut gx,
                        dw: &mut gv,
                        db: Some(&mut gb),
                    });
                    let direct = k.forcing(false);
                    let mut y_ref = vec![0.0; n * fo];
                    direct.forward(&v, &x, &mut y_ref, false);
                    add_bias(&mut y_ref, Some(&bias));
                    let (mut gx_ref, mut gv_ref) = (vec![0.5; n * fi], vec![0.5; v.len()]);
                    direct.backward(&v, &x, &[], &g, Some(&mut gx_ref), Some(&mut gv_ref));
                    let mut gb_ref = vec![0.0; fo];
                    add_bias_grad(&g, Some(&mut gb_ref));
                    let what = format!("{kind} t={transposed} round {round}");
                    assert!(close(&y, &y_ref, 1e-12), "{what}: y");
                    assert!(close(&gx, &gx_ref, 1e-12), "{what}: gx");
                    assert!(close(&gv, &gv_ref, 1e-12), "{what}: gv");
                    assert!(close(&gb, &gb_ref, 1e-12), "{what}: gb");
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
