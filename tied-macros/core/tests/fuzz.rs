//! The macro never panics: both front ends, `tied_macros_core::layer` (dfdx) and `burn_layer`,
//! are driven with valid layers, token-level mutations of them and random token streams, and
//! every call must return items (the generated code, or `compile_error!` beside stubs), never
//! unwind.
//!
//! The corpus is every layer of `tests/ui/{dfdx/pass,dfdx/build,burn/pass}/*.rs` (the layers
//! the UI suite proves compile and run), one layer per built-in pattern of the table, and a few
//! edge cases those do not cover. Each case goes through both front ends: a dfdx layer is a
//! mistake for the Burn one, and the other way round.
//!
//! Mutations work on the token tree, not on text, so they reach inside `#[tied(..)]`, `<..>` and
//! the field braces, and produce streams no lexer would (a joint `=` before an ident, an invisible
//! group) as well as ones a user could write.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

use proc_macro2::{Delimiter, Group, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use proptest::collection::vec;
use proptest::prelude::*;
use quote::{quote, ToTokens};
use tied_patterns::{Form, Rule, PATTERNS};

/// Cases per run: 5000 expansions take about three seconds in the dev profile.
const CASES: u32 = 5000;

/// The property test's configuration: `CASES` cases from a fixed seed, so `cargo test` (and CI)
/// runs the same inputs every time and a red run is a change in the macro, not the dice. To
/// search new inputs, set `PROPTEST_RNG_SEED` (any `u64`) and, for a long search,
/// `PROPTEST_CASES`; every failure found is kept as a deterministic test below.
fn config() -> ProptestConfig {
    let env = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            CASES
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            env.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x7115_d0c5)
        },
        ..env
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus: valid layers, and the layer options around them.
// ---------------------------------------------------------------------------------------------

struct Entry {
    name: String,
    args: TokenStream,
    input: TokenStream,
    /// The front end that expands it cleanly: `#[tied::burn::layer]` rather than dfdx's.
    burn: bool,
}

fn entry(name: &str, args: TokenStream, input: TokenStream) -> Entry {
    Entry {
        burn: false,
        name: name.to_owned(),
        args,
        input,
    }
}

fn corpus() -> Vec<Entry> {
    let mut corpus = ui_pass_layers();
    corpus.extend(pattern_layers());
    corpus.extend(edge_cases());
    corpus
}

/// Every `#[tied::layer]` and `#[tied::burn::layer]` struct of the UI pass cases, with its
/// options.
fn ui_pass_layers() -> Vec<Entry> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui");
    let mut paths: Vec<_> = [
        root.join("dfdx/pass"),
        root.join("dfdx/build"),
        root.join("burn/pass"),
    ]
    .iter()
    .flat_map(|dir| {
        std::fs::read_dir(dir)
            .map_err(|err| format!("cannot read {}: {err}", dir.display()))
            .expect("the UI pass cases are there")
    })
    .filter_map(|entry| entry.ok().map(|e| e.path()))
    .filter(|path| path.extension().is_some_and(|e| e == "rs"))
    .collect();
    paths.sort();
    let mut layers = Vec::new();
    for path in paths {
        let source = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))
            .expect("a UI pass case is readable");
        let file = syn::parse_file(&source)
            .map_err(|err| format!("{} does not parse: {err}", path.display()))
            .expect("a UI pass case parses");
        let name = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        collect_layers(&name, &file.items, &mut layers);
    }
    assert!(
        layers.len() >= 16,
        "too few layers found in {}",
        root.display()
    );
    layers
}

fn collect_layers(name: &str, items: &[syn::Item], out: &mut Vec<Entry>) {
    for item in items {
        match item {
            syn::Item::Struct(s) => {
                let segments = |a: &syn::Attribute| -> Vec<String> {
                    a.path()
                        .segments
                        .iter()
                        .map(|s| s.ident.to_string())
                        .collect()
                };
                let is_burn = |a: &syn::Attribute| segments(a) == ["tied", "burn", "layer"];
                let is_layer = |a: &syn::Attribute| segments(a) == ["tied", "layer"] || is_burn(a);
                let Some(attr) = s.attrs.iter().find(|a| is_layer(a)) else {
                    continue;
                };
                let burn = is_burn(attr);
                let args = match &attr.meta {
                    syn::Meta::List(list) => list.tokens.clone(),
                    _ => TokenStream::new(),
                };
                let mut input = s.clone();
                input.attrs.retain(|a| !is_layer(a));
                out.push(Entry {
                    burn,
                    ..entry(
                        &format!("{name}::{}", s.ident),
                        args,
                        input.into_token_stream(),
                    )
                });
            }
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    collect_layers(name, items, out);
                }
            }
            _ => {}
        }
    }
}

/// One 4×4 layer per built-in pattern of the table, with the sizes its rule asks for.
fn pattern_layers() -> Vec<Entry> {
    PATTERNS
        .iter()
        .map(|pattern| {
            let key = syn::Ident::new(pattern.key, Span::call_site());
            let size = |n: usize| Literal::usize_unsuffixed(n);
            let tie = match (pattern.form, pattern.rule) {
                (Form::Bare | Form::OptionalSize, _) => quote!(#key),
                (Form::Pair, _) => quote!(#key(2, 2)),
                (Form::Size, Rule::Exact(formula)) => {
                    let k = size(formula.eval(4, 4).unwrap_or(1));
                    quote!(#key = #k)
                }
                (Form::Size, _) => quote!(#key = 3),
            };
            entry(
                pattern.key,
                quote!(),
                quote! {
                    pub struct Layer<E: Dtype, D: Device<E>> {
                        #[tied(#tie)]
                        pub weight: Tensor<Rank2<4, 4>, E, D>,
                        pub bias: Tensor<Rank1<4>, E, D>,
                    }
                },
            )
        })
        .collect()
}

/// Shapes of input the UI cases do not write: late generics, paths, opaque sizes, many fields.
fn edge_cases() -> Vec<Entry> {
    vec![
        entry(
            "late-generics-cols",
            quote!(),
            quote! {
                pub struct Late<F: Dtype, Dev: Device<F>, const IN: usize, const OUT: usize> {
                    #[tied(cols = OUT)]
                    pub weight: Tensor<Rank2<IN, OUT>, F, Dev>,
                }
            },
        ),
        entry(
            "tuple-shapes-literal-sizes",
            quote!(builder = Tuples),
            quote! {
                pub(crate) struct Tuples<E: Dtype, D: Device<E>> {
                    #[allow(unused)]
                    #[tied(cols = 3)]
                    #[doc = "attribute-form doc"]
                    pub(crate) weight: Tensor<(Const<4>, Const<3>), E, D>,
                    bias: Tensor<(Const<3>,), E, D>,
                }
            },
        ),
        entry(
            "dense-paths-const-item",
            quote!(),
            quote! {
                struct Plain<E: dfdx::dtypes::Dtype, D: dfdx::tensor_ops::Device<E>> {
                    #[tied(rows = SIZE)]
                    weight: dfdx::tensor::Tensor<dfdx::shapes::Rank2<SIZE, 2>, E, D>,
                    bias: ::dfdx::tensor::Tensor<Rank1<{ 1 + 1 }>, E, D>,
                }
            },
        ),
        entry(
            "opaque-sizes",
            quote!(),
            quote! {
                struct Opaque<const N: usize, E: Dtype, D: Device<E>> {
                    #[tied(rows = { 2 * 2 })]
                    weight: Tensor<Rank2<4, { N + 1 }>, E, D>,
                }
            },
        ),
        entry(
            "several-weights",
            quote!(builder = Pair),
            quote! {
                /// Two weights: no generated forward.
                pub struct TwoWeights<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
                    pub enc: Tensor<Rank2<I, H>, E, D>,
                    #[tied(cols)]
                    pub dec: Tensor<Rank2<H, I>, E, D>,
                    pub enc_bias: Tensor<Rank1<H>, E, D>,
                    pub dec_bias: Tensor<Rank1<I>, E, D>,
                }
            },
        ),
        entry(
            "more-than-six-fields",
            quote!(),
            quote! {
                struct Wide<const N: usize, E: Dtype, D: Device<E>> {
                    #[tied(rows)] a: Tensor<Rank2<N, N>, E, D>,
                    #[tied(cols)] b: Tensor<Rank2<N, N>, E, D>,
                    #[tied(scalar)] c: Tensor<Rank2<N, N>, E, D>,
                    d: Tensor<Rank2<N, 2>, E, D>,
                    e: Tensor<Rank2<2, N>, E, D>,
                    f: Tensor<Rank1<N>, E, D>,
                    g: Tensor<Rank1<2>, E, D>,
                    h: Tensor<Rank1<N>, E, D>,
                }
            },
        ),
        entry(
            "custom-pattern",
            quote!(),
            quote! {
                pub struct Custom<const N: usize, E: Dtype, D: Device<E>> {
                    #[tied(pattern = crate::patterns::Checkerboard)]
                    pub weight: Tensor<Rank2<N, N>, E, D>,
                    pub bias: Tensor<Rank1<N>, E, D>,
                }
            },
        ),
    ]
}

/// Layer options, valid and not, to pair with any input.
fn args_corpus() -> Vec<TokenStream> {
    vec![
        quote!(),
        quote!(builder = Name),
        quote!(builder = Name,),
        quote!(builder),
        quote!(builder =),
        quote!(builder = "str"),
        quote!(builder = a::b),
        quote!(builder = A, builder = B),
        quote!(unknown = 1),
        quote!(forward = [enc + enc_bias, ReLU, dec + dec_bias]),
        quote!(forward = []),
        quote!(forward = [weight + bias], builder = Name),
        quote!(forward = weight),
    ]
}

// ---------------------------------------------------------------------------------------------
// The pool of tokens mutations insert.
// ---------------------------------------------------------------------------------------------

/// Lexemes besides the pattern keys (which [`pool`] adds from the table), each lexed with `TokenStream::from_str`; the `@` ones are built by hand because no
/// source text lexes to them.
#[rustfmt::skip] // A table: one line per kind of token reads better than one per token.
const BASE_POOL: &[&str] = &[
    // Keys, names and types the macro looks for.
    "tied", "layer", "builder", "forward", "pattern", "transpose_of", "same_as", "Tensor",
    "Rank0", "Rank1", "Rank2", "Rank3", "Const", "Dtype", "Device", "E", "D", "N", "I", "O",
    "weight", "bias", "enc", "dec", "doc", "derive", "ReLU", "f32", "r#rows", "r#type",
    // Keywords and reserved identifiers.
    "struct", "enum", "union", "pub", "crate", "where", "const", "usize", "self", "Self", "fn",
    "impl", "dyn", "for", "mut", "as", "_",
    // Literals.
    "0", "1", "2", "3", "4", "6", "7", "10", "1usize", "0x10", "1_000", "1e3", "1.5",
    "18446744073709551615", "340282366920938463463374607431768211455",
    "340282366920938463463374607431768211456", "\"str\"", "\"\"", "'c'", "b\"b\"", "c\"c\"",
    "r\"raw\"",
    // Punctuation.
    "=", ",", ":", ";", "<", ">", "#", "::", "!", "+", "-", "*", "&", "?", ".", "..", "->", "=>",
    "|", "@", "$", "~", "/", "'a", "'static",
    // Empty groups.
    "()", "[]", "{}",
    // Tokens only a macro can make.
    "@joint =", "@joint <", "@joint :", "@joint '", "@-1", "@none-group", "@none-group rows",
];

/// [`BASE_POOL`] and every built-in pattern's key.
fn pool() -> &'static [&'static str] {
    static POOL: OnceLock<Vec<&'static str>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut pool: Vec<&'static str> = PATTERNS.iter().map(|p| p.key).collect();
        pool.extend_from_slice(BASE_POOL);
        pool
    })
}

/// One entry of [`pool`], printed as its text.
#[derive(Clone, Copy)]
struct Piece(usize);

impl fmt::Debug for Piece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", pool()[self.0])
    }
}

impl Piece {
    fn tokens(self) -> Vec<TokenTree> {
        let joint = |c| vec![TokenTree::Punct(Punct::new(c, Spacing::Joint))];
        let none_group =
            |inner: TokenStream| vec![TokenTree::Group(Group::new(Delimiter::None, inner))];
        match pool()[self.0] {
            "@joint =" => joint('='),
            "@joint <" => joint('<'),
            "@joint :" => joint(':'),
            "@joint '" => joint('\''),
            "@-1" => vec![TokenTree::Literal(Literal::i32_unsuffixed(-1))],
            "@none-group" => none_group(TokenStream::new()),
            "@none-group rows" => none_group(quote!(rows)),
            text => TokenStream::from_str(text)
                .map_err(|err| format!("pool entry {text:?} does not lex: {err}"))
                .expect("every pool entry lexes")
                .into_iter()
                .collect(),
        }
    }
}

fn piece() -> impl Strategy<Value = Piece> {
    (0..pool().len()).prop_map(Piece)
}

/// One of `names`, each in the pool.
fn one_of(names: &'static [&'static str]) -> impl Strategy<Value = Piece> {
    proptest::sample::select(names).prop_map(piece_of)
}

/// The pool's entry `name`.
fn piece_of(name: &str) -> Piece {
    let at = pool().iter().position(|p| *p == name);
    Piece(
        at.ok_or_else(|| format!("{name:?} is not in the pool"))
            .expect("every name is in the pool"),
    )
}

/// A tie key: the table's and the ties that are not patterns.
fn key() -> impl Strategy<Value = Piece> {
    let mut keys: Vec<&'static str> = PATTERNS.iter().map(|p| p.key).collect();
    keys.extend(["pattern", "transpose_of", "same_as"]);
    proptest::sample::select(keys).prop_map(piece_of)
}

/// A layer option's name.
fn option() -> impl Strategy<Value = Piece> {
    one_of(&["builder", "forward"])
}

fn delimiter() -> impl Strategy<Value = Delimiter> {
    prop_oneof![
        Just(Delimiter::Parenthesis),
        Just(Delimiter::Bracket),
        Just(Delimiter::Brace),
        Just(Delimiter::None),
    ]
}

// ---------------------------------------------------------------------------------------------
// Token trees, and mutations of them.
// ---------------------------------------------------------------------------------------------

/// A token stream as nested vectors, so a mutation can edit any sequence in place.
#[derive(Clone)]
enum Node {
    Leaf(TokenTree),
    Group(Delimiter, Vec<Node>),
}

fn to_nodes(stream: TokenStream) -> Vec<Node> {
    stream
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => Node::Group(group.delimiter(), to_nodes(group.stream())),
            leaf => Node::Leaf(leaf),
        })
        .collect()
}

fn to_stream(nodes: &[Node]) -> TokenStream {
    nodes
        .iter()
        .map(|node| match node {
            Node::Leaf(leaf) => leaf.clone(),
            Node::Group(delimiter, inner) => {
                TokenTree::Group(Group::new(*delimiter, to_stream(inner)))
            }
        })
        .collect()
}

/// The paths to every sequence: the top level, then each group's contents, depth first.
fn sequences(nodes: &[Node]) -> Vec<Vec<usize>> {
    fn walk(nodes: &[Node], path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(path.clone());
        for (i, node) in nodes.iter().enumerate() {
            if let Node::Group(_, inner) = node {
                path.push(i);
                walk(inner, path, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(nodes, &mut Vec::new(), &mut out);
    out
}

fn sequence_mut<'a>(mut nodes: &'a mut Vec<Node>, path: &[usize]) -> &'a mut Vec<Node> {
    for &i in path {
        nodes = match &mut nodes[i] {
            Node::Group(_, inner) => inner,
            Node::Leaf(_) => unreachable!("a sequence path goes through groups only"),
        };
    }
    nodes
}

/// Every ident and literal of the tree, depth first.
fn words(nodes: &mut [Node]) -> Vec<&mut TokenTree> {
    let mut out = Vec::new();
    for node in nodes {
        match node {
            Node::Leaf(leaf @ (TokenTree::Ident(_) | TokenTree::Literal(_))) => out.push(leaf),
            Node::Leaf(_) => {}
            Node::Group(_, inner) => out.extend(words(inner)),
        }
    }
    out
}

/// Whether `a` can stand for `b` and mostly keep the syntax: a literal for a literal, a keyword
/// for a keyword and a name for a name.
fn same_kind(a: &TokenTree, b: &TokenTree) -> bool {
    const KEYWORDS: &[&str] = &[
        "struct", "enum", "union", "pub", "crate", "where", "const", "self", "Self", "fn", "impl",
        "dyn", "for", "mut", "as", "_",
    ];
    let is_keyword = |ident: &proc_macro2::Ident| KEYWORDS.contains(&ident.to_string().as_str());
    match (a, b) {
        (TokenTree::Ident(a), TokenTree::Ident(b)) => is_keyword(a) == is_keyword(b),
        (TokenTree::Literal(_), TokenTree::Literal(_)) => true,
        _ => false,
    }
}

/// One edit. Positions are reduced modulo what exists, so any numbers make a valid edit (and
/// shrink towards the first sequence and token).
#[derive(Clone, Debug)]
enum Mutation {
    Delete {
        seq: usize,
        at: usize,
    },
    Duplicate {
        seq: usize,
        at: usize,
    },
    Swap {
        seq: usize,
        a: usize,
        b: usize,
    },
    Replace {
        seq: usize,
        at: usize,
        with: Piece,
    },
    Insert {
        seq: usize,
        at: usize,
        pieces: Vec<Piece>,
    },
    /// Puts `len` tokens from `at` in a group.
    Wrap {
        seq: usize,
        at: usize,
        len: usize,
        delimiter: Delimiter,
    },
    /// Replaces the `at`-th ident or literal of the whole tree (any depth) by a pool token of its
    /// kind: a name by a name, a keyword by a keyword, a literal by a literal. Keeps the syntax
    /// more often than `Replace`, so more cases reach the checks after parsing.
    Retoken {
        at: usize,
        with: usize,
    },
    /// Replaces a group by its contents.
    Unwrap {
        seq: usize,
        at: usize,
    },
    /// Copies up to `len` tokens from a sequence of another corpus input.
    Graft {
        seq: usize,
        at: usize,
        donor: usize,
        donor_seq: usize,
        donor_at: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Taken modulo what exists; small, so a shrunk case prints small numbers.
    let pos = || 0..256usize;
    prop_oneof![
        3 => (pos(), pos()).prop_map(|(seq, at)| Mutation::Delete { seq, at }),
        2 => (pos(), pos()).prop_map(|(seq, at)| Mutation::Duplicate { seq, at }),
        2 => (pos(), pos(), pos()).prop_map(|(seq, a, b)| Mutation::Swap { seq, a, b }),
        4 => (pos(), pos(), piece()).prop_map(|(seq, at, with)| Mutation::Replace { seq, at, with }),
        3 => (pos(), pos(), vec(piece(), 1..4))
            .prop_map(|(seq, at, pieces)| Mutation::Insert { seq, at, pieces }),
        1 => (pos(), pos(), 0..4usize, delimiter())
            .prop_map(|(seq, at, len, delimiter)| Mutation::Wrap { seq, at, len, delimiter }),
        6 => (pos(), pos()).prop_map(|(at, with)| Mutation::Retoken { at, with }),
        1 => (pos(), pos()).prop_map(|(seq, at)| Mutation::Unwrap { seq, at }),
        2 => (pos(), pos(), pos(), pos(), pos(), 1..6usize).prop_map(
            |(seq, at, donor, donor_seq, donor_at, len)| Mutation::Graft {
                seq,
                at,
                donor,
                donor_seq,
                donor_at,
                len,
            }
        ),
    ]
}

impl Mutation {
    fn apply(&self, nodes: &mut Vec<Node>, donors: &[Vec<Node>]) {
        let paths = sequences(nodes);
        let seq_of = |seq: usize| paths[seq % paths.len()].clone();
        match *self {
            Mutation::Delete { seq, at } => {
                let seq = sequence_mut(nodes, &seq_of(seq));
                if !seq.is_empty() {
                    seq.remove(at % seq.len());
                }
            }
            Mutation::Duplicate { seq, at } => {
                let seq = sequence_mut(nodes, &seq_of(seq));
                if !seq.is_empty() {
                    let at = at % seq.len();
                    seq.insert(at, seq[at].clone());
                }
            }
            Mutation::Swap { seq, a, b } => {
                let seq = sequence_mut(nodes, &seq_of(seq));
                if !seq.is_empty() {
                    let len = seq.len();
                    seq.swap(a % len, b % len);
                }
            }
            Mutation::Replace { seq, at, with } => {
                let seq = sequence_mut(nodes, &seq_of(seq));
                let at = at % (seq.len() + 1);
                let new = to_nodes(with.tokens().into_iter().collect());
                let end = (at + 1).min(seq.len());
                seq.splice(at..end, new);
            }
            Mutation::Insert {
                seq,
                at,
                ref pieces,
            } => {
                let seq = sequence_mut(nodes, &seq_of(seq));
                let at = at % (seq.len() + 1);
                let new: TokenStream = pieces.iter().flat_map(|p| p.tokens()).collect();
                seq.splice(at..at, to_nodes(new));
            }
            Mutation::Wrap {
                seq,
                at,
                len,
                delimiter,
            } => {
                let seq = sequence_mut(nodes, &seq_of(seq));
                let at = at % (seq.len() + 1);
                let end = (at + len).min(seq.len());
                let inner: Vec<Node> = seq.drain(at..end).collect();
                seq.insert(at, Node::Group(delimiter, inner));
            }
            Mutation::Retoken { at, with } => {
                let mut words = words(nodes);
                if words.is_empty() {
                    return;
                }
                let count = words.len();
                let word = &mut words[at % count];
                let candidates: Vec<TokenTree> = (0..pool().len())
                    .filter_map(|i| match Piece(i).tokens().as_slice() {
                        [one] if same_kind(one, word) => Some(one.clone()),
                        _ => None,
                    })
                    .collect();
                if !candidates.is_empty() {
                    **word = candidates[with % candidates.len()].clone();
                }
            }
            Mutation::Unwrap { seq, at } => {
                let seq = sequence_mut(nodes, &seq_of(seq));
                if !seq.is_empty() {
                    let at = at % seq.len();
                    if let Node::Group(_, inner) = seq[at].clone() {
                        seq.splice(at..=at, inner);
                    }
                }
            }
            Mutation::Graft {
                seq,
                at,
                donor,
                donor_seq,
                donor_at,
                len,
            } => {
                let donor = &donors[donor % donors.len()];
                let donor_paths = sequences(donor);
                let mut donor = donor.clone();
                let source = sequence_mut(&mut donor, &donor_paths[donor_seq % donor_paths.len()]);
                if source.is_empty() {
                    return;
                }
                let from = donor_at % source.len();
                let to = (from + len).min(source.len());
                let graft: Vec<Node> = source[from..to].to_vec();
                let seq = sequence_mut(nodes, &seq_of(seq));
                let at = at % (seq.len() + 1);
                seq.splice(at..at, graft);
            }
        }
    }
}

/// Fully random tokens, nested up to four groups deep.
#[derive(Clone, Debug)]
enum Random {
    Piece(Piece),
    Group(Delimiter, Vec<Random>),
}

fn random_stream() -> impl Strategy<Value = Vec<Random>> {
    let tree = piece()
        .prop_map(Random::Piece)
        .prop_recursive(4, 48, 6, |inner| {
            (delimiter(), vec(inner, 0..6)).prop_map(|(d, inner)| Random::Group(d, inner))
        });
    vec(tree, 0..24)
}

fn random_tokens(random: &[Random]) -> TokenStream {
    random
        .iter()
        .map(|r| match r {
            Random::Piece(p) => p.tokens().into_iter().collect::<TokenStream>(),
            Random::Group(d, inner) => {
                TokenTree::Group(Group::new(*d, random_tokens(inner))).into()
            }
        })
        .collect()
}

/// Where a case's input starts from, before its mutations.
#[derive(Clone, Debug)]
enum Input {
    Corpus(usize),
    Random(Vec<Random>),
    /// A layer header around a random field list.
    RandomFields(Vec<Random>),
    /// A valid layer whose weight's `#[tied(..)]` holds a key (or not) and random tokens.
    RandomTie(Option<Piece>, Vec<Random>),
    /// A one-weight layer, `#[tied(key)]`, `#[tied(key = a)]`, `#[tied(key(a, b))]` or
    /// `#[tied(key = field)]` on `Rank2<c, d>` with a `Rank1<d>` bias, sizes drawn from literals
    /// (0, huge) and const parameters: aims at the size arithmetic (`I + O − 1`, `N(N + 1)/2`,
    /// `I / R`) and at fields naming fields (themselves, the bias, none).
    Sized {
        key: Piece,
        /// 0 to 3: the forms above in order; otherwise the key's own form.
        form: u8,
        sizes: [Piece; 4],
        field: Piece,
    },
}

#[derive(Clone, Debug)]
enum Args {
    /// The corpus input's own options (none for other inputs).
    Own,
    Corpus(usize),
    /// An option's name (or not) and random tokens.
    Random(Option<Piece>, Vec<Random>),
}

#[derive(Clone, Debug)]
struct Case {
    input: Input,
    input_mutations: Vec<Mutation>,
    args: Args,
    args_mutations: Vec<Mutation>,
}

fn case() -> impl Strategy<Value = Case> {
    let corpus_len = corpus().len();
    let args_len = args_corpus().len();
    // Edge values first: a size of 0 or near `u128::MAX` is where size arithmetic overflows.
    let size = || {
        prop_oneof![
            3 => one_of(&[
                "0",
                "1",
                "18446744073709551615",
                "340282366920938463463374607431768211455",
                "340282366920938463463374607431768211456",
            ]),
            2 => one_of(&["2", "3", "4", "6", "7", "10"]),
            1 => one_of(&["N", "I", "O"]),
            1 => one_of(&["1usize", "0x10", "1.5", "\"str\""]),
        ]
    };
    // Mostly one or two edits, which often keep an item a layer the checks look at; sometimes
    // many, which rarely do. Generated inputs already vary: they get fewer.
    let edits = || {
        prop_oneof![
            1 => Just(Vec::new()),
            6 => vec(mutation(), 1..3),
            2 => vec(mutation(), 3..10),
        ]
    };
    let few_edits = || vec(mutation(), 0..2);
    let input = prop_oneof![
        10 => ((0..corpus_len).prop_map(Input::Corpus), edits()),
        2 => (random_stream().prop_map(Input::Random), edits()),
        1 => (random_stream().prop_map(Input::RandomFields), few_edits()),
        3 => (
            (proptest::option::of(key()), random_stream())
                .prop_map(|(key, random)| Input::RandomTie(key, random)),
            few_edits(),
        ),
        4 => (
            (
                key(),
                0..6u8,
                [size(), size(), size(), size()],
                one_of(&["weight", "bias", "enc"]),
            )
                .prop_map(|(key, form, sizes, field)| Input::Sized {
                    key,
                    form,
                    sizes,
                    field
                }),
            few_edits(),
        ),
    ];
    let args = prop_oneof![
        6 => Just(Args::Own),
        3 => (0..args_len).prop_map(Args::Corpus),
        2 => (proptest::option::of(option()), random_stream())
            .prop_map(|(name, random)| Args::Random(name, random)),
    ];
    (input, args, vec(mutation(), 0..3)).prop_map(
        |((input, input_mutations), args, args_mutations)| Case {
            input,
            input_mutations,
            args,
            args_mutations,
        },
    )
}

impl Case {
    /// The `(args, input)` streams this case passes to the macro.
    fn build(&self, corpus: &[Entry], donors: &[Vec<Node>]) -> (TokenStream, TokenStream) {
        let (input, own_args) = match &self.input {
            Input::Corpus(i) => (corpus[*i].input.clone(), corpus[*i].args.clone()),
            Input::Random(random) => (random_tokens(random), TokenStream::new()),
            Input::RandomFields(random) => {
                let fields = random_tokens(random);
                let input = quote! {
                    pub struct Layer<const N: usize, E: Dtype, D: Device<E>> { #fields }
                };
                (input, TokenStream::new())
            }
            Input::RandomTie(key, random) => {
                let key = key.iter().flat_map(|k| k.tokens());
                let tie = random_tokens(random);
                let input = quote! {
                    pub struct Layer<const N: usize, E: Dtype, D: Device<E>> {
                        #[tied(#(#key)* #tie)]
                        pub weight: Tensor<Rank2<N, N>, E, D>,
                        pub bias: Tensor<Rank1<N>, E, D>,
                    }
                };
                (input, TokenStream::new())
            }
            Input::Sized {
                key,
                form,
                sizes,
                field,
            } => {
                let own_form = match tied_patterns::find(pool()[key.0]).map(|p| p.form) {
                    Some(Form::Bare) => 0,
                    Some(Form::Pair) => 2,
                    Some(_) => 1,
                    None if matches!(pool()[key.0], "transpose_of" | "same_as") => 3,
                    None => 1,
                };
                let [a, b, c, d] = sizes.map(|s| s.tokens());
                let (key, field) = (key.tokens(), field.tokens());
                let tie = match if *form > 3 { own_form } else { *form } {
                    0 => quote!(#(#key)*),
                    1 => quote!(#(#key)* = #(#a)*),
                    2 => quote!(#(#key)*(#(#a)*, #(#b)*)),
                    _ => quote!(#(#key)* = #(#field)*),
                };
                let input = quote! {
                    pub struct Layer<const N: usize, const I: usize, const O: usize, E: Dtype, D: Device<E>> {
                        #[tied(#tie)]
                        pub weight: Tensor<Rank2<#(#c)*, #(#d)*>, E, D>,
                        pub bias: Tensor<Rank1<#(#d)*>, E, D>,
                    }
                };
                (input, TokenStream::new())
            }
        };
        let args = match &self.args {
            Args::Own => own_args,
            Args::Corpus(i) => args_corpus()[*i].clone(),
            Args::Random(name, random) => {
                let name = name.iter().flat_map(|n| n.tokens());
                let random = random_tokens(random);
                quote!(#(#name)* #random)
            }
        };
        let mutate = |stream: TokenStream, mutations: &[Mutation]| {
            let mut nodes = to_nodes(stream);
            for mutation in mutations {
                mutation.apply(&mut nodes, donors);
            }
            to_stream(&nodes)
        };
        (
            mutate(args, &self.args_mutations),
            mutate(input, &self.input_mutations),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Running the macro, and what its output must be.
// ---------------------------------------------------------------------------------------------

/// A front end's expansion, `tied_macros_core::layer` or `burn_layer`.
type Front = fn(TokenStream, TokenStream) -> TokenStream;

/// Expands with `front`, turning a panic into an error that names the input.
fn expand(front: Front, args: &TokenStream, input: &TokenStream) -> Result<TokenStream, String> {
    catch_unwind(AssertUnwindSafe(|| front(args.clone(), input.clone()))).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        format!("the expansion panicked: {message}\n  args:  {args}\n  input: {input}")
    })
}

/// The messages of the output's top-level `compile_error!`s.
fn compile_errors(file: &syn::File) -> Vec<String> {
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m) if m.mac.path.segments.last()?.ident == "compile_error" => Some(
                syn::parse2::<syn::LitStr>(m.mac.tokens.clone())
                    .map_or_else(|_| m.mac.tokens.to_string(), |s| s.value()),
            ),
            _ => None,
        })
        .collect()
}

/// Whether the output re-emits a struct called `name`.
fn has_struct(file: &syn::File, name: &syn::Ident) -> bool {
    file.items
        .iter()
        .any(|item| matches!(item, syn::Item::Struct(s) if s.ident == *name))
}

/// The properties every expansion has, by both front ends.
fn check(args: &TokenStream, input: &TokenStream) -> Result<(), String> {
    check_front(tied_macros_core::layer, args, input)?;
    check_front(tied_macros_core::burn_layer, args, input)
}

fn check_front(front: Front, args: &TokenStream, input: &TokenStream) -> Result<(), String> {
    let output = expand(front, args, input)?;
    let context = || format!("\n  args:   {args}\n  input:  {input}\n  output: {output}");
    // rustc hands an attribute macro only what parses as an item. For anything else the macro
    // answers with a `compile_error!` followed by the tokens as given, which cannot be items.
    let Ok(item) = syn::parse2::<syn::Item>(input.clone()) else {
        if !output.to_string().contains("compile_error") {
            return Err(format!(
                "input is not an item, but no `compile_error!`{}",
                context()
            ));
        }
        return Ok(());
    };
    if output.is_empty() {
        return Err(format!("empty output{}", context()));
    }
    let file = syn::parse2::<syn::File>(output.clone())
        .map_err(|err| format!("output is not items: {err}{}", context()))?;
    if let syn::Item::Struct(item) = item {
        // Without an error the user's struct must still be there, rewritten.
        if compile_errors(&file).is_empty() && !has_struct(&file, &item.ident) {
            return Err(format!(
                "no error, but no struct `{}` in the output{}",
                item.ident,
                context()
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn expansion_never_panics_and_always_returns_items(case in case()) {
        let corpus = corpus();
        let donors: Vec<Vec<Node>> = corpus.iter().map(|e| to_nodes(e.input.clone())).collect();
        let (args, input) = case.build(&corpus, &donors);
        if let Err(failure) = check(&args, &input) {
            return Err(TestCaseError::fail(failure));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic cases.
// ---------------------------------------------------------------------------------------------

fn expand_to_file(args: TokenStream, input: TokenStream) -> syn::File {
    expand_to_file_with(tied_macros_core::layer, args, input)
}

fn expand_to_file_with(front: Front, args: TokenStream, input: TokenStream) -> syn::File {
    let output = expand(front, &args, &input).expect("the expansion does not panic");
    syn::parse2(output.clone())
        .map_err(|err| format!("{err}\n  output: {output}"))
        .expect("the output is items")
}

#[test]
fn pool_lexes() {
    for i in 0..pool().len() {
        assert!(!Piece(i).tokens().is_empty(), "{:?}", Piece(i));
    }
}

#[test]
fn corpus_expands_without_errors() {
    for entry in corpus() {
        let front: Front = if entry.burn {
            tied_macros_core::burn_layer
        } else {
            tied_macros_core::layer
        };
        let file = expand_to_file_with(front, entry.args, entry.input);
        let errors = compile_errors(&file);
        assert!(
            errors.is_empty(),
            "corpus input `{}` should expand cleanly, but: {errors:?}",
            entry.name
        );
    }
}

/// A known mistake gives exactly one `compile_error!`, saying `message`.
fn assert_one_error(args: TokenStream, input: TokenStream, message: &str) {
    let file = expand_to_file(args, input.clone());
    let errors = compile_errors(&file);
    assert!(
        errors.len() == 1 && errors[0].contains(message),
        "expected one error containing {message:?} for `{input}`, got {errors:?}"
    );
}

#[test]
fn known_mistakes_give_one_error() {
    let layer = |tie: TokenStream| {
        quote! {
            pub struct L<const N: usize, E: Dtype, D: Device<E>> {
                #tie
                pub weight: Tensor<Rank2<4, 4>, E, D>,
                pub bias: Tensor<Rank1<4>, E, D>,
            }
        }
    };
    assert_one_error(
        quote!(),
        layer(quote!(#[tied(rowz)])),
        "did you mean `rows`",
    );
    assert_one_error(quote!(), layer(quote!(#[tied])), "needs a tie pattern");
    assert_one_error(
        quote!(),
        layer(quote!(#[tied(scalar = 1)])),
        "takes no value",
    );
    assert_one_error(
        quote!(),
        layer(quote!(#[tied(rows = 3)])),
        "does not match the weight",
    );
    assert_one_error(
        quote!(builder),
        layer(quote!(#[tied(rows)])),
        "`builder` takes the name",
    );
    assert_one_error(
        quote!(),
        quote!(
            enum L<E: Dtype, D: Device<E>> {
                A,
            }
        ),
        "not an enum",
    );
    assert_one_error(
        quote!(),
        quote!(
            struct L(Tensor<Rank2<4, 4>, f32, Cpu>);
        ),
        "not a tuple struct",
    );
    assert_one_error(
        quote!(),
        quote!(
            struct L {
                weight: Tensor<Rank2<4, 4>, f32, Cpu>,
            }
        ),
        "generic over its dtype and device",
    );
    assert_one_error(
        quote!(),
        quote! {
            pub struct L<E: Dtype, D: Device<E>> {
                #[tied(tile(3, 3))]
                pub weight: Tensor<Rank2<4, 6>, E, D>,
            }
        },
        "must divide the inputs",
    );
    assert_one_error(
        quote!(),
        quote! {
            pub struct L<E: Dtype, D: Device<E>> {
                pub enc: Tensor<Rank2<4, 2>, E, D>,
                #[tied(transpose_of = encc)]
                pub dec: Tensor<Rank2<2, 4>, E, D>,
            }
        },
        "no field `encc`",
    );
}

/// Found by the property test: sizes past `usize` (which rustc rejects later, but the macro sees
/// first) overflowed the macro's own size arithmetic.
#[test]
fn huge_sizes_do_not_overflow() {
    let huge = Literal::u128_unsuffixed(u128::MAX);
    let cases = [
        // `I + O − 1`
        quote!(#[tied(toeplitz = 1)] w: Tensor<Rank2<#huge, 1>, E, D>,),
        quote!(#[tied(hankel = 1)] w: Tensor<Rank2<1, #huge>, E, D>,),
        // `N(N + 1)/2`
        quote!(#[tied(symmetric = 1)] w: Tensor<Rank2<#huge, #huge>, E, D>,),
        quote!(#[tied(symmetric = 1)] w: Tensor<Rank2<18446744073709551616, 18446744073709551616>, E, D>,),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|field| {
            let input = quote!(struct L<E: Dtype, D: Device<E>> { #field });
            check(&TokenStream::new(), &input).err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Found by the property test in CI: syn reads `_: T` as a named field; the generated code then
/// named the field `_`, which is not an expression.
#[test]
fn a_field_named_underscore_is_an_error_not_broken_output() {
    let input = quote! {
        pub struct Layer<E: Dtype, D: Device<E>> {
            #[tied(rows)]
            pub weight: Tensor<Rank2<4, 4>, E, D>,
            pub _: Tensor<Rank1<4>, E, D>,
        }
    };
    assert_eq!(check(&TokenStream::new(), &input), Ok(()));
    assert_one_error(TokenStream::new(), input, "needs a name");
}
