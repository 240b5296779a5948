//! A pattern of the user's own, as an index map, through the gather lowering.

use crate::common::{assert_close, device, host, ids, tensor, values};
use tied_burn::{Error, FnMap, GatherTable};

#[test]
fn a_checkerboard_gathers_sums_and_looks_up() {
    let device = device();
    let map = FnMap::new(2, |i, j| Some((i + j) % 2));
    let table = GatherTable::new(&map, 3, 4, &device).unwrap();
    let v = tensor(vec![0.5, -2.0], [2], &device).require_grad();
    assert_eq!(
        host(&table.effective(v.clone())),
        [0.5, -2.0, 0.5, -2.0, -2.0, 0.5, -2.0, 0.5, 0.5, -2.0, 0.5, -2.0]
    );
    let x = tensor(values(6, 1), [2, 3], &device);
    let xs = host(&x);
    let y = table.forward(x, v.clone());
    let grads = y.sum().backward();
    // d(Σ y)/dv[k] = Σ over rows and entries W[i, j] = v[k] of x[n, i].
    let mut want = [0.0; 2];
    for n in 0..2 {
        for i in 0..3 {
            for j in 0..4 {
                want[(i + j) % 2] += xs[n * 3 + i];
            }
        }
    }
    assert_close("dv", &host(&v.grad(&grads).unwrap()), &want, 1e-12);
    let rows = table.lookup(ids(vec![2, 1], [2], &device), v.clone());
    assert_eq!(host(&rows), [0.5, -2.0, 0.5, -2.0, -2.0, 0.5, -2.0, 0.5]);
    let back = table.forward_transposed(tensor(values(4, 2), [1, 4], &device), v);
    assert_eq!(back.dims(), [1, 3]);
}

#[test]
fn structural_zeros_get_no_gradient_and_bad_maps_are_refused() {
    let device = device();
    // Lower triangle only.
    let map = FnMap::new(3, |i, j| (j <= i).then_some(i + j));
    let table = GatherTable::new(&map, 2, 2, &device).unwrap();
    let v = tensor(vec![1.0, 2.0, 3.0], [3], &device);
    assert_eq!(host(&table.effective(v)), [1.0, 0.0, 2.0, 3.0]);

    let out = GatherTable::new(&FnMap::new(2, |i, _| Some(i)), 3, 2, &device).unwrap_err();
    assert_eq!(
        out,
        Error::OutOfRange {
            i: 2,
            j: 0,
            index: 2,
            stored: 2
        }
    );
    assert!(
        out.to_string().contains("W[2, 0] to stored value 2"),
        "{out}"
    );
    let unused = GatherTable::new(&FnMap::new(3, |_, j| Some(j)), 2, 2, &device).unwrap_err();
    assert_eq!(
        unused,
        Error::Unused {
            index: 2,
            stored: 3
        }
    );
    let empty = GatherTable::new(&FnMap::new(0, |_, _| None), 2, 2, &device).unwrap_err();
    assert!(matches!(empty, Error::Empty { .. }), "{empty}");
}
