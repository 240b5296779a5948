use super::*;
use crate::{Geometry, Map, CIRCULANT};
use std::format;
use std::vec::Vec;

/// The most elements a test enumerates (`set(6)` has 720, `p4m(5)` 200).
const CAP: usize = 1000;

/// The partition by brute force: each pair's orbit as the images of it under every element of the
/// group, named by its least pair (row-major), then numbered by first occurrence.
fn closure_labels(action: &Action) -> Vec<usize> {
    let elements = action.elements(CAP).expect("a small group");
    let (n_in, n_out) = (action.inputs(), action.outputs());
    let least: Vec<usize> = (0..n_in * n_out)
        .map(|x| {
            let (p, q) = (x / n_out, x % n_out);
            elements
                .iter()
                .map(|g| g.inputs[p] * n_out + g.outputs[q])
                .min()
                .unwrap()
        })
        .collect();
    let mut label = std::vec![usize::MAX; n_in * n_out];
    let mut count = 0;
    for x in 0..n_in * n_out {
        if least[x] == x {
            label[x] = count;
            count += 1;
        } else {
            // The least pair of the orbit comes first, so it is labelled already.
            label[x] = label[least[x]];
        }
    }
    label
}

/// Every check on one built-in: the fast path against the union-find over the pairs, both against
/// Burnside's count and the brute-force closure, the numbering canonical, the map and the bias
/// invariant under every generator, every bias one orbit. Returns `(count, |G|)`.
fn check_builtin(group: Group) -> (usize, usize) {
    let fast = group.orbits().unwrap();
    let action = group.action().unwrap();
    let table = action.orbits();
    let (n_in, n_out) = (group.positions_in(), group.positions_out());
    assert_eq!((fast.inputs(), fast.outputs()), (n_in, n_out), "{group}");
    assert_eq!((table.inputs(), table.outputs()), (n_in, n_out), "{group}");
    assert_eq!(fast.count(), table.count(), "{group}");
    assert_eq!((fast.bias_count(), table.bias_count()), (1, 1), "{group}");
    let closure = closure_labels(&action);
    let mut next = 0;
    for p in 0..n_in {
        for q in 0..n_out {
            let k = fast.index(p, q);
            assert_eq!(k, table.index(p, q), "{group} ({p}, {q})");
            assert_eq!(k, closure[p * n_out + q], "{group} ({p}, {q})");
            // Canonical: a new orbit is the next number.
            assert!(k <= next, "{group} ({p}, {q}) is {k}, new would be {next}");
            if k == next {
                next += 1;
            }
        }
    }
    assert_eq!(next, fast.count(), "{group}");
    assert_eq!(action.burnside(CAP), Some(fast.count()), "{group}");
    for s in &group.generators() {
        for p in 0..n_in {
            for q in 0..n_out {
                let moved = fast.index(s.inputs[p], s.outputs[q]);
                assert_eq!(moved, fast.index(p, q), "{group} {s:?} ({p}, {q})");
            }
        }
        for q in 0..n_out {
            assert_eq!(fast.bias_index(s.outputs[q]), fast.bias_index(q));
            assert_eq!(table.bias_index(q), 0);
        }
    }
    (fast.count(), action.elements(CAP).unwrap().len())
}

#[test]
fn cyclic_is_circulant_exactly() {
    for n in 1..=8 {
        let group = Group::cyclic(n);
        assert_eq!(check_builtin(group), (n, n));
        let orbits = group.orbits().unwrap();
        let circulant = Geometry::new(&CIRCULANT, n, n, &[]).unwrap();
        assert_eq!(circulant.stored_len(), orbits.count());
        for i in 0..n {
            for j in 0..n {
                assert_eq!(
                    Some(orbits.index(i, j)),
                    circulant.index(i, j),
                    "{n} ({i}, {j})"
                );
                assert_eq!(Some(orbits.index(i, j)), Map::Circulant.index(n, n, i, j));
            }
        }
    }
    // `W[i, j] = v[(j − i) mod n]`.
    let orbits = Group::cyclic(5).orbits().unwrap();
    assert_eq!(
        (orbits.index(1, 0), orbits.index(0, 4), orbits.index(3, 1)),
        (4, 4, 3)
    );
}

#[test]
fn cyclic2d_is_a_circular_convolution() {
    for h in 1..=5 {
        for w in 1..=5 {
            assert_eq!(check_builtin(Group::cyclic2d(h, w)), (h * w, h * w));
        }
    }
    // 3×4: p = (2, 3), q = (0, 1): dr = (0 − 2) mod 3 = 1, dc = (1 − 3) mod 4 = 2, 1·4 + 2.
    let orbits = Group::cyclic2d(3, 4).orbits().unwrap();
    assert_eq!(orbits.index(2 * 4 + 3, 1), 6);
    // Row 0 of `W` is the kernel in order.
    assert_eq!(
        (0..12).map(|q| orbits.index(0, q)).collect::<Vec<_>>(),
        (0..12).collect::<Vec<_>>()
    );
}

#[test]
fn dihedral_has_half_the_offsets() {
    let orders = [1, 2, 6, 8, 10, 12, 14, 16];
    for n in 1..=8 {
        assert_eq!(
            check_builtin(Group::dihedral(n)),
            (n / 2 + 1, orders[n - 1]),
            "{n}"
        );
    }
    // `min(d, n − d)` for the offset `d = (q − p) mod n`.
    let orbits = Group::dihedral(5).orbits().unwrap();
    assert_eq!(
        (0..5).map(|q| orbits.index(0, q)).collect::<Vec<_>>(),
        [0, 1, 2, 2, 1]
    );
    assert_eq!((orbits.index(3, 0), orbits.index(4, 1)), (2, 2));
}

#[test]
fn p4m_is_the_square_s_symmetries_on_a_torus() {
    // The offsets of an n×n torus under the 8 symmetries of the square: n = 3, {0}, {(0, ±1),
    // (±1, 0)}, {(±1, ±1)}; n = 4 and 5 add the 2s; |G| = 8n² from n = 3 (n = 2: the quarter
    // turn is a transpose and the reflection the identity on Z₂², 4·2).
    let want = [(1, 1), (3, 8), (3, 72), (6, 128), (6, 200)];
    for n in 1..=5 {
        assert_eq!(check_builtin(Group::p4m(n)), want[n - 1], "{n}");
    }
    let orbits = Group::p4m(4).orbits().unwrap();
    // (0, 1), (1, 0), (0, 3), (3, 0) one orbit; (0, 2), (2, 0) another.
    let at = |r: usize, c: usize| orbits.index(0, r * 4 + c);
    assert_eq!([at(0, 1), at(1, 0), at(0, 3), at(3, 0)], [1, 1, 1, 1]);
    assert_eq!([at(0, 2), at(2, 0)], [2, 2]);
    assert_eq!(
        [at(1, 1), at(3, 3), at(1, 3), at(2, 2), at(1, 2), at(2, 3)],
        [3, 3, 3, 5, 4, 4]
    );
}

#[test]
fn set_is_diagonal_and_off_diagonal() {
    let factorial = [1, 2, 6, 24, 120, 720];
    for n in 1..=6 {
        let count = if n == 1 { 1 } else { 2 };
        assert_eq!(check_builtin(Group::set(n)), (count, factorial[n - 1]));
        assert_eq!(
            check_builtin(Group::set_invariant(n)),
            (1, factorial[n - 1])
        );
        let orbits = Group::set(n).orbits().unwrap();
        for p in 0..n {
            for q in 0..n {
                assert_eq!(orbits.index(p, q), usize::from(p != q));
            }
        }
    }
    let invariant = Group::set_invariant(4);
    assert_eq!(
        (invariant.positions_in(), invariant.positions_out()),
        (4, 1)
    );
    let orbits = invariant.orbits().unwrap();
    assert_eq!(
        (orbits.count(), orbits.bias_count(), orbits.index(3, 0)),
        (1, 1, 0)
    );
    assert_eq!(orbits.get(0, 1), None);
}

#[test]
fn names_as_the_attribute_writes_them() {
    let names: Vec<_> = [
        Group::cyclic(8),
        Group::cyclic2d(32, 32),
        Group::dihedral(6),
        Group::p4m(5),
        Group::set(6),
        Group::set_invariant(6),
    ]
    .iter()
    .map(|g| format!("{g} {}", g.key()))
    .collect();
    assert_eq!(
        names,
        [
            "cyclic(8) cyclic",
            "cyclic2d(32, 32) cyclic2d",
            "dihedral(6) dihedral",
            "p4m(5) p4m",
            "set(6) set",
            "set(6, invariant) set"
        ]
    );
    assert_eq!(Group::Cyclic2d { h: 32, w: 32 }, Group::cyclic2d(32, 32));
}

/// A reflection of a line on both sides, the user's way.
struct Flip;

impl RuntimeGroup for Flip {
    const NAME: &'static str = "flip";
    fn generators(inputs: usize, outputs: usize) -> Vec<Generator> {
        std::vec![Generator::new(
            (0..inputs).rev().collect(),
            (0..outputs).rev().collect(),
        )]
    }
}

#[test]
fn a_user_group_through_the_trait() {
    // (p, q) ~ (2 − p, 3 − q).
    let orbits = Orbits::of_user::<Flip>(3, 4).unwrap();
    let rows: Vec<_> = (0..3)
        .map(|p| [0, 1, 2, 3].map(|q| orbits.index(p, q)))
        .collect();
    assert_eq!(rows, [[0, 1, 2, 3], [4, 5, 5, 4], [3, 2, 1, 0]]);
    assert_eq!(orbits.count(), 6);
    // q ~ 3 − q.
    assert_eq!(
        (0..4).map(|q| orbits.bias_index(q)).collect::<Vec<_>>(),
        [0, 1, 1, 0]
    );
    assert_eq!(orbits.bias_count(), 2);
    let action = Action::of_user::<Flip>(3, 4).unwrap();
    assert_eq!(action.group(), "flip");
    // |G| = 2: the identity fixes 12 pairs, the flip none (q = 3 − q has no solution): 12/2.
    assert_eq!(action.elements(CAP).unwrap().len(), 2);
    assert_eq!(action.burnside(CAP), Some(6));
    assert_eq!(closure_labels(&action), rows.concat());
    // 3×3: the centre is fixed, (9 + 1)/2; odd×even and so on by Burnside.
    for (i, o) in [(3, 3), (1, 1), (2, 5), (5, 5), (4, 6)] {
        let orbits = Orbits::of_user::<Flip>(i, o).unwrap();
        let fixed = (i % 2) * (o % 2);
        assert_eq!(orbits.count(), (i * o + fixed) / 2, "{i}×{o}");
        let action = Action::of_user::<Flip>(i, o).unwrap();
        assert_eq!(action.burnside(CAP), Some(orbits.count()));
        let labels: Vec<_> = (0..i * o).map(|x| orbits.index(x / o, x % o)).collect();
        assert_eq!(closure_labels(&action), labels);
    }
}

#[test]
fn no_generators_is_the_trivial_group() {
    let orbits = Orbits::of_generators("trivial", 2, 3, &[]).unwrap();
    assert_eq!((orbits.count(), orbits.bias_count()), (6, 3));
    for p in 0..2 {
        for q in 0..3 {
            assert_eq!(orbits.index(p, q), p * 3 + q);
        }
    }
    assert_eq!(orbits.bias_index(2), 2);
    let action = Action::new("trivial", 2, 3, Vec::new()).unwrap();
    assert_eq!(
        action.elements(CAP),
        Some(std::vec![Generator::identity(2, 3)])
    );
    assert_eq!(action.burnside(CAP), Some(6));
    // The identity listed as a generator changes nothing.
    let again = Orbits::of_generators("id", 2, 3, &[Generator::identity(2, 3)]).unwrap();
    assert_eq!(again.count(), 6);
}

#[test]
fn channels_are_channel_major_and_each_pair_its_own_block() {
    // cyclic(3), 2 input and 2 output channels: W is 6×6, 2·2·3 = 12 stored values.
    let orbits = Group::cyclic(3).orbits().unwrap();
    assert_eq!(orbits.stored_len(2, 2), Some(12));
    // i = 4 = 1·3 + 1, j = 2 = 0·3 + 2: (1·2 + 0)·3 + (2 − 1).
    assert_eq!(orbits.weight_index(2, 2, 4, 2), Some(7));
    for i in 0..6 {
        for j in 0..6 {
            let (ci, p, co, q) = (i / 3, i % 3, j / 3, j % 3);
            let want = (ci * 2 + co) * 3 + orbits.index(p, q);
            assert_eq!(orbits.weight_index(2, 2, i, j), Some(want));
        }
    }
    assert_eq!(orbits.weight_index(2, 2, 6, 0), None);
    assert_eq!(orbits.weight_index(2, 2, 0, 6), None);
    assert_eq!(orbits.stored_len(usize::MAX, 2), None);
    // Every stored value used, each by as many entries as its orbit has pairs (3).
    let mut uses = [0; 12];
    for i in 0..6 {
        for j in 0..6 {
            uses[orbits.weight_index(2, 2, i, j).unwrap()] += 1;
        }
    }
    assert_eq!(uses, [3; 12]);
    // The bias: one value per output channel for a transitive group.
    assert_eq!(orbits.bias_stored_len(4), Some(4));
    assert_eq!(
        (0..6)
            .map(|j| orbits.bias_weight_index(2, j).unwrap())
            .collect::<Vec<_>>(),
        [0, 0, 0, 1, 1, 1]
    );
    assert_eq!(orbits.bias_weight_index(2, 6), None);
    // A bias of 2 orbits (the flip on 4 outputs), 2 output channels: j = 6 = 1·4 + 2, 1·2 + 1.
    let flip = Orbits::of_user::<Flip>(3, 4).unwrap();
    assert_eq!(flip.bias_stored_len(2), Some(4));
    assert_eq!(flip.bias_weight_index(2, 6), Some(3));
    assert_eq!(flip.stored_len(3, 2), Some(36));
    assert_eq!(
        flip.weight_index(3, 2, 2 * 3 + 1, 4 + 2),
        Some((2 * 2 + 1) * 6 + 5)
    );
}

#[test]
#[should_panic(expected = "position pair (3, 0) outside the 3×3 positions")]
fn index_outside_panics() {
    let _ = Group::cyclic(3).orbits().unwrap().index(3, 0);
}

/// A group whose generators are wrong.
struct Broken;

impl RuntimeGroup for Broken {
    const NAME: &'static str = "broken";
    fn generators(inputs: usize, outputs: usize) -> Vec<Generator> {
        std::vec![
            Generator::identity(inputs, outputs),
            Generator::new((0..inputs).collect(), std::vec![0; outputs]),
        ]
    }
}

#[test]
fn errors_say_which_generator_which_side_and_why() {
    let say = |e: GroupError| format!("{e}");
    let shift = std::vec![1, 2, 3, 0];
    let e = Orbits::of_generators("g", 4, 3, &[Generator::new(shift.clone(), std::vec![0, 1])])
        .unwrap_err();
    assert_eq!(
        e,
        GroupError::WrongLength {
            group: "g",
            generator: 0,
            side: Side::Outputs,
            got: 2,
            expected: 3
        }
    );
    assert_eq!(
        say(e),
        "group `g`: generators[0].outputs has 2 entries, but the layer has 3 output positions (a \
         generator permutes them all)"
    );
    let ok = Generator::identity(4, 3);
    let e = Orbits::of_generators(
        "g",
        4,
        3,
        &[
            ok.clone(),
            Generator::new(std::vec![0, 2, 2, 5], std::vec![0, 1, 2]),
        ],
    )
    .unwrap_err();
    assert_eq!(
        say(e),
        "group `g`: generators[1].inputs is not a permutation: position 2 appears twice, at 1 and \
         2"
    );
    assert_eq!(e.group(), "g");
    let e = Orbits::of_generators(
        "g",
        4,
        3,
        &[
            ok.clone(),
            ok,
            Generator::new(std::vec![0, 5, 1, 1], std::vec![0, 1, 2]),
        ],
    )
    .unwrap_err();
    assert_eq!(
        e,
        GroupError::OutOfRange {
            group: "g",
            generator: 2,
            side: Side::Inputs,
            value: 5,
            at: 1,
            len: 4
        }
    );
    assert_eq!(
        say(e),
        "group `g`: generators[2].inputs is not a permutation: it sends 1 to 5, but there are \
         only 4 input positions (0..4)"
    );
    assert_eq!(
        say(Orbits::of_user::<Broken>(2, 3).unwrap_err()),
        "group `broken`: generators[1].outputs is not a permutation: position 0 appears twice, \
         at 0 and 1"
    );
    assert_eq!(
        Action::of_user::<Broken>(2, 3).unwrap_err(),
        Orbits::of_user::<Broken>(2, 3).unwrap_err()
    );
    assert_eq!(
        say(Group::cyclic(0).orbits().unwrap_err()),
        "group `cyclic` on 0 input and 0 output positions: a group acts on at least one position \
         on each side"
    );
    assert_eq!(
        Orbits::of_user::<Flip>(2, 0).unwrap_err(),
        GroupError::NoPositions {
            group: "flip",
            inputs: 2,
            outputs: 0
        }
    );
    // 2²⁰·2¹³ = 2³³ pairs: refused before any table (or generator) is made.
    let e = Orbits::of_user::<Flip>(1 << 20, 1 << 13).unwrap_err();
    assert_eq!(
        say(e),
        "group `flip` on 1048576 input and 8192 output positions: 1048576·8192 position pairs \
         are more than an orbit table indexes (4294967296)"
    );
    assert!(matches!(
        Group::p4m(1 << 9).orbits(),
        Err(GroupError::TooLarge { .. })
    ));
    assert!(matches!(
        Group::cyclic2d(usize::MAX, 2).action(),
        Err(GroupError::TooLarge {
            inputs: usize::MAX,
            ..
        })
    ));
    assert!(Group::set_invariant(0).action().is_err());
    // 2¹⁶ on each side is 2³² pairs exactly: allowed (checked without building the table).
    assert_eq!(pairs("edge", 1 << 16, 1 << 16), Ok(1 << 32));
}

#[test]
fn elements_stop_at_the_cap() {
    let action = Group::set(6).action().unwrap();
    assert_eq!(action.elements(719), None);
    assert_eq!(action.elements(720).map(|e| e.len()), Some(720));
    assert_eq!(action.burnside(100), None);
    assert_eq!(action.elements(0), None);
}
