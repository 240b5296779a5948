//! A tied autoencoder on real data: the UCI 8×8 handwritten digits (1797 images, shipped in
//! `examples/data/`), trained beside an untied autoencoder of the same shape.
//!
//! The tied one's decoder is its encoder's transpose (`#[tied(transpose_of = enc)]`): one 64×16
//! matrix instead of two, so about half the parameters, for a reconstruction error close to the
//! untied one's on held-out digits. Writes `docs/digits-loss.png` (loss curves) and
//! `docs/digits-reconstructions.png` (held-out digits and both reconstructions).
//!
//! Run: `cargo run --release --example digits`

use std::io::Read;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use plotters::style::FontStyle;
use tied::dfdx::optim::{Adam, Optimizer};
use tied::prelude::*;

const PIXELS: usize = 64;
const HIDDEN: usize = 16;
const BATCH: usize = 32;
const EPOCHS: usize = 200;
const HELD_OUT: usize = 360; // 20 % of 1797

/// 64 → 16 → 64 with `dec = encᵀ` and a sigmoid output (pixels are in [0, 1]).
#[tied::layer(forward = [enc + enc_bias, ReLU, dec + dec_bias, Sigmoid])]
#[derive(Clone, Debug)]
pub struct TiedAutoEncoder<const I: usize, const H: usize, E: Dtype, D: Device<E>> {
    /// The encoder, I×H.
    pub enc: Tensor<Rank2<I, H>, E, D>,
    pub enc_bias: Tensor<Rank1<H>, E, D>,
    /// The decoder: the encoder's transpose, no storage of its own.
    #[tied(transpose_of = enc)]
    pub dec: Tensor<Rank2<H, I>, E, D>,
    pub dec_bias: Tensor<Rank1<I>, E, D>,
}

/// The same shape, untied: dfdx's own layers.
type Untied = (
    Linear<PIXELS, HIDDEN>,
    ReLU,
    Linear<HIDDEN, PIXELS>,
    Sigmoid,
);

type Images = Tensor<(usize, Const<PIXELS>), f32, Cpu>;

/// Per epoch: mean training loss and held-out reconstruction MSE.
struct Curve {
    train: Vec<f32>,
    test: Vec<f32>,
}

fn main() {
    let (images, labels) = load_digits();
    let (train, test, test_labels) = split(&images, &labels);
    println!(
        "UCI digits: {} training and {} held-out images of 8×8 pixels",
        train.len(),
        test.len()
    );

    let dev = Cpu::seed_from_u64(0);
    let mut tied = dev.build_module::<TiedAutoEncoderConfig<PIXELS, HIDDEN>, f32>();
    let mut untied = dev.build_module::<Untied, f32>();
    let (tied_params, untied_params) = (tied.num_trainable_params(), untied.num_trainable_params());

    let test_x = batch(&dev, &test);
    let tied_curve = train_model(&dev, &mut tied, &train, &test_x, "tied  ");
    let untied_curve = train_model(&dev, &mut untied, &train, &test_x, "untied");

    let tied_mse = *tied_curve.test.last().unwrap_or(&f32::NAN);
    let untied_mse = *untied_curve.test.last().unwrap_or(&f32::NAN);
    println!();
    println!("             parameters   held-out reconstruction MSE");
    println!("tied   (dec = encᵀ) {tied_params:>5}   {tied_mse:.5}");
    println!("untied              {untied_params:>5}   {untied_mse:.5}");
    println!(
        "the tied autoencoder has {:.0} % of the parameters",
        100.0 * tied_params as f64 / untied_params as f64
    );
    // Hidden units that no held-out digit activates: they contribute nothing to a reconstruction.
    let tied_hidden = tied.matmul_enc(test_x.clone())
        + tied
            .enc_bias
            .clone()
            .broadcast_like(&(test.len(), Const::<HIDDEN>));
    let untied_hidden = untied.0.forward(test_x.clone());
    println!(
        "hidden units never active on held-out digits: tied {} of {HIDDEN}, untied {} of {HIDDEN}",
        dead_units(&tied_hidden),
        dead_units(&untied_hidden)
    );

    // Still tied after training: the decoder is exactly the encoder's transpose.
    let (e, d) = (
        tied.enc_effective(NoneTape).array(),
        tied.dec_effective(NoneTape).array(),
    );
    assert!((0..PIXELS).all(|i| (0..HIDDEN).all(|j| d[j][i] == e[i][j])));

    // One held-out image of each digit, with both reconstructions.
    let picks: Vec<usize> = (0..10)
        .filter_map(|digit| test_labels.iter().position(|&l| l == digit))
        .collect();
    let originals: Vec<Vec<f32>> = picks.iter().map(|&k| test[k].clone()).collect();
    let shown = batch(&dev, &originals);
    let rows = [
        ("original", originals.clone()),
        ("tied", rows_of(&tied.forward(shown.clone()))),
        ("untied", rows_of(&untied.forward(shown))),
    ];

    let fonts_ok = register_font();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let loss_png = docs.join("digits-loss.png");
    let recon_png = docs.join("digits-reconstructions.png");
    draw_curves(
        &loss_png,
        &tied_curve,
        &untied_curve,
        tied_params,
        untied_params,
    )
    .expect("drawing the loss curves");
    draw_digits(&recon_png, &rows).expect("drawing the reconstructions");
    println!(
        "wrote {} and {}{}",
        loss_png.display(),
        recon_png.display(),
        if fonts_ok { "" } else { " (without text)" }
    );
}

/// Trains `model` with Adam on minibatches, recording the training loss and the held-out MSE.
fn train_model<M>(dev: &Cpu, model: &mut M, train: &[Vec<f32>], test: &Images, name: &str) -> Curve
where
    M: TensorCollection<f32, Cpu>
        + ModuleMut<
            Tensor<(usize, Const<PIXELS>), f32, Cpu, OwnedTape<f32, Cpu>>,
            Output = Tensor<(usize, Const<PIXELS>), f32, Cpu, OwnedTape<f32, Cpu>>,
        > + Module<Images, Output = Images>,
{
    let mut opt = Adam::new(
        model,
        AdamConfig {
            lr: 5e-3,
            ..Default::default()
        },
    );
    let bar = ProgressBar::new(EPOCHS as u64).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] epoch {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_owned());
    let mut curve = Curve {
        train: Vec::new(),
        test: Vec::new(),
    };
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut grads = model.alloc_grads();
    for _ in 0..EPOCHS {
        shuffle(&mut order, &mut rng);
        let (mut sum, mut steps) = (0.0, 0);
        for chunk in order.chunks(BATCH) {
            let rows: Vec<Vec<f32>> = chunk.iter().map(|&k| train[k].clone()).collect();
            let x = batch(dev, &rows);
            let loss = mse_loss(model.forward_mut(x.trace(grads)), x);
            sum += loss.array();
            steps += 1;
            grads = loss.backward();
            opt.update(model, &grads).expect("every parameter is used");
            model.zero_grads(&mut grads);
        }
        let test_mse = mse_loss(model.forward(test.clone()), test.clone()).array();
        curve.train.push(sum / steps as f32);
        curve.test.push(test_mse);
        bar.set_message(format!("held-out MSE {test_mse:.5}"));
        bar.inc(1);
    }
    bar.finish();
    curve
}

/// The digits as 64 pixels in [0, 1] and their labels.
fn load_digits() -> (Vec<Vec<f32>>, Vec<usize>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.csv.gz");
    let file = std::fs::File::open(&path).expect("examples/data/digits.csv.gz is shipped");
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("a gzipped CSV");
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let values: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse().expect("a number"))
            .collect();
        assert_eq!(values.len(), PIXELS + 1, "64 pixels and a label per line");
        images.push(values[..PIXELS].iter().map(|v| v / 16.0).collect());
        labels.push(values[PIXELS] as usize);
    }
    (images, labels)
}

/// A fixed shuffle, then the last `HELD_OUT` images are held out.
fn split(images: &[Vec<f32>], labels: &[usize]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>) {
    let mut order: Vec<usize> = (0..images.len()).collect();
    shuffle(&mut order, &mut 42);
    let (train, test) = order.split_at(images.len() - HELD_OUT);
    (
        train.iter().map(|&k| images[k].clone()).collect(),
        test.iter().map(|&k| images[k].clone()).collect(),
        test.iter().map(|&k| labels[k]).collect(),
    )
}

/// Fisher–Yates with xorshift: reproducible without another dependency.
fn shuffle(order: &mut [usize], state: &mut u64) {
    for k in (1..order.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        order.swap(k, (*state % (k as u64 + 1)) as usize);
    }
}

fn batch(dev: &Cpu, rows: &[Vec<f32>]) -> Images {
    let data: Vec<f32> = rows.iter().flatten().copied().collect();
    dev.tensor_from_vec(data, (rows.len(), Const::<PIXELS>))
}

/// Columns of pre-activations that are never positive (ReLU outputs 0 for every row).
fn dead_units(pre: &Tensor<(usize, Const<HIDDEN>), f32, Cpu>) -> usize {
    let values = pre.as_vec();
    (0..HIDDEN)
        .filter(|&j| values.chunks(HIDDEN).all(|row| row[j] <= 0.0))
        .count()
}

fn rows_of(t: &Images) -> Vec<Vec<f32>> {
    t.as_vec().chunks(PIXELS).map(<[f32]>::to_vec).collect()
}

/// Text in the PNGs comes from a font shipped with the example (DejaVu Sans, ASCII subset; see
/// examples/data/README.md), drawn by plotters' pure-Rust `ab_glyph`.
fn register_font() -> bool {
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        include_bytes!("data/DejaVuSans-subset.ttf"),
    )
    .is_ok()
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_curves(path: &Path, tied: &Curve, untied: &Curve, tp: usize, up: usize) -> DrawResult {
    let root = BitMapBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = tied
        .train
        .iter()
        .chain(&untied.train)
        .chain(&tied.test)
        .chain(&untied.test)
        .fold(0.0f32, |a, &b| a.max(b));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Reconstruction MSE on the UCI digits",
            ("sans-serif", 24).into_font(),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1..EPOCHS, 0.0f32..top * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("mean squared error")
        .label_style(("sans-serif", 14))
        .draw()?;
    let series = [
        (
            format!("tied ({tp} params), held-out"),
            &tied.test,
            BLUE,
            true,
        ),
        ("tied, training".to_owned(), &tied.train, BLUE, false),
        (
            format!("untied ({up} params), held-out"),
            &untied.test,
            RED,
            true,
        ),
        ("untied, training".to_owned(), &untied.train, RED, false),
    ];
    for (label, values, color, solid) in series {
        let style = if solid {
            color.stroke_width(2)
        } else {
            color.mix(0.4).stroke_width(1)
        };
        chart
            .draw_series(LineSeries::new(
                values.iter().enumerate().map(|(k, &v)| (k + 1, v)),
                style,
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

fn draw_digits(path: &Path, rows: &[(&str, Vec<Vec<f32>>)]) -> DrawResult {
    const CELL: i32 = 10; // pixels per digit pixel
    const GAP: i32 = 8;
    const LEFT: i32 = 90;
    const TOP: i32 = 40;
    let columns = rows.first().map_or(0, |(_, r)| r.len()) as i32;
    let width = LEFT + columns * (8 * CELL + GAP) + GAP;
    let height = TOP + rows.len() as i32 * (8 * CELL + GAP) + GAP;
    let root = BitMapBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw_text(
        "held-out digits and their reconstructions",
        &("sans-serif", 20).into_font().color(&BLACK),
        (LEFT, 10),
    )?;
    for (r, (label, images)) in rows.iter().enumerate() {
        let y0 = TOP + r as i32 * (8 * CELL + GAP);
        root.draw_text(
            label,
            &("sans-serif", 16).into_font().color(&BLACK),
            (8, y0 + 4 * CELL - 8),
        )?;
        for (c, image) in images.iter().enumerate() {
            let x0 = LEFT + c as i32 * (8 * CELL + GAP);
            for (k, &v) in image.iter().enumerate() {
                // Ink is dark, as on paper.
                let level = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
                let (px, py) = (x0 + (k % 8) as i32 * CELL, y0 + (k / 8) as i32 * CELL);
                root.draw(&Rectangle::new(
                    [(px, py), (px + CELL, py + CELL)],
                    RGBColor(level, level, level).filled(),
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
