//! What the `digits` examples share, on dfdx (`digits.rs`) and on Burn (`digits_burn.rs`): the
//! UCI digits, the held-out split, the training constants, and the plots.

use std::io::Read;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use plotters::style::FontStyle;

pub const PIXELS: usize = 64;
pub const HIDDEN: usize = 16;
const BATCH: usize = 32;
const EPOCHS: usize = 200;
const HELD_OUT: usize = 360; // 20 % of 1797
/// Adam's learning rate, for both front ends.
pub const LR: f64 = 5e-3;

/// Per epoch: mean training loss and held-out reconstruction MSE.
pub struct Curve {
    pub train: Vec<f32>,
    pub test: Vec<f32>,
}

/// `EPOCHS` epochs over `train` in minibatches of `BATCH`, in a fixed shuffled order, with a
/// progress bar called `name`: `step(state, rows)` trains on one minibatch and returns its loss,
/// `held_out(state)` gives the held-out MSE after each epoch.
pub fn train_epochs<S>(
    state: &mut S,
    train: &[Vec<f32>],
    name: &str,
    mut step: impl FnMut(&mut S, &[Vec<f32>]) -> f32,
    mut held_out: impl FnMut(&mut S) -> f32,
) -> Curve {
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
    for _ in 0..EPOCHS {
        shuffle(&mut order, &mut rng);
        let (mut sum, mut steps) = (0.0, 0);
        for chunk in order.chunks(BATCH) {
            let rows: Vec<Vec<f32>> = chunk.iter().map(|&k| train[k].clone()).collect();
            sum += step(state, &rows);
            steps += 1;
        }
        let test_mse = held_out(state);
        curve.train.push(sum / steps as f32);
        curve.test.push(test_mse);
        bar.set_message(format!("held-out MSE {test_mse:.5}"));
        bar.inc(1);
    }
    bar.finish();
    curve
}

/// The held-out table: each model's parameters and final held-out MSE.
pub fn print_results(
    (tied, tied_params): (&Curve, usize),
    (untied, untied_params): (&Curve, usize),
) {
    let tied_mse = *tied.test.last().unwrap_or(&f32::NAN);
    let untied_mse = *untied.test.last().unwrap_or(&f32::NAN);
    println!();
    println!("             parameters   held-out reconstruction MSE");
    println!("tied   (dec = encᵀ) {tied_params:>5}   {tied_mse:.5}");
    println!("untied              {untied_params:>5}   {untied_mse:.5}");
    println!(
        "the tied autoencoder has {:.0} % of the parameters",
        100.0 * tied_params as f64 / untied_params as f64
    );
}

/// The first held-out image of each digit, 0 to 9.
pub fn one_of_each_digit(test: &[Vec<f32>], labels: &[usize]) -> Vec<Vec<f32>> {
    (0..10)
        .filter_map(|digit| labels.iter().position(|&l| l == digit))
        .map(|k| test[k].clone())
        .collect()
}

/// `docs/{name}-loss.png` (both curves, under `title`) and `docs/{name}-reconstructions.png`
/// (`rows`: the originals, then each model's reconstructions), and a line saying so.
pub fn write_plots(
    name: &str,
    title: &str,
    tied: (&Curve, usize),
    untied: (&Curve, usize),
    rows: &[(&str, Vec<Vec<f32>>)],
) {
    let fonts_ok = register_font();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let loss_png = docs.join(format!("{name}-loss.png"));
    let recon_png = docs.join(format!("{name}-reconstructions.png"));
    draw_curves(&loss_png, title, tied, untied).expect("drawing the loss curves");
    draw_digits(&recon_png, rows).expect("drawing the reconstructions");
    println!(
        "wrote {} and {}{}",
        loss_png.display(),
        recon_png.display(),
        if fonts_ok { "" } else { " (without text)" }
    );
}

/// The digits as 64 pixels in [0, 1] and their labels.
pub fn load_digits() -> (Vec<Vec<f32>>, Vec<usize>) {
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
pub fn split(images: &[Vec<f32>], labels: &[usize]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>) {
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

/// Text in the PNGs comes from a font shipped with the example (DejaVu Sans, ASCII subset; see
/// examples/data/README.md), drawn by plotters' pure-Rust `ab_glyph`.
fn register_font() -> bool {
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        include_bytes!("../data/DejaVuSans-subset.ttf"),
    )
    .is_ok()
}

pub type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The loss curves of both models, under `title`.
fn draw_curves(
    path: &Path,
    title: &str,
    (tied, tp): (&Curve, usize),
    (untied, up): (&Curve, usize),
) -> DrawResult {
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
        .caption(title, ("sans-serif", 24).into_font())
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

/// Held-out digits (the first row) and their reconstructions, a row per model.
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
