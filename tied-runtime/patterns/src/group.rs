//! Symmetry-group ties: the weight of a layer that commutes with a group acting on its positions,
//! stored one value per orbit.
//!
//! The math and the stored layout are on [`Orbits`] (this module is private, its items
//! re-exported at the crate's root).

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

#[cfg(test)]
mod tests;

/// The most position pairs an orbit table indexes, `2³²` (its entries are `u32`): a 256×256
/// image on each side. [`Orbits`] refuses more with [`GroupError::TooLarge`], for the built-ins
/// too, whose weight `W` would have at least this many entries.
pub const MAX_PAIRS: u64 = 1 << 32;

/// One element of a group's action (a generator, or any element): the permutation `inputs` of the
/// `n_in` input positions and the permutation `outputs` of the `n_out` output positions, applied
/// together. Position `p` goes to `inputs[p]`, position `q` to `outputs[q]`.
///
/// A group acting the same way on both sides of a square layer has `inputs == outputs`
/// ([`Generator::both`]); an invariant readout (one output position) has `outputs == [0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Generator {
    /// `g_in`: input position `p` goes to `inputs[p]`; a permutation of `0..n_in`.
    pub inputs: Vec<usize>,
    /// `g_out`: output position `q` goes to `outputs[q]`; a permutation of `0..n_out`.
    pub outputs: Vec<usize>,
}

impl Generator {
    /// The element `(inputs, outputs)`.
    pub fn new(inputs: Vec<usize>, outputs: Vec<usize>) -> Self {
        Generator { inputs, outputs }
    }

    /// The same permutation on the inputs and the outputs (`n_in = n_out`).
    pub fn both(permutation: Vec<usize>) -> Self {
        Generator {
            inputs: permutation.clone(),
            outputs: permutation,
        }
    }

    /// The identity on `inputs` input and `outputs` output positions.
    pub fn identity(inputs: usize, outputs: usize) -> Self {
        Generator {
            inputs: (0..inputs).collect(),
            outputs: (0..outputs).collect(),
        }
    }

    /// `self ∘ first`: `first`, then `self` (`x ↦ self(first(x))` on each side). Both must be
    /// permutations of the same sizes (an [`Action`]'s are checked).
    fn after(&self, first: &Generator) -> Generator {
        Generator {
            inputs: first.inputs.iter().map(|&x| self.inputs[x]).collect(),
            outputs: first.outputs.iter().map(|&x| self.outputs[x]).collect(),
        }
    }
}

/// A symmetry group of your own, written once, framework-free: its name and its generators as
/// permutations of a layer's positions, as functions of the numbers of positions (not channels:
/// those are free, see [`Orbits`]).
///
/// The generators are checked when the layer is built ([`Orbits::of_user`]): each must permute
/// `0..inputs` and `0..outputs`, or the build fails with a [`GroupError`] naming it. No
/// generators at all is the trivial group: every position pair its own orbit (a dense weight per
/// channel pair). The group is the one the generators generate: listing more elements than
/// needed only costs time.
///
/// A reflection of a line, on both sides:
///
/// ```
/// use tied_patterns::{Generator, Orbits, RuntimeGroup};
///
/// struct Flip;
///
/// impl RuntimeGroup for Flip {
///     const NAME: &'static str = "flip";
///     fn generators(inputs: usize, outputs: usize) -> Vec<Generator> {
///         vec![Generator::new(
///             (0..inputs).rev().collect(),
///             (0..outputs).rev().collect(),
///         )]
///     }
/// }
///
/// // (p, q) ~ (2 − p, 3 − q): 12 pairs, none fixed, 6 orbits.
/// let orbits = Orbits::of_user::<Flip>(3, 4).unwrap();
/// assert_eq!(orbits.count(), 6);
/// assert_eq!(orbits.index(0, 1), orbits.index(2, 2));
/// // The bias: q ~ 3 − q, 2 orbits.
/// assert_eq!(orbits.bias_count(), 2);
/// ```
pub trait RuntimeGroup {
    /// The group's name in messages.
    const NAME: &'static str;

    /// The generators on a layer with `inputs` input positions and `outputs` output positions:
    /// each a permutation of `0..inputs` and one of `0..outputs` ([`Generator`]).
    fn generators(inputs: usize, outputs: usize) -> Vec<Generator>;
}

/// A side of the layer: its input positions or its output positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The input positions, [`Generator::inputs`].
    Inputs,
    /// The output positions, [`Generator::outputs`].
    Outputs,
}

impl Side {
    /// `"input"` or `"output"`.
    pub const fn adjective(self) -> &'static str {
        match self {
            Side::Inputs => "input",
            Side::Outputs => "output",
        }
    }
}

impl fmt::Display for Side {
    /// `inputs` or `outputs`, the [`Generator`] field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Inputs => "inputs",
            Side::Outputs => "outputs",
        })
    }
}

/// Why a group's action cannot tie a layer: the first problem found, sizes first, then the
/// generators in order, each's inputs before its outputs, each permutation position by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupError {
    /// No input or no output positions: no position pair, nothing to store.
    NoPositions {
        /// The group's name.
        group: &'static str,
        /// The input positions.
        inputs: usize,
        /// The output positions.
        outputs: usize,
    },
    /// More than [`MAX_PAIRS`] position pairs (a built-in's positions saturate at `usize::MAX`
    /// where they overflow).
    TooLarge {
        /// The group's name.
        group: &'static str,
        /// The input positions.
        inputs: usize,
        /// The output positions.
        outputs: usize,
    },
    /// A generator's permutation of one side has the wrong length.
    WrongLength {
        /// The group's name.
        group: &'static str,
        /// Which generator, its index in the list.
        generator: usize,
        /// Which side.
        side: Side,
        /// Its length.
        got: usize,
        /// The side's positions.
        expected: usize,
    },
    /// A generator's permutation of one side sends two positions to the same one.
    Repeated {
        /// The group's name.
        group: &'static str,
        /// Which generator, its index in the list.
        generator: usize,
        /// Which side.
        side: Side,
        /// The position that appears twice.
        value: usize,
        /// Where it appears first.
        first: usize,
        /// Where it appears again.
        second: usize,
    },
    /// A generator's permutation of one side sends a position past the side's positions.
    OutOfRange {
        /// The group's name.
        group: &'static str,
        /// Which generator, its index in the list.
        generator: usize,
        /// Which side.
        side: Side,
        /// The position it is sent to.
        value: usize,
        /// The position sent there.
        at: usize,
        /// The side's positions.
        len: usize,
    },
}

impl GroupError {
    /// The group's name.
    pub fn group(&self) -> &'static str {
        match *self {
            GroupError::NoPositions { group, .. }
            | GroupError::TooLarge { group, .. }
            | GroupError::WrongLength { group, .. }
            | GroupError::Repeated { group, .. }
            | GroupError::OutOfRange { group, .. } => group,
        }
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GroupError::NoPositions {
                group,
                inputs,
                outputs,
            } => write!(
                f,
                "group `{group}` on {inputs} input and {outputs} output positions: a group \
                 acts on at least one position on each side"
            ),
            GroupError::TooLarge {
                group,
                inputs,
                outputs,
            } => write!(
                f,
                "group `{group}` on {inputs} input and {outputs} output positions: {inputs}·\
                 {outputs} position pairs are more than an orbit table indexes ({MAX_PAIRS})"
            ),
            GroupError::WrongLength {
                group,
                generator,
                side,
                got,
                expected,
            } => write!(
                f,
                "group `{group}`: generators[{generator}].{side} has {got} entries, but the layer \
                 has {expected} {} positions (a generator permutes them all)",
                side.adjective()
            ),
            GroupError::Repeated {
                group,
                generator,
                side,
                value,
                first,
                second,
            } => write!(
                f,
                "group `{group}`: generators[{generator}].{side} is not a permutation: position \
                 {value} appears twice, at {first} and {second}"
            ),
            GroupError::OutOfRange {
                group,
                generator,
                side,
                value,
                at,
                len,
            } => write!(
                f,
                "group `{group}`: generators[{generator}].{side} is not a permutation: it sends \
                 {at} to {value}, but there are only {len} {} positions (0..{len})",
                side.adjective()
            ),
        }
    }
}

impl core::error::Error for GroupError {}

/// The number of position pairs, or why there is none or too many.
fn pairs(group: &'static str, inputs: usize, outputs: usize) -> Result<usize, GroupError> {
    if inputs == 0 || outputs == 0 {
        return Err(GroupError::NoPositions {
            group,
            inputs,
            outputs,
        });
    }
    match inputs.checked_mul(outputs) {
        Some(pairs) if pairs as u64 <= MAX_PAIRS => Ok(pairs),
        _ => Err(GroupError::TooLarge {
            group,
            inputs,
            outputs,
        }),
    }
}

/// Checks that each generator permutes `0..inputs` and `0..outputs` (the sizes checked already).
fn check_generators(
    group: &'static str,
    inputs: usize,
    outputs: usize,
    generators: &[Generator],
) -> Result<(), GroupError> {
    // `seen[v]`: where `v` appeared in the permutation being checked, tagged with its number so
    // that the buffer is reused without clearing.
    let mut seen: Vec<(usize, usize)> = vec![(usize::MAX, 0); inputs.max(outputs)];
    let mut tag = 0;
    for (generator, g) in generators.iter().enumerate() {
        for (side, permutation, len) in [
            (Side::Inputs, &g.inputs, inputs),
            (Side::Outputs, &g.outputs, outputs),
        ] {
            if permutation.len() != len {
                return Err(GroupError::WrongLength {
                    group,
                    generator,
                    side,
                    got: permutation.len(),
                    expected: len,
                });
            }
            for (at, &value) in permutation.iter().enumerate() {
                if value >= len {
                    return Err(GroupError::OutOfRange {
                        group,
                        generator,
                        side,
                        value,
                        at,
                        len,
                    });
                }
                let (seen_tag, first) = seen[value];
                if seen_tag == tag {
                    return Err(GroupError::Repeated {
                        group,
                        generator,
                        side,
                        value,
                        first,
                        second: at,
                    });
                }
                seen[value] = (tag, at);
            }
            tag += 1;
        }
    }
    Ok(())
}

/// A union-find over `0..len` (`len ≤ 2³²`) whose roots are the least element of their class:
/// `parent[x] ≤ x` always.
struct Forest {
    parent: Vec<u32>,
}

impl Forest {
    fn new(len: usize) -> Self {
        Forest {
            parent: (0..len).map(|x| x as u32).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        loop {
            let up = self.parent[x] as usize;
            if up == x {
                return x;
            }
            // Path halving: `x` skips to its grandparent (still ≤ it).
            let grand = self.parent[up];
            self.parent[x] = grand;
            x = grand as usize;
        }
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a < b {
            self.parent[b] = a as u32;
        } else if b < a {
            self.parent[a] = b as u32;
        }
    }

    /// Each element's class, numbered by first occurrence in `0..len`, and the number of classes.
    fn labels(mut self) -> (Vec<u32>, usize) {
        let mut count = 0;
        for x in 0..self.parent.len() {
            let up = self.parent[x] as usize;
            // `up < x` was labelled already (with its root's label): take it; a root is new.
            self.parent[x] = if up == x {
                count += 1;
                (count - 1) as u32
            } else {
                self.parent[up]
            };
        }
        (self.parent, count)
    }
}

/// The orbits of a group's action on the position pairs `(p, q)` of a layer with `n_in` input and
/// `n_out` output positions, and on its output positions alone (for the bias): which stored value
/// each entry of the weight and of the bias is. The math and the stored layout with channels
/// follow.
///
/// Made by [`Group::orbits`] (the built-ins, from their structure), [`Action::orbits`],
/// [`Orbits::of_generators`] and [`Orbits::of_user`] (a union-find over the pairs). The orbits are
/// numbered by first occurrence in row-major order of `(p, q)`, the output positions' by first
/// occurrence of `q`, whichever way they were computed.
///
/// # The math
///
/// A layer `y = x·W` has `n_in` input positions and `n_out` output positions (the pixels of an
/// image, the elements of a set, the points of a cycle). A group `G` acts on both sides: each
/// element `g` is a pair of permutations `(g_in, g_out)`, `g_in` of the input positions and `g_out`
/// of the output positions. Moving the input by `g` (`(g·x)[g_in(p)] = x[p]`) moves the output by
/// `g` for every `x` exactly when
///
/// ```text
/// W[g_in(p), g_out(q)] = W[p, q]   for every g in G and every position pair (p, q),
/// ```
///
/// so `W` is constant on each *orbit* `G·(p, q) = {(g_in(p), g_out(q)) : g ∈ G}` of the position
/// pairs, and the orbits are its free values. A bias `b` (a row added to `y`) commutes with `G`
/// exactly when `b[g_out(q)] = b[q]`: one value per orbit of the output positions.
///
/// The orbits of the group are those of its generators: the classes of the smallest equivalence
/// relation with `(p, q) ~ (s_in(p), s_out(q))` for every generator `s` (a finite permutation's
/// inverse is one of its powers). [`Orbits`] computes them once, when a layer is built: a
/// union-find over the `n_in·n_out` pairs for a group given by its generators ([`Action`], a
/// [`RuntimeGroup`] of the user's), and, for the built-in [`Group`]s, the arithmetic of their
/// structure (no table of the pairs). Either way the orbits are numbered canonically, by first
/// occurrence with the pairs in row-major order (`(0, 0), (0, 1), …, (1, 0), …`), so the same
/// partition always has the same numbers.
///
/// # Channels and the stored layout
///
/// Channels are free: with `c_in` input channels and `c_out` output channels, `W` is
/// `(c_in·n_in)×(c_out·n_out)`, its rows `i = ci·n_in + p` and columns `j = co·n_out + q`
/// (channel-major, like a `C×H×W` image flattened), and each channel pair `(ci, co)` has its own
/// values on the orbits: `c_in·c_out·count` values in all, stored as a row-major
/// `[c_in, c_out, count]` tensor,
///
/// ```text
/// W[ci·n_in + p, co·n_out + q] = V[ci, co, orbit(p, q)] = v[(ci·c_out + co)·count + orbit(p, q)],
/// b[co·n_out + q] = B[co, bias_orbit(q)] = b_stored[co·bias_count + bias_orbit(q)].
/// ```
///
/// Why this order: it is `W`'s own order (input channels outermost, as `W`'s rows are its inputs),
/// one contiguous block of `count` values per channel pair, which is a convolution kernel for the
/// translation groups: for [`Group::Cyclic2d`] the orbit of `(p, q)` is the offset `q − p`
/// numbered `dr·w + dc`, so `V` is a `[c_in, c_out, h, w]` kernel `K` with
/// `y[co, q] = Σ_ci Σ_p x[ci, p]·K[ci, co, q − p]`, a circular convolution (PyTorch's `Conv2d`
/// stores `[c_out, c_in, kh, kw]` and correlates: its kernel is this one with the two channel axes
/// swapped and the offsets negated). With one channel on each side it is the orbit vector itself:
/// [`Group::Cyclic`] then stores exactly the `circulant` pattern's `v`.
#[derive(Debug, Clone)]
pub struct Orbits {
    inputs: usize,
    outputs: usize,
    count: usize,
    bias_count: usize,
    kind: Kind,
}

/// How [`Orbits`] finds the orbit of a pair.
#[derive(Debug, Clone)]
enum Kind {
    /// Every pair in one orbit, every output position too (a readout invariant under a
    /// transitive group).
    Whole,
    /// `p == q` or not, on a square layer (the symmetric group): orbit 0 and 1 (only 0 where
    /// `n = 1`); the output positions one orbit.
    Diagonal,
    /// Positions on an `h`×`w` torus, `p = r·w + c`, with all its translations in the group
    /// (acting alike on both sides): the orbit of `(p, q)` is that of its offset `q − p`,
    /// `dr·w + dc`, under the group's point group (`classes[offset]`, or the offset itself where
    /// the group is the translations alone); the output positions one orbit.
    Torus {
        h: usize,
        w: usize,
        classes: Option<Vec<u32>>,
    },
    /// Any action: the orbit of each pair, row-major, and of each output position.
    Table { pairs: Vec<u32>, bias: Vec<u32> },
}

/// `(b − a) mod n` for `a, b < n`.
fn wrap_sub(b: usize, a: usize, n: usize) -> usize {
    if b >= a {
        b - a
    } else {
        n - (a - b)
    }
}

/// `(−a) mod n` for `a < n`.
fn negate(a: usize, n: usize) -> usize {
    wrap_sub(0, a, n)
}

/// The offset classes of an `h`×`w` torus under the point maps `maps` (each `(dr, dc) ↦ (dr',
/// dc')`): a union-find over the `h·w` offsets, numbered by first occurrence of `dr·w + dc`.
fn offset_classes(
    h: usize,
    w: usize,
    maps: &[&dyn Fn(usize, usize) -> (usize, usize)],
) -> (Vec<u32>, usize) {
    let mut forest = Forest::new(h * w);
    for dr in 0..h {
        for dc in 0..w {
            for map in maps {
                let (r, c) = map(dr, dc);
                forest.union(dr * w + dc, r * w + c);
            }
        }
    }
    forest.labels()
}

impl Orbits {
    /// The orbits of the group generated by `generators` on `inputs` input and `outputs` output
    /// positions: a union-find over the `inputs·outputs` pairs, joining `(p, q)` and
    /// `(s_in(p), s_out(q))` for each generator `s`. No generators is the trivial group: every
    /// pair its own orbit, `orbit(p, q) = p·outputs + q`.
    ///
    /// `group` names the group in errors. Fails where a side has no positions, where there are
    /// more than [`MAX_PAIRS`] pairs, or where a generator is not a permutation of the right
    /// length ([`GroupError`]).
    pub fn of_generators(
        group: &'static str,
        inputs: usize,
        outputs: usize,
        generators: &[Generator],
    ) -> Result<Orbits, GroupError> {
        pairs(group, inputs, outputs)?;
        check_generators(group, inputs, outputs, generators)?;
        Ok(Orbits::by_union_find(inputs, outputs, generators))
    }

    /// The orbits of the user's group `G` ([`RuntimeGroup`]) on `inputs` input and `outputs`
    /// output positions: [`Orbits::of_generators`] with `G::NAME` and `G::generators`, which is
    /// only called once the sizes are checked.
    pub fn of_user<G: RuntimeGroup>(inputs: usize, outputs: usize) -> Result<Orbits, GroupError> {
        pairs(G::NAME, inputs, outputs)?;
        Orbits::of_generators(G::NAME, inputs, outputs, &G::generators(inputs, outputs))
    }

    /// The union-find, the sizes and generators checked.
    fn by_union_find(inputs: usize, outputs: usize, generators: &[Generator]) -> Orbits {
        let mut forest = Forest::new(inputs * outputs);
        let mut bias = Forest::new(outputs);
        for g in generators {
            for p in 0..inputs {
                let (row, image) = (p * outputs, g.inputs[p] * outputs);
                for q in 0..outputs {
                    forest.union(row + q, image + g.outputs[q]);
                }
            }
            for q in 0..outputs {
                bias.union(q, g.outputs[q]);
            }
        }
        let (pairs, count) = forest.labels();
        let (bias, bias_count) = bias.labels();
        Orbits {
            inputs,
            outputs,
            count,
            bias_count,
            kind: Kind::Table { pairs, bias },
        }
    }

    /// `n_in`: the input positions.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// `n_out`: the output positions.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// How many orbits the position pairs form: the values stored per channel pair.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The orbit of the position pair `(p, q)`, in `0..count()`, or `None` outside the positions
    /// (`p ≥ n_in` or `q ≥ n_out`).
    #[inline]
    pub fn get(&self, p: usize, q: usize) -> Option<usize> {
        if p >= self.inputs || q >= self.outputs {
            return None;
        }
        Some(match &self.kind {
            Kind::Whole => 0,
            Kind::Diagonal => usize::from(p != q),
            Kind::Torus { h, w, classes } => {
                let (h, w) = (*h, *w);
                let offset = wrap_sub(q / w, p / w, h) * w + wrap_sub(q % w, p % w, w);
                match classes {
                    Some(classes) => classes[offset] as usize,
                    None => offset,
                }
            }
            Kind::Table { pairs, .. } => pairs[p * self.outputs + q] as usize,
        })
    }

    /// The orbit of the position pair `(p, q)`, in `0..count()`: the stored value of
    /// `W[p, q]` with one channel on each side.
    ///
    /// # Panics
    ///
    /// Where `p ≥ n_in` or `q ≥ n_out`, as a slice index out of bounds does ([`Orbits::get`]
    /// is the check).
    #[inline]
    #[track_caller]
    pub fn index(&self, p: usize, q: usize) -> usize {
        match self.get(p, q) {
            Some(orbit) => orbit,
            None => panic!(
                "position pair ({p}, {q}) outside the {}×{} positions",
                self.inputs, self.outputs
            ),
        }
    }

    /// How many orbits the output positions form: the bias values stored per output channel
    /// (1 for a group transitive on its outputs, such as every built-in).
    pub fn bias_count(&self) -> usize {
        self.bias_count
    }

    /// The orbit of output position `q`, in `0..bias_count()`, or `None` for `q ≥ n_out`.
    #[inline]
    pub fn bias_get(&self, q: usize) -> Option<usize> {
        if q >= self.outputs {
            return None;
        }
        Some(match &self.kind {
            Kind::Table { bias, .. } => bias[q] as usize,
            Kind::Whole | Kind::Diagonal | Kind::Torus { .. } => 0,
        })
    }

    /// The orbit of output position `q`, in `0..bias_count()`: the stored value of `b[q]` with
    /// one output channel.
    ///
    /// # Panics
    ///
    /// Where `q ≥ n_out` ([`Orbits::bias_get`] is the check).
    #[inline]
    #[track_caller]
    pub fn bias_index(&self, q: usize) -> usize {
        match self.bias_get(q) {
            Some(orbit) => orbit,
            None => panic!("output position {q} outside the {} positions", self.outputs),
        }
    }

    /// How many values the `(c_in·n_in)×(c_out·n_out)` weight stores, `c_in·c_out·count()`, or
    /// `None` where that overflows `usize`.
    pub fn stored_len(&self, c_in: usize, c_out: usize) -> Option<usize> {
        c_in.checked_mul(c_out)?.checked_mul(self.count)
    }

    /// The stored value of `W[i, j]` in the `(c_in·n_in)×(c_out·n_out)` weight: with
    /// `i = ci·n_in + p` and `j = co·n_out + q`, `(ci·c_out + co)·count() + orbit(p, q)` (the
    /// layout of [`Orbits`]); `None` outside the weight.
    #[inline]
    pub fn weight_index(&self, c_in: usize, c_out: usize, i: usize, j: usize) -> Option<usize> {
        let (ci, p) = (i / self.inputs, i % self.inputs);
        let (co, q) = (j / self.outputs, j % self.outputs);
        if ci >= c_in || co >= c_out {
            return None;
        }
        ci.checked_mul(c_out)?
            .checked_add(co)?
            .checked_mul(self.count)?
            .checked_add(self.get(p, q)?)
    }

    /// How many values the bias of `c_out·n_out` outputs stores, `c_out·bias_count()`, or `None`
    /// where that overflows `usize`.
    pub fn bias_stored_len(&self, c_out: usize) -> Option<usize> {
        c_out.checked_mul(self.bias_count)
    }

    /// The stored value of `b[j]` in the bias of `c_out·n_out` outputs: with `j = co·n_out + q`,
    /// `co·bias_count() + bias_orbit(q)`; `None` outside the bias.
    #[inline]
    pub fn bias_weight_index(&self, c_out: usize, j: usize) -> Option<usize> {
        let (co, q) = (j / self.outputs, j % self.outputs);
        if co >= c_out {
            return None;
        }
        co.checked_mul(self.bias_count)?
            .checked_add(self.bias_get(q)?)
    }
}

/// A group's action on a layer's positions, checked: `inputs` input and `outputs` output
/// positions (at least one each, at most [`MAX_PAIRS`] pairs) and generators that permute them.
///
/// What [`Orbits`] are computed from by union-find, and what tests enumerate the group from
/// ([`Action::elements`], [`Action::burnside`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    group: &'static str,
    inputs: usize,
    outputs: usize,
    generators: Vec<Generator>,
}

impl Action {
    /// The action of the group `group` (its name, for errors) generated by `generators` on
    /// `inputs` input and `outputs` output positions, checked as [`Orbits::of_generators`] does.
    pub fn new(
        group: &'static str,
        inputs: usize,
        outputs: usize,
        generators: Vec<Generator>,
    ) -> Result<Action, GroupError> {
        pairs(group, inputs, outputs)?;
        check_generators(group, inputs, outputs, &generators)?;
        Ok(Action {
            group,
            inputs,
            outputs,
            generators,
        })
    }

    /// The action of the user's group `G` on `inputs` input and `outputs` output positions
    /// (`G::generators` called once the sizes are checked).
    pub fn of_user<G: RuntimeGroup>(inputs: usize, outputs: usize) -> Result<Action, GroupError> {
        pairs(G::NAME, inputs, outputs)?;
        Action::new(G::NAME, inputs, outputs, G::generators(inputs, outputs))
    }

    /// The group's name.
    pub fn group(&self) -> &'static str {
        self.group
    }

    /// `n_in`: the input positions.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// `n_out`: the output positions.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The generators.
    pub fn generators(&self) -> &[Generator] {
        &self.generators
    }

    /// The orbits, by union-find over the position pairs ([`Orbits::of_generators`]).
    pub fn orbits(&self) -> Orbits {
        Orbits::by_union_find(self.inputs, self.outputs, &self.generators)
    }

    /// Every element of the group, the identity first: the closure of the generators under
    /// composition (a breadth-first search over products of generators, which reaches the whole
    /// of a finite group). `None` where there are more than `cap` elements (`cap` bounds the
    /// work: `|G|·(generators)` compositions of `n_in + n_out` entries).
    pub fn elements(&self, cap: usize) -> Option<Vec<Generator>> {
        if cap == 0 {
            return None;
        }
        let identity = Generator::identity(self.inputs, self.outputs);
        let mut seen = BTreeSet::new();
        seen.insert(identity.clone());
        let mut all = vec![identity];
        let mut next = 0;
        while next < all.len() {
            for s in &self.generators {
                let product = s.after(&all[next]);
                if !seen.contains(&product) {
                    if all.len() == cap {
                        return None;
                    }
                    seen.insert(product.clone());
                    all.push(product);
                }
            }
            next += 1;
        }
        Some(all)
    }

    /// The number of orbits of the position pairs by Burnside's lemma,
    /// `(1/|G|)·Σ_g fix(g_in)·fix(g_out)` (a pair is fixed by `g` when both its positions are),
    /// over [`Action::elements`]; `None` where the group has more than `cap` elements. An
    /// independent check of [`Orbits::count`].
    pub fn burnside(&self, cap: usize) -> Option<usize> {
        let elements = self.elements(cap)?;
        let fixed = |permutation: &[usize]| {
            permutation
                .iter()
                .enumerate()
                .filter(|&(x, &image)| x == image)
                .count()
        };
        let sum: usize = elements
            .iter()
            .map(|g| fixed(&g.inputs) * fixed(&g.outputs))
            .sum();
        Some(sum / elements.len())
    }
}

/// The built-in symmetry groups, each acting on its layer's positions (`n_in`, `n_out`) with
/// known structure, so that [`Group::orbits`] needs no table of the pairs.
///
/// Positions on a grid are row-major: `p = r·w + c`. Every group but the invariant
/// [`Group::Set`] acts alike on inputs and outputs (`n_in = n_out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// `cyclic(n)`: the shifts `p ↦ p + 1 (mod n)` of a length-`n` sequence (a cycle). The orbit
    /// of `(p, q)` is the offset `(q − p) mod n`: `n` orbits, exactly the `circulant` pattern,
    /// `W[i, j] = v[(j − i) mod n]`.
    Cyclic {
        /// The sequence's length, `n_in = n_out = n`.
        n: usize,
    },
    /// `cyclic2d(h, w)`: the shifts of an `h`×`w` torus (rows and columns wrapping), a circular
    /// 2-D convolution with an `h`×`w` kernel. The orbit of `(p, q)` is the offset `q − p`,
    /// numbered `dr·w + dc` with `dr = (r_q − r_p) mod h`, `dc = (c_q − c_p) mod w`: `h·w` orbits.
    Cyclic2d {
        /// Rows of the torus.
        h: usize,
        /// Columns of the torus; `n_in = n_out = h·w`.
        w: usize,
    },
    /// `dihedral(n)`: the shifts and reflections `p ↦ −p (mod n)` of a cycle (order `2n` from
    /// `n = 3`). The orbit of `(p, q)` is that of the offset `d = (q − p) mod n` under
    /// `d ↦ −d`, numbered `min(d, n − d)`: `⌊n/2⌋ + 1` orbits.
    Dihedral {
        /// The cycle's length, `n_in = n_out = n`.
        n: usize,
    },
    /// `p4m(n)`: the shifts, quarter turns `(r, c) ↦ (c, −r)` and reflections `(r, c) ↦ (r, −c)`
    /// of an `n`×`n` torus (order `8n²` from `n = 3`). The orbit of `(p, q)` is that of its
    /// offset `(dr, dc)` under the 8 turns and reflections of the square, numbered by first
    /// occurrence of `dr·n + dc`.
    P4m {
        /// The torus's side, `n_in = n_out = n²`.
        n: usize,
    },
    /// `set(n)`: every permutation of `n` elements (DeepSets; generated by the transposition
    /// `(0 1)` and the cycle `p ↦ p + 1 (mod n)`). Orbit 0 is the diagonal `p = q`, orbit 1 the
    /// rest: `W = a·I + b·(11ᵀ − I)`, 2 orbits (1 for `n = 1`). With `invariant`, the output is one
    /// position that every permutation fixes (a sum-like readout, `n_out = 1`): 1 orbit,
    /// `W = b·1`.
    Set {
        /// The set's size, `n_in`.
        n: usize,
        /// One output position (`n_out = 1`) instead of `n`.
        invariant: bool,
    },
}

impl Group {
    /// [`Group::Cyclic`].
    pub const fn cyclic(n: usize) -> Group {
        Group::Cyclic { n }
    }

    /// [`Group::Cyclic2d`].
    pub const fn cyclic2d(h: usize, w: usize) -> Group {
        Group::Cyclic2d { h, w }
    }

    /// [`Group::Dihedral`].
    pub const fn dihedral(n: usize) -> Group {
        Group::Dihedral { n }
    }

    /// [`Group::P4m`].
    pub const fn p4m(n: usize) -> Group {
        Group::P4m { n }
    }

    /// [`Group::Set`] on `n` inputs and `n` outputs (equivariant).
    pub const fn set(n: usize) -> Group {
        Group::Set {
            n,
            invariant: false,
        }
    }

    /// [`Group::Set`] on `n` inputs and one output (invariant).
    pub const fn set_invariant(n: usize) -> Group {
        Group::Set { n, invariant: true }
    }

    /// The group's key: `cyclic`, `cyclic2d`, `dihedral`, `p4m` or `set` (its name in errors;
    /// `Display` adds the sizes).
    pub const fn key(&self) -> &'static str {
        match self {
            Group::Cyclic { .. } => "cyclic",
            Group::Cyclic2d { .. } => "cyclic2d",
            Group::Dihedral { .. } => "dihedral",
            Group::P4m { .. } => "p4m",
            Group::Set { .. } => "set",
        }
    }

    /// `n_in`: the input positions it acts on (saturating at `usize::MAX`, which
    /// [`Group::orbits`] refuses).
    pub const fn positions_in(&self) -> usize {
        match *self {
            Group::Cyclic { n } | Group::Dihedral { n } | Group::Set { n, .. } => n,
            Group::Cyclic2d { h, w } => h.saturating_mul(w),
            Group::P4m { n } => n.saturating_mul(n),
        }
    }

    /// `n_out`: the output positions it acts on (1 for an invariant set).
    pub const fn positions_out(&self) -> usize {
        match *self {
            Group::Set {
                invariant: true, ..
            } => 1,
            _ => self.positions_in(),
        }
    }

    /// The generators as permutations of the positions (see each variant), for the union-find
    /// path and for tests. Sizes are not checked: [`Group::action`] checks them first.
    pub fn generators(&self) -> Vec<Generator> {
        /// The permutation of `h·w` grid positions that sends `(r, c)` to `map(r, c)`.
        fn grid(h: usize, w: usize, map: impl Fn(usize, usize) -> (usize, usize)) -> Vec<usize> {
            (0..h * w)
                .map(|p| {
                    let (r, c) = map(p / w, p % w);
                    r * w + c
                })
                .collect()
        }
        let shift = |n: usize| (0..n).map(|p| (p + 1) % n).collect::<Vec<_>>();
        match *self {
            Group::Cyclic { n } => vec![Generator::both(shift(n))],
            Group::Cyclic2d { h, w } => vec![
                Generator::both(grid(h, w, |r, c| ((r + 1) % h, c))),
                Generator::both(grid(h, w, |r, c| (r, (c + 1) % w))),
            ],
            Group::Dihedral { n } => vec![
                Generator::both(shift(n)),
                Generator::both((0..n).map(|p| negate(p, n)).collect()),
            ],
            Group::P4m { n } => vec![
                Generator::both(grid(n, n, |r, c| ((r + 1) % n, c))),
                Generator::both(grid(n, n, |r, c| (r, (c + 1) % n))),
                Generator::both(grid(n, n, |r, c| (c, negate(r, n)))),
                Generator::both(grid(n, n, |r, c| (r, negate(c, n)))),
            ],
            Group::Set { n, invariant } => {
                let mut permutations = Vec::new();
                if n >= 2 {
                    let mut swap: Vec<usize> = (0..n).collect();
                    swap.swap(0, 1);
                    permutations.push(swap);
                }
                permutations.push(shift(n));
                permutations
                    .into_iter()
                    .map(|p| {
                        if invariant {
                            Generator::new(p, vec![0])
                        } else {
                            Generator::both(p)
                        }
                    })
                    .collect()
            }
        }
    }

    /// Its action, checked: the sizes first, then [`Group::generators`].
    pub fn action(&self) -> Result<Action, GroupError> {
        let (inputs, outputs) = (self.positions_in(), self.positions_out());
        pairs(self.key(), inputs, outputs)?;
        Action::new(self.key(), inputs, outputs, self.generators())
    }

    /// The orbits, from the group's structure: the translation groups by the offset `q − p`
    /// (`cyclic`, `cyclic2d`), their extensions by a point group by the offset's class under it
    /// (`dihedral`: `n` offsets, `p4m`: `n²`, by union-find), `set` by `p = q`, the invariant set
    /// as one orbit. The same numbers as the union-find over the pairs ([`Action::orbits`]).
    ///
    /// Fails where the group has no positions (a size 0) or more than [`MAX_PAIRS`] pairs.
    pub fn orbits(&self) -> Result<Orbits, GroupError> {
        let (inputs, outputs) = (self.positions_in(), self.positions_out());
        pairs(self.key(), inputs, outputs)?;
        let torus = |h: usize, w: usize, classes: Option<(Vec<u32>, usize)>| {
            let (classes, count) = match classes {
                Some((classes, count)) => (Some(classes), count),
                None => (None, h * w),
            };
            (count, Kind::Torus { h, w, classes })
        };
        let (count, kind) = match *self {
            Group::Cyclic { n } => torus(1, n, None),
            Group::Cyclic2d { h, w } => torus(h, w, None),
            Group::Dihedral { n } => torus(
                1,
                n,
                Some(offset_classes(1, n, &[&|dr, dc| (dr, negate(dc, n))])),
            ),
            Group::P4m { n } => torus(
                n,
                n,
                Some(offset_classes(
                    n,
                    n,
                    &[&|dr, dc| (dc, negate(dr, n)), &|dr, dc| (dr, negate(dc, n))],
                )),
            ),
            Group::Set {
                n,
                invariant: false,
            } => (n.min(2), Kind::Diagonal),
            Group::Set {
                invariant: true, ..
            } => (1, Kind::Whole),
        };
        Ok(Orbits {
            inputs,
            outputs,
            count,
            bias_count: 1,
            kind,
        })
    }
}

impl fmt::Display for Group {
    /// As the attribute writes it: `cyclic(8)`, `cyclic2d(32, 32)`, `dihedral(8)`, `p4m(5)`,
    /// `set(6)`, `set(6, invariant)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Group::Cyclic { n } | Group::Dihedral { n } | Group::P4m { n } => {
                write!(f, "{}({n})", self.key())
            }
            Group::Cyclic2d { h, w } => write!(f, "cyclic2d({h}, {w})"),
            Group::Set { n, invariant: true } => write!(f, "set({n}, invariant)"),
            Group::Set {
                n,
                invariant: false,
            } => write!(f, "set({n})"),
        }
    }
}
