//! Sizes that do not fit: an `Err` naming the rule and the numbers, in the dfdx side's words.

use crate::common::{device, tensor, values};
use tied_burn::{Error, Tie};

fn message(result: Result<Tie, Error>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn toeplitz_with_the_wrong_k() {
    assert_eq!(
        message(Tie::new("toeplitz", 4, 3, &[5])),
        "tied: `toeplitz` on a 4×3 weight: it stores one value per diagonal, I + O − 1 = 6 \
         values, but the stated size is 5"
    );
}

#[test]
fn a_tile_that_does_not_divide() {
    assert_eq!(
        message(Tie::new("tile", 4, 6, &[3, 2])),
        "tied: `tile` on a 4×6 weight: R = 3 must divide the inputs 4 (and not be 0)"
    );
    assert_eq!(
        message(Tie::new("block", 4, 6, &[2, 4])),
        "tied: `block` on a 4×6 weight: C = 4 must divide the outputs 6 (and not be 0)"
    );
    assert_eq!(
        message(Tie::new("tile", 4, 6, &[])),
        "tied: `tile` takes two sizes, R and C (the stored block's shape), but 0 were stated"
    );
}

#[test]
fn other_rules() {
    assert_eq!(
        message(Tie::new("circulant", 3, 4, &[])),
        "tied: `circulant` on a 3×4 weight: the weight must be square"
    );
    assert_eq!(
        message(Tie::new("banded", 5, 5, &[4])),
        "tied: `banded` on a 5×5 weight: a band stores 2·bandwidth + 1 diagonals, an odd number"
    );
    assert!(message(Tie::new("banded", 3, 8, &[7])).contains("the shorter is 3"));
    assert!(message(Tie::new("rows", 0, 3, &[])).contains("0×3"));
    assert!(message(Tie::new("nope", 3, 3, &[])).contains("`nope` is not a built-in pattern"));
}

#[test]
fn wrong_tensors_are_errors_too() {
    let device = device();
    let tie = Tie::new("toeplitz", 4, 3, &[]).unwrap();
    let x = tensor(values(8, 1), [2, 4], &device);
    let short = tensor(values(5, 2), [5], &device);
    assert_eq!(
        tie.try_forward(x.clone(), short).unwrap_err().to_string(),
        "tied: `toeplitz` stores a tensor of shape [6], but the stored tensor is [5]"
    );
    let v = tensor(values(6, 2), [6], &device);
    assert_eq!(
        tie.try_forward_transposed(x, v).unwrap_err().to_string(),
        "tied: `toeplitz`: the input's last dimension must be 3, but its shape is [2, 4]"
    );
}

#[test]
fn zeros_of_the_stored_shape() {
    let device = device();
    let tie = Tie::new("toeplitz", 4, 3, &[]).unwrap();
    assert_eq!(tie.zeros::<1>(&device).unwrap().dims(), [6]);
    let tile = Tie::new("tile", 4, 6, &[2, 3]).unwrap();
    assert_eq!(tile.zeros::<2>(&device).unwrap().dims(), [2, 3]);
    assert_eq!(
        tile.zeros::<1>(&device).unwrap_err().to_string(),
        "tied: the stored tensor must have rank 2, not 1"
    );
}
