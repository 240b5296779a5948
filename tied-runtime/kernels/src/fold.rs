//! The broadcast family's kernel. Rows, cols, scalar, tile and block all have the form
//! `W[i, j] = V[φ(i), ψ(j)]` for a small `R`×`C` matrix `V` and maps `φ: I → R`, `ψ: O → C` that are
//! either `i mod R` (tile) or `i / (I/R)` (block; rows is `R = I, C = 1`, cols `R = 1, C = O`,
//! scalar `R = C = 1`). So per input row:
//!
//! ```text
//! forward:   f = fold_φ(x)        (R sums over x's row)
//!            z = f·V              (C values)
//!            y = spread_ψ(z) + b  (O values)
//! backward:  g = fold_ψ(dy)       (C),   db += dy
//!            dx += spread_φ(V·g)  (I)
//!            dV += fold_φ(x) ⊗ g  (R×C, a per-thread partial)
//! ```
//!
//! One pass over `x` forward, one over `dy` and `x` backward, O(I + O + R·C) per row, no temporary
//! larger than the `R`, `C` vectors and the per-thread partial of `dV`. A transposed pattern is
//! the same kernel with the maps swapped and `V` read transposed.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};

use crate::par;
use crate::{Backward, Forward, KernelDtype, LinearKernel};

/// How a side of `W` (inputs or outputs) folds onto a side of `V`: the patterns' own description
/// (`tied_patterns::Structure::Fold`), here under its old path.
pub use tied_patterns::Fold;

/// The same map in its simplest form: `mod 1` is one block, `mod len` is the identity.
fn normal(fold: Fold, len: usize) -> Fold {
    match fold {
        Fold::Mod(g) if g <= 1 => Fold::Div(1),
        Fold::Mod(g) if g >= len => Fold::Div(len),
        fold => fold,
    }
}

/// The broadcast family's kernel for an I×O weight (see the module documentation).
#[derive(Debug, Clone)]
pub struct FoldKernel {
    inputs: usize,
    outputs: usize,
    phi: Fold,
    psi: Fold,
    /// `V[r, c]` is stored at `r·rs + c·cs`.
    rs: usize,
    cs: usize,
    /// The forward's folded input rows `fold_φ(x)` (n×R, a `Vec<F>`), kept for the backward so
    /// it never reads `x` again (not kept when φ is the identity: then they are `x` itself).
    kept: Arc<Mutex<Option<Box<dyn Any + Send>>>>,
}

impl FoldKernel {
    /// `W[i, j] = V[φ(i), ψ(j)]` with `V` stored row-major R×C; `None` (no kernel) when the
    /// groups do not divide the sides (or a side is empty).
    pub fn new(inputs: usize, outputs: usize, phi: Fold, psi: Fold) -> Option<Self> {
        let (phi, psi) = (normal(phi, inputs), normal(psi, outputs));
        let (r, c) = (phi.groups(), psi.groups());
        let divides = |g: usize, len: usize| g > 0 && len > 0 && len.is_multiple_of(g);
        (divides(r, inputs) && divides(c, outputs)).then_some(FoldKernel {
            inputs,
            outputs,
            phi,
            psi,
            rs: c,
            cs: 1,
            kept: Arc::default(),
        })
    }

    /// The same weight transposed: `Wᵀ[j, i] = V[φ(i), ψ(j)] = Vᵀ[ψ(j), φ(i)]`.
    pub fn transposed(self) -> Self {
        FoldKernel {
            inputs: self.outputs,
            outputs: self.inputs,
            phi: self.psi,
            psi: self.phi,
            rs: self.cs,
            cs: self.rs,
            kept: self.kept,
        }
    }

    fn r(&self) -> usize {
        self.phi.groups()
    }

    fn c(&self) -> usize {
        self.psi.groups()
    }

    /// Whether `V`'s rows are contiguous and worth walking row by row (else its columns are).
    fn by_rows(&self) -> bool {
        self.cs == 1 && self.c() > 1
    }

    /// `z = f·V`.
    fn times_v<F: KernelDtype>(&self, w: &[F], f: &[F], z: &mut [F]) {
        let (r, c) = (self.r(), self.c());
        if self.by_rows() {
            z.fill(F::zero());
            for (k, &fk) in f.iter().enumerate() {
                axpy(fk, &w[k * self.rs..k * self.rs + c], z);
            }
        } else {
            for (l, zl) in z.iter_mut().enumerate() {
                *zl = dot(f, &w[l * self.cs..l * self.cs + r]);
            }
        }
    }

    /// `h += V·g`.
    fn v_times_add<F: KernelDtype>(&self, w: &[F], g: &[F], h: &mut [F]) {
        let (r, c) = (self.r(), self.c());
        if self.by_rows() {
            for (k, hk) in h.iter_mut().enumerate() {
                *hk += dot(&w[k * self.rs..k * self.rs + c], g);
            }
        } else {
            for (l, &gl) in g.iter().enumerate() {
                axpy(gl, &w[l * self.cs..l * self.cs + r], h);
            }
        }
    }

    /// `dx += spread_φ(V·g)`: straight into `dx` when φ is the identity (rows), through the
    /// `R` values `h` otherwise.
    fn input_grad<F: KernelDtype>(&self, w: &[F], g: &[F], h: &mut [F], dx: &mut [F]) {
        if self.phi == Fold::Div(self.inputs) {
            self.v_times_add(w, g, dx);
        } else {
            h.fill(F::zero());
            self.v_times_add(w, g, h);
            spread_add(self.phi, h, dx);
        }
    }

    /// `dV += f ⊗ g`.
    fn outer<F: KernelDtype>(&self, f: &[F], g: &[F], dw: &mut [F]) {
        let (r, c) = (self.r(), self.c());
        if self.by_rows() {
            for (k, &fk) in f.iter().enumerate() {
                axpy(fk, g, &mut dw[k * self.rs..k * self.rs + c]);
            }
        } else {
            for (l, &gl) in g.iter().enumerate() {
                axpy(gl, f, &mut dw[l * self.cs..l * self.cs + r]);
            }
        }
    }
}

impl FoldKernel {
    /// The folded input rows the forward kept, when they are there for `n` rows.
    fn take_kept<F: KernelDtype>(&self, n: usize) -> Option<Vec<F>> {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        let kept = *kept.downcast::<Vec<F>>().ok()?;
        (kept.len() == n * self.r()).then_some(kept)
    }
}

impl LinearKernel for FoldKernel {
    fn forward<F: KernelDtype>(&self, a: Forward<'_, F>) {
        let (i, o, r, c) = (self.inputs, self.outputs, self.r(), self.c());
        let chunks = par::chunks(a.n, i + o + r * c);
        let (x, w, bias) = (a.x, a.w, a.bias);
        let keep = self.phi != Fold::Div(i);
        let folded = par::for_rows(a.y, o, a.n, chunks, |rows, y| {
            let mut kept = Vec::with_capacity(if keep { rows.len() * r } else { 0 });
            let (mut f, mut z) = (vec![F::zero(); r], vec![F::zero(); c]);
            for (row, y) in rows.zip(y.chunks_exact_mut(o)) {
                let f = fold(self.phi, &x[row * i..(row + 1) * i], &mut f);
                if keep {
                    kept.extend_from_slice(f);
                }
                self.times_v(w, f, &mut z);
                spread(self.psi, &z, y, bias);
            }
            kept
        });
        if keep {
            // One chunk (the usual case below `MIN_WORK_PER_CHUNK`): its rows as they are.
            let kept: Vec<F> = match <[Vec<F>; 1]>::try_from(folded) {
                Ok([rows]) => rows,
                Err(chunks) => chunks.concat(),
            };
            *self.kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(kept));
        }
    }

    fn backward<F: KernelDtype>(&self, a: Backward<'_, F>) {
        let (i, o, r, c) = (self.inputs, self.outputs, self.r(), self.c());
        let chunks = par::chunks(a.n, 2 * i + o + 2 * r * c);
        let (x, w, dy, with_bias) = (a.x, a.w, a.dy, a.db.is_some());
        let kept = self.take_kept::<F>(a.n);
        let partials = par::for_rows(a.dx, i, a.n, chunks, |rows, dx| {
            let mut dw = vec![F::zero(); w.len()];
            let mut db = vec![F::zero(); if with_bias { o } else { 0 }];
            let (mut f, mut g, mut h) =
                (vec![F::zero(); r], vec![F::zero(); c], vec![F::zero(); r]);
            for (row, dx) in rows.zip(dx.chunks_exact_mut(i)) {
                let dy = &dy[row * o..(row + 1) * o];
                let g = fold_and_add(self.psi, dy, &mut g, with_bias.then_some(&mut db[..]));
                let x = &x[row * i..(row + 1) * i];
                if self.phi == Fold::Div(i) && c == 1 {
                    // Rows: V is one column, `w` itself; both input-side updates in one pass.
                    let g = g[0];
                    for (((dx, dw), &w), &x) in dx.iter_mut().zip(dw.iter_mut()).zip(w).zip(x) {
                        *dx += g * w;
                        *dw += g * x;
                    }
                    continue;
                }
                self.input_grad(w, g, &mut h, dx);
                let f = match &kept {
                    Some(kept) => &kept[row * r..(row + 1) * r],
                    None => fold(self.phi, x, &mut f),
                };
                self.outer(f, g, &mut dw);
            }
            (dw, db)
        });
        let mut db = a.db;
        for (dw, db_part) in partials {
            add(&dw, a.dw);
            if let Some(db) = db.as_deref_mut() {
                add(&db_part, db);
            }
        }
    }
}

/// `fold(row)`: the group sums of `row`, in `scratch` (or `row` itself for the identity).
fn fold<'a, F: KernelDtype>(fold: Fold, row: &'a [F], scratch: &'a mut [F]) -> &'a [F] {
    match fold {
        Fold::Div(g) if g == row.len() => row,
        Fold::Div(g) => {
            let m = row.len() / g;
            for (s, block) in scratch.iter_mut().zip(row.chunks_exact(m)) {
                *s = sum(block);
            }
            scratch
        }
        Fold::Mod(g) => {
            scratch.fill(F::zero());
            for tile in row.chunks_exact(g) {
                add(tile, scratch);
            }
            scratch
        }
    }
}

/// `fold(row)`, adding `row` into `acc` (the bias gradient) in the same pass where it can.
fn fold_and_add<'a, F: KernelDtype>(
    fold: Fold,
    row: &'a [F],
    scratch: &'a mut [F],
    acc: Option<&mut [F]>,
) -> &'a [F] {
    let Some(acc) = acc else {
        return self::fold(fold, row, scratch);
    };
    match fold {
        Fold::Div(g) if g == row.len() => {
            add(row, acc);
            row
        }
        Fold::Div(g) => {
            let m = row.len() / g;
            let blocks = row.chunks_exact(m).zip(acc.chunks_exact_mut(m));
            for (s, (block, acc)) in scratch.iter_mut().zip(blocks) {
                *s = sum_and_add(block, acc);
            }
            scratch
        }
        Fold::Mod(g) => {
            scratch.fill(F::zero());
            for (tile, acc) in row.chunks_exact(g).zip(acc.chunks_exact_mut(g)) {
                for ((s, a), &v) in scratch.iter_mut().zip(acc).zip(tile) {
                    *s += v;
                    *a += v;
                }
            }
            scratch
        }
    }
}

/// `out[k] = v[group(k)] (+ bias[k])`, in one pass.
fn spread<F: KernelDtype>(fold: Fold, v: &[F], out: &mut [F], bias: Option<&[F]>) {
    match (fold, bias) {
        (Fold::Div(g), None) if g == out.len() => out.copy_from_slice(v),
        (Fold::Div(g), Some(bias)) if g == out.len() => {
            for ((o, &vk), &bk) in out.iter_mut().zip(v).zip(bias) {
                *o = vk + bk;
            }
        }
        (Fold::Div(g), None) => {
            let m = out.len() / g;
            for (block, &vk) in out.chunks_exact_mut(m).zip(v) {
                block.fill(vk);
            }
        }
        (Fold::Div(g), Some(bias)) => {
            let m = out.len() / g;
            for ((block, &vk), bias) in out.chunks_exact_mut(m).zip(v).zip(bias.chunks_exact(m)) {
                for (o, &bk) in block.iter_mut().zip(bias) {
                    *o = vk + bk;
                }
            }
        }
        (Fold::Mod(g), None) => {
            for tile in out.chunks_exact_mut(g) {
                tile.copy_from_slice(v);
            }
        }
        (Fold::Mod(g), Some(bias)) => {
            for (tile, bias) in out.chunks_exact_mut(g).zip(bias.chunks_exact(g)) {
                for ((o, &vk), &bk) in tile.iter_mut().zip(v).zip(bias) {
                    *o = vk + bk;
                }
            }
        }
    }
}

/// `out[k] += v[group(k)]`.
fn spread_add<F: KernelDtype>(fold: Fold, v: &[F], out: &mut [F]) {
    match fold {
        Fold::Div(g) if g == out.len() => add(v, out),
        Fold::Div(g) => {
            let m = out.len() / g;
            for (block, &vk) in out.chunks_exact_mut(m).zip(v) {
                block.iter_mut().for_each(|o| *o += vk);
            }
        }
        Fold::Mod(g) => {
            for tile in out.chunks_exact_mut(g) {
                add(v, tile);
            }
        }
    }
}

/// Lanes of independent partial sums: floating-point addition is not associative, so the compiler
/// vectorizes a reduction only when it is written with separate accumulators; 32 of them keep
/// several vector adds in flight (one chain of 8 ran the rows kernel at a quarter of the speed).
const LANES: usize = 32;

/// The sum of the lanes, halving them in vector adds (a chain of 32 scalar adds would cost more
/// than the 64-element sums and dots of a 64×64 tile or block).
fn reduce<F: KernelDtype>(mut lanes: [F; LANES]) -> F {
    let mut half = LANES / 2;
    while half > 0 {
        for k in 0..half {
            lanes[k] += lanes[k + half];
        }
        half /= 2;
    }
    lanes[0]
}

fn sum<F: KernelDtype>(a: &[F]) -> F {
    let mut acc = [F::zero(); LANES];
    let chunks = a.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (s, &v) in acc.iter_mut().zip(chunk) {
            *s += v;
        }
    }
    tail.iter().fold(reduce(acc), |s, &v| s + v)
}

/// `Σ a`, adding `a` into `acc` on the way.
fn sum_and_add<F: KernelDtype>(a: &[F], acc: &mut [F]) -> F {
    let mut lanes = [F::zero(); LANES];
    let split = a.len() - a.len() % LANES;
    let (body, tail) = a.split_at(split);
    let (acc_body, acc_tail) = acc.split_at_mut(split);
    for (chunk, acc) in body
        .chunks_exact(LANES)
        .zip(acc_body.chunks_exact_mut(LANES))
    {
        for k in 0..LANES {
            lanes[k] += chunk[k];
            acc[k] += chunk[k];
        }
    }
    tail.iter().zip(acc_tail).fold(reduce(lanes), |s, (&v, a)| {
        *a += v;
        s + v
    })
}

fn dot<F: KernelDtype>(a: &[F], b: &[F]) -> F {
    let mut acc = [F::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = ca.remainder().iter().zip(cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    tail.fold(reduce(acc), |s, (&x, &y)| s + x * y)
}

/// `y += a·x`.
fn axpy<F: KernelDtype>(a: F, x: &[F], y: &mut [F]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y += a * x);
}

/// `y += x`.
pub fn add<F: KernelDtype>(x: &[F], y: &mut [F]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y += x);
}
