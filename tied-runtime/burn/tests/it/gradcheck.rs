//! Finite differences in f64: the gradients Burn's autodiff computes through each lowering are
//! the derivatives of what the lowering computes (independent of the dense reference).

use crate::common::{assert_close, device, host, needs_f64, tensor, values};
use burn::tensor::Tensor;
use tied_burn::Tie;

/// The loss, and with `grad` its gradients for `x` and the stored values.
type Evaluated = (f64, Option<(Vec<f64>, Vec<f64>)>);

/// `L(x, s) = Σ (x·W) ⊙ r` (or `x·Wᵀ`): its autodiff gradients against central differences.
fn check(key: &str, i: usize, o: usize, stated: &[usize], transposed: bool) {
    let device = device();
    let tie = Tie::new(key, i, o, stated).unwrap();
    let (a, b) = if transposed { (o, i) } else { (i, o) };
    let n = 2;
    let s0 = values(tie.stored_len(), 21);
    let x0 = values(n * a, 22);
    let r = values(n * b, 23);
    let shape = tie.stored_shape();
    let loss = |x: Vec<f64>, s: Vec<f64>, grad: bool| -> Evaluated {
        let xt = tensor(x, [n, a], &device);
        let st: Tensor<2> = tensor(s, [shape[0], *shape.get(1).unwrap_or(&1)], &device);
        let (xt, st) = if grad {
            (xt.require_grad(), st.require_grad())
        } else {
            (xt, st)
        };
        // A [len, 1] tensor reshaped to the stored shape: the same values either way.
        let y = if shape.len() == 1 {
            let v: Tensor<1> = st.clone().reshape([shape[0]]);
            if transposed {
                tie.forward_transposed(xt.clone(), v)
            } else {
                tie.forward(xt.clone(), v)
            }
        } else if transposed {
            tie.forward_transposed(xt.clone(), st.clone())
        } else {
            tie.forward(xt.clone(), st.clone())
        };
        let l = y.mul(tensor(r.clone(), [n, b], &device)).sum();
        let value = host(&l)[0];
        if !grad {
            return (value, None);
        }
        let grads = l.backward();
        (
            value,
            Some((
                host(&xt.grad(&grads).unwrap()),
                host(&st.grad(&grads).unwrap()),
            )),
        )
    };
    let (_, g) = loss(x0.clone(), s0.clone(), true);
    let (gx, gs) = g.unwrap();
    let h = 1e-6;
    let numeric = |which: usize, len: usize| -> Vec<f64> {
        (0..len)
            .map(|k| {
                let bump = |d: f64| {
                    let (mut x, mut s) = (x0.clone(), s0.clone());
                    if which == 0 {
                        x[k] += d
                    } else {
                        s[k] += d
                    }
                    loss(x, s, false).0
                };
                (bump(h) - bump(-h)) / (2.0 * h)
            })
            .collect()
    };
    let what = format!("{key} {i}×{o}{}", if transposed { "ᵀ" } else { "" });
    // The loss is linear in each argument: central differences are exact up to rounding
    // (≈ 1e-16 / 1e-6 relative), so 1e-7 is tight.
    assert_close(&format!("{what} dx"), &gx, &numeric(0, x0.len()), 1e-7);
    assert_close(&format!("{what} dstored"), &gs, &numeric(1, s0.len()), 1e-7);
}

#[test]
fn finite_differences() {
    if !needs_f64("finite_differences") {
        return;
    }
    for transposed in [false, true] {
        check("toeplitz", 5, 3, &[], transposed);
        check("circulant", 6, 6, &[], transposed);
        check("hankel", 3, 4, &[], transposed);
        check("banded", 6, 4, &[3], transposed);
        check("symmetric", 4, 4, &[], transposed);
        check("upper_triangular", 4, 4, &[], transposed);
        check("skew", 5, 5, &[10], transposed);
        check("lower_triangular", 5, 5, &[15], transposed);
        check("tile", 6, 4, &[3, 2], transposed);
        check("block", 6, 4, &[2, 2], transposed);
        check("rows", 3, 5, &[], transposed);
    }
}
