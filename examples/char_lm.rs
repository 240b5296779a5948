//! A character language model whose output head is its embedding, transposed (Press & Wolf 2017,
//! "Using the Output Embedding to Improve Language Models"), trained beside the same model with
//! an untied head, on the Book of Genesis (King James Version, public domain; shipped in
//! `examples/data/`).
//!
//! The model reads the previous `CONTEXT` characters, embeds each (`lookup_embed`), mixes them
//! through a tanh layer into one `DIM`-vector and scores every character against it with the
//! embedding itself: `logits = h · embedᵀ` (`matmul_head`, `#[tied(transpose_of = embed)]`).
//!
//! Run: `cargo run --release --example char_lm`

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use tied::dfdx::optim::{Adam, Optimizer};
use tied::prelude::*;

/// Distinct characters the model can hold (Genesis uses 60).
const VOCAB: usize = 64;
/// Width of a character embedding.
const DIM: usize = 32;
/// Characters of context.
const CONTEXT: usize = 12;
/// `CONTEXT · DIM`: written out, as stable Rust cannot compute it in a type.
const FLAT: usize = 384;
const HIDDEN: usize = 192;
const BATCH: usize = 128;
const STEPS: usize = 5000;

/// The tied model: the head is the embedding's transpose.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct TiedCharLm<E: Dtype, D: Device<E>> {
    /// One row per character.
    pub embed: Tensor<Rank2<VOCAB, DIM>, E, D>,
    pub mix: Tensor<Rank2<FLAT, HIDDEN>, E, D>,
    pub mix_bias: Tensor<Rank1<HIDDEN>, E, D>,
    pub out: Tensor<Rank2<HIDDEN, DIM>, E, D>,
    pub out_bias: Tensor<Rank1<DIM>, E, D>,
    /// Scores against every character's embedding: no storage of its own.
    #[tied(transpose_of = embed)]
    pub head: Tensor<Rank2<DIM, VOCAB>, E, D>,
    pub head_bias: Tensor<Rank1<VOCAB>, E, D>,
}

/// The same model with a head of its own.
#[tied::layer]
#[derive(Clone, Debug)]
pub struct UntiedCharLm<E: Dtype, D: Device<E>> {
    pub embed: Tensor<Rank2<VOCAB, DIM>, E, D>,
    pub mix: Tensor<Rank2<FLAT, HIDDEN>, E, D>,
    pub mix_bias: Tensor<Rank1<HIDDEN>, E, D>,
    pub out: Tensor<Rank2<HIDDEN, DIM>, E, D>,
    pub out_bias: Tensor<Rank1<DIM>, E, D>,
    pub head: Tensor<Rank2<DIM, VOCAB>, E, D>,
    pub head_bias: Tensor<Rank1<VOCAB>, E, D>,
}

type Ids<T> = Tensor<(usize, Const<CONTEXT>), usize, Cpu, T>;
type Logits<T> = Tensor<(usize, Const<VOCAB>), f32, Cpu, T>;

/// The forward both models share, written from the generated accessors.
trait CharLm: TensorCollection<f32, Cpu> {
    fn logits<T: Tape<f32, Cpu>>(&self, ids: Ids<T>) -> Logits<T>;
}

macro_rules! char_lm_forward {
    ($model:ident) => {
        impl CharLm for $model<f32, Cpu> {
            fn logits<T: Tape<f32, Cpu>>(&self, ids: Ids<T>) -> Logits<T> {
                let batch = ids.shape().0;
                let e: Tensor<(usize, Const<CONTEXT>, Const<DIM>), f32, Cpu, T> =
                    self.lookup_embed(ids);
                let e = e.reshape_like(&(batch, Const::<FLAT>));
                let h = self.matmul_mix(e);
                let shape = *h.shape();
                let h = (h + self.mix_bias.retaped::<T>().broadcast_like(&shape)).tanh();
                let z = self.matmul_out(h);
                let shape = *z.shape();
                let z = z + self.out_bias.retaped::<T>().broadcast_like(&shape);
                let y = self.matmul_head(z);
                let shape = *y.shape();
                y + self.head_bias.retaped::<T>().broadcast_like(&shape)
            }
        }
    };
}
char_lm_forward!(TiedCharLm);
char_lm_forward!(UntiedCharLm);

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/genesis-kjv.txt");
    let text = std::fs::read_to_string(&path).expect("examples/data/genesis-kjv.txt is shipped");
    let mut alphabet: Vec<char> = text.chars().collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    assert!(alphabet.len() <= VOCAB, "{} characters", alphabet.len());
    let ids: Vec<usize> = text
        .chars()
        .map(|c| alphabet.binary_search(&c).unwrap_or(0))
        .collect();
    // The last tenth is held out.
    let (train, valid) = ids.split_at(ids.len() * 9 / 10);
    println!(
        "Genesis (KJV): {} characters, {} distinct; {} for training, {} held out",
        ids.len(),
        alphabet.len(),
        train.len(),
        valid.len()
    );

    let dev = Cpu::seed_from_u64(0);
    let mut tied = dev.build_module::<TiedCharLmConfig, f32>();
    let mut untied = dev.build_module::<UntiedCharLmConfig, f32>();
    let tied_loss = train_model(&dev, &mut tied, train, valid, "tied  ");
    let untied_loss = train_model(&dev, &mut untied, train, valid, "untied");

    println!();
    println!("                      parameters   held-out loss (nats/char)   bits/char");
    for (name, params, loss) in [
        (
            "tied (head = embedᵀ)",
            tied.num_trainable_params(),
            tied_loss,
        ),
        ("untied", untied.num_trainable_params(), untied_loss),
    ] {
        println!(
            "{name:<21} {params:>10}   {loss:>25.4}   {:>9.3}",
            loss / std::f32::consts::LN_2
        );
    }
    for (name, model) in [("tied", &tied as &dyn Sample), ("untied", &untied)] {
        println!("\n{name}, sampled from \"And God said\":");
        println!("{}", model.sample(&dev, &alphabet, "And God said", 240));
    }
}

/// Adam on random windows of the text; returns the held-out loss.
fn train_model<M: CharLm>(
    dev: &Cpu,
    model: &mut M,
    train: &[usize],
    valid: &[usize],
    name: &str,
) -> f32 {
    let mut opt = Adam::new(
        model,
        AdamConfig {
            lr: 2e-3,
            ..Default::default()
        },
    );
    let bar = ProgressBar::new(STEPS as u64).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] step {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_owned());
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut grads = model.alloc_grads();
    let mut running = None;
    for step in 0..STEPS {
        let starts: Vec<usize> = (0..BATCH)
            .map(|_| (next(&mut rng) % (train.len() - CONTEXT) as u64) as usize)
            .collect();
        let (x, y) = windows(dev, train, &starts);
        let loss = cross_entropy_with_logits_loss(model.logits(x.trace(grads)), y);
        let value = loss.array();
        let avg = running.map_or(value, |r: f32| 0.98 * r + 0.02 * value);
        running = Some(avg);
        grads = loss.backward();
        opt.update(model, &grads).expect("every parameter is used");
        model.zero_grads(&mut grads);
        if step % 50 == 0 {
            bar.set_message(format!("training loss {avg:.3}"));
        }
        bar.inc(1);
    }
    bar.finish();
    validation_loss(dev, model, valid)
}

/// Mean cross-entropy over every window of the held-out text.
fn validation_loss<M: CharLm>(dev: &Cpu, model: &M, valid: &[usize]) -> f32 {
    let starts: Vec<usize> = (0..valid.len() - CONTEXT).collect();
    let (mut sum, mut count) = (0.0, 0);
    for chunk in starts.chunks(1024) {
        let (x, y) = windows(dev, valid, chunk);
        sum += cross_entropy_with_logits_loss(model.logits(x), y).array() * chunk.len() as f32;
        count += chunk.len();
    }
    sum / count as f32
}

/// Contexts starting at `starts` and one-hot next characters.
fn windows(dev: &Cpu, ids: &[usize], starts: &[usize]) -> (Ids<NoneTape>, Logits<NoneTape>) {
    let x: Vec<usize> = starts
        .iter()
        .flat_map(|&s| ids[s..s + CONTEXT].iter().copied())
        .collect();
    let mut y = vec![0.0; starts.len() * VOCAB];
    for (row, &s) in starts.iter().enumerate() {
        y[row * VOCAB + ids[s + CONTEXT]] = 1.0;
    }
    (
        dev.tensor_from_vec(x, (starts.len(), Const::<CONTEXT>)),
        dev.tensor_from_vec(y, (starts.len(), Const::<VOCAB>)),
    )
}

/// Text generation, for both models behind one reference.
trait Sample {
    fn sample(&self, dev: &Cpu, alphabet: &[char], prompt: &str, len: usize) -> String;
}

impl<M: CharLm> Sample for M {
    /// Draws `len` characters after `prompt` at temperature 0.7, reproducibly.
    fn sample(&self, dev: &Cpu, alphabet: &[char], prompt: &str, len: usize) -> String {
        let mut ids: Vec<usize> = prompt
            .chars()
            .map(|c| alphabet.binary_search(&c).unwrap_or(0))
            .collect();
        let mut rng = 0x853c_49e6_748f_ea9b_u64;
        for _ in 0..len {
            let context = ids[ids.len().saturating_sub(CONTEXT)..].to_vec();
            let mut padded = vec![context[0]; CONTEXT - context.len()];
            padded.extend(context);
            let x = dev.tensor_from_vec(padded, (1, Const::<CONTEXT>));
            let logits = self.logits(x).as_vec();
            let scaled: Vec<f32> = logits.iter().map(|l| l / 0.7).collect();
            let top = scaled.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let weights: Vec<f32> = scaled.iter().map(|l| (l - top).exp()).collect();
            let total: f32 = weights.iter().sum();
            let mut u = (next(&mut rng) >> 11) as f32 / (1u64 << 53) as f32 * total;
            let mut pick = alphabet.len() - 1;
            for (k, w) in weights.iter().enumerate().take(alphabet.len()) {
                if u < *w {
                    pick = k;
                    break;
                }
                u -= w;
            }
            ids.push(pick);
        }
        ids.iter().map(|&k| alphabet[k]).collect()
    }
}

/// xorshift64: reproducible without another dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
