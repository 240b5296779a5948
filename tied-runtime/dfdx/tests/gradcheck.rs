//! The gradient check itself: it passes on correct gradients and reports the entry that is wrong.

use dfdx::prelude::*;
use tied_dfdx::{gradcheck_with, GradcheckError, GradcheckOptions};

/// A model with one parameter vector, for checking losses by hand.
#[derive(Clone, Debug)]
struct Params {
    w: Tensor<Rank1<3>, f64, Cpu>,
}

impl TensorCollection<f64, Cpu> for Params {
    type To<E2: Dtype, D2: Device<E2>> = ();
    fn iter_tensors<V: ModuleVisitor<Self, f64, Cpu>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            Self::tensor("w", |s| &s.w, |s| &mut s.w, TensorOptions::reset_to_zeros()),
            |_| (),
        )
    }
}

#[test]
fn passes_on_a_smooth_loss_and_counts_every_entry() {
    let dev = Cpu::default();
    let model = Params {
        w: dev.tensor([0.5, -1.0, 2.0]),
    };
    let x = dev.tensor([1.0, 2.0, 3.0]);
    let report = gradcheck_with(&model, &x, GradcheckOptions::default(), |m, x| {
        (x * m.w.retaped::<OwnedTape<f64, Cpu>>()).square().sum()
    })
    .unwrap();
    assert_eq!(report.parameters, vec![("w".to_owned(), 3)]);
    assert_eq!(report.checked, 6);
    assert!(report.max_abs_error < 1e-6);
}

#[test]
fn reports_a_wrong_gradient() {
    // relu at exactly 0: dfdx's tape says the slope is 0, the central difference says 1/2. Only
    // x[1] sits on the kink (w[1] multiplies x[1] = 0, so moving it changes nothing).
    let dev = Cpu::default();
    let model = Params {
        w: dev.tensor([1.0, 1.0, 1.0]),
    };
    let x = dev.tensor([1.0, 0.0, 3.0]);
    let err = gradcheck_with(&model, &x, GradcheckOptions::default(), |m, x| {
        (x * m.w.retaped::<OwnedTape<f64, Cpu>>()).relu().sum()
    })
    .unwrap_err();
    let GradcheckError::Mismatch {
        ref tensor,
        index,
        analytic,
        numeric,
    } = err
    else {
        panic!("a mismatch, not {err:?}");
    };
    assert_eq!(tensor, "input");
    assert_eq!(index, 1);
    assert_eq!(analytic, 0.0);
    assert!((numeric - 0.5).abs() < 1e-6, "{err}");
    assert!(err.to_string().starts_with("gradient mismatch at input[1]"));
}
