//! Property tests over random shapes against the dense reference, from a fixed seed (as the
//! workspace's tests do): set `PROPTEST_RNG_SEED` (and `PROPTEST_CASES`) to explore.

use crate::common::check_against_reference;
use proptest::prelude::*;
use tied_burn::Tie;

/// `cases` cases from a fixed seed, unless the environment asks for others.
fn config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let env = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            env.rng_seed
        } else {
            RngSeed::Fixed(0x7115_d0c5)
        },
        ..env
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn toeplitz_and_hankel(i in 1usize..20, o in 1usize..20, n in 1usize..4, t in any::<bool>(), seed in 0u64..1000) {
        for key in ["toeplitz", "hankel"] {
            check_against_reference(&Tie::new(key, i, o, &[]).unwrap(), n, t, seed);
        }
    }

    #[test]
    fn circulant_and_symmetric(side in 1usize..20, n in 1usize..4, t in any::<bool>(), seed in 0u64..1000) {
        for key in ["circulant", "symmetric", "upper_triangular", "lower_triangular"] {
            check_against_reference(&Tie::new(key, side, side, &[]).unwrap(), n, t, seed);
        }
        if side > 1 {
            check_against_reference(&Tie::new("skew", side, side, &[]).unwrap(), n, t, seed);
        }
    }

    #[test]
    fn tile_and_block(r in 1usize..5, a in 1usize..5, c in 1usize..5, b in 1usize..5, n in 1usize..4, t in any::<bool>(), seed in 0u64..1000) {
        for key in ["tile", "block"] {
            check_against_reference(&Tie::new(key, r * a, c * b, &[r, c]).unwrap(), n, t, seed);
        }
    }

    #[test]
    fn banded(i in 1usize..16, o in 1usize..16, half in 0usize..8, n in 1usize..4, t in any::<bool>(), seed in 0u64..1000) {
        let half = half.min(i.min(o) - 1);
        check_against_reference(&Tie::new("banded", i, o, &[2 * half + 1]).unwrap(), n, t, seed);
    }
}
