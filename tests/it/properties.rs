//! Property tests over shapes: for several compile-time sizes and random batch/sequence lengths
//! and values, every pattern's forward and gradients equal the dense reference.

use crate::common::{self, *};
use proptest::prelude::*;
use tied::prelude::*;
use tied::{Cols, Dense, Rows, Scalar};

/// Builds each layer kind at `I`×`O`, fills it from `seed`, and checks a `(b, I)` and a
/// `(b, s, I)` input against the reference.
macro_rules! check_shapes {
    ($i:literal, $o:literal, $b:expr, $s:expr, $seed:expr) => {{
        let dev = Cpu::default();
        let (b, s, seed) = ($b, $s, $seed);
        let x2: Tensor<(usize, Const<$i>), f64, Cpu> =
            dev.tensor_from_vec(values(b * $i, seed), (b, Const));
        let x3: Tensor<(usize, usize, Const<$i>), f64, Cpu> =
            dev.tensor_from_vec(values(b * s * $i, seed + 1), (b, s, Const));

        let mut rows = dev.build_module::<RowsNoBiasConfig<$i, $o>, f64>();
        rows.weight = dev.tensor_from_vec(values($i, seed + 2), (Const,));
        check_reference::<_, Rows, $i, $o, _, _>(&rows, &rows.weight, None, x2.clone());
        check_reference::<_, Rows, $i, $o, _, _>(&rows, &rows.weight, None, x3.clone());

        let mut cols = dev.build_module::<ColsLinearConfig<$i, $o>, f64>();
        cols.weight = dev.tensor_from_vec(values($o, seed + 3), (Const,));
        check_reference::<_, Cols, $i, $o, _, _>(&cols, &cols.weight, Some(&cols.bias), x2.clone());
        check_reference::<_, Cols, $i, $o, _, _>(&cols, &cols.weight, Some(&cols.bias), x3.clone());

        let scalar = dev.build_module::<ScalarLinearConfig<$i, $o>, f64>();
        check_reference::<_, Scalar, $i, $o, _, _>(
            &scalar,
            &scalar.weight,
            Some(&scalar.bias),
            x2.clone(),
        );

        let dense = dev.build_module::<DenseLinearConfig<$i, $o>, f64>();
        check_reference::<_, Dense, $i, $o, _, _>(&dense, &dense.weight, Some(&dense.bias), x3);
    }};
}

proptest! {
    #![proptest_config(common::proptest_config(24))]

    #[test]
    fn every_pattern_matches_the_dense_reference(b in 1usize..9, s in 1usize..5, seed in any::<u32>()) {
        let seed = u64::from(seed);
        check_shapes!(1, 1, b, s, seed);
        check_shapes!(1, 5, b, s, seed);
        check_shapes!(4, 4, b, s, seed);
        check_shapes!(7, 2, b, s, seed);
        check_shapes!(3, 17, b, s, seed);
        check_shapes!(33, 8, b, s, seed);
    }

    #[test]
    fn tied_square_layer_matches_reference(b in 1usize..9, seed in any::<u32>()) {
        let dev = Cpu::default();
        let mut layer = dev.build_module::<TiedLinearConfig<9>, f64>();
        layer.weight = dev.tensor_from_vec(values(9, u64::from(seed)), (Const,));
        let x: Tensor<(usize, Const<9>), f64, Cpu> = dev.tensor_from_vec(values(b * 9, 5), (b, Const));
        check_reference::<_, Rows, 9, 9, _, _>(&layer, &layer.weight, Some(&layer.bias), x);
    }
}
