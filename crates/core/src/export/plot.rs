//! One SVG with three panels: avg loss, test accuracy and epoch time per epoch, each backend a solid
//! line and the article's published PyTorch and MXNet numbers dashed. With `compare --seeds` each
//! line is the median over the seeds and a shaded band their range. [`svg_overlay`] draws several
//! results files (runners, machines, thread counts) in one plot, each line `file: backend`.

use crate::article;
use crate::output::write_atomic;
use crate::results::Results;
use crate::run::EpochResult;
use crate::stats::median;
use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;
use std::path::Path;

type Points = Vec<(f64, f64)>;

/// Per epoch index, the median over a backend's runs (bench repeats, or seeds), warm-up epochs
/// included.
fn series(res: &Results, backend: &str, get: fn(&EpochResult) -> f64) -> Points {
    by_epoch(res, backend, get).into_iter().map(|(x, v)| (x, median(&v))).collect()
}

/// Per epoch index, the lowest and highest value over a backend's runs.
fn band(res: &Results, backend: &str, get: fn(&EpochResult) -> f64) -> Vec<(f64, f64, f64)> {
    by_epoch(res, backend, get)
        .into_iter()
        .map(|(x, v)| {
            (
                x,
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        })
        .collect()
}

/// Per epoch index that has values, every run's value.
fn by_epoch(res: &Results, backend: &str, get: fn(&EpochResult) -> f64) -> Vec<(f64, Vec<f64>)> {
    let mut by_epoch: Vec<Vec<f64>> = vec![];
    for r in res.runs.iter().filter(|r| r.backend == backend) {
        for e in &r.epochs {
            if by_epoch.len() <= e.epoch {
                by_epoch.resize(e.epoch + 1, vec![]);
            }
            by_epoch[e.epoch].push(get(e));
        }
    }
    by_epoch.into_iter().enumerate().filter(|(_, v)| !v.is_empty()).map(|(i, v)| (i as f64, v)).collect()
}

fn backends(res: &Results) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for r in &res.runs {
        if !names.contains(&r.backend) {
            names.push(r.backend.clone());
        }
    }
    names
}

fn color(backend: &str, i: usize) -> RGBColor {
    match crate::registry::get(backend).and_then(|b| b.colour) {
        Some([r, g, b]) => RGBColor(r, g, b),
        None => {
            let (r, g, b) = Palette99::pick(i + 3).to_rgba().rgb();
            RGBColor(r, g, b)
        }
    }
}

struct Panel<'a> {
    legend: SeriesLabelPosition,
    title: &'a str,
    y_desc: &'a str,
    get: fn(&EpochResult) -> f64,
    published: Option<(&'a [f64], &'a [f64])>,
}

fn bounds(all: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = all
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    ((lo - pad).max(0.0), hi + pad)
}

/// Draw the plot and write it to `path` like every other output (atomically; an existing file is
/// replaced only with `force`).
pub fn write_svg(res: &Results, path: &Path, force: bool) -> Result<()> {
    write_atomic(path, svg(res)?.as_bytes(), force)
}

/// The plot as SVG text.
pub fn svg(res: &Results) -> Result<String> {
    let seeds = match res.seeds().len() > 1 {
        true => format!(", median and range over seeds {:?}", res.seeds()),
        false => String::new(),
    };
    let title = format!(
        "mlcmp: {} recipe on {} ({} threads){seeds}",
        res.recipe.name, res.machine.cpu, res.machine.threads
    );
    let mut out = String::new();
    draw(res, &title, &mut out)?;
    Ok(out)
}

/// Several results files, each given with its label, in one plot: every backend of every file is a
/// line named `label: backend`, and the title names each file's machine. The files must share a
/// model (the panels compare like with like).
pub fn svg_overlay(files: &[(String, Results)]) -> Result<String> {
    let Some((_, first)) = files.first() else { bail!("no results files to plot") };
    if let Some((label, other)) = files.iter().find(|(_, r)| r.recipe.model != first.recipe.model) {
        bail!(
            "{label} holds the {} model and {} the {} one; plot files of one model together",
            other.recipe.model.name(),
            files[0].0,
            first.recipe.model.name()
        );
    }
    let mut merged = first.clone();
    merged.runs = files
        .iter()
        .flat_map(|(label, r)| {
            r.runs.iter().map(move |run| {
                let mut run = run.clone();
                run.backend = format!("{label}: {}", run.backend);
                run
            })
        })
        .collect();
    let machines: Vec<String> = files
        .iter()
        .map(|(label, r)| format!("{label} = {} ({} threads)", r.machine.cpu, r.machine.threads))
        .collect();
    let title = format!("mlcmp: {} recipe; {}", first.recipe.name, machines.join("; "));
    let mut out = String::new();
    draw(&merged, &title, &mut out)?;
    Ok(out)
}

fn draw(res: &Results, title: &str, out: &mut String) -> Result<()> {
    let names = backends(res);
    let seeds = res.seeds().len() > 1;
    let panels = [
        Panel {
            legend: SeriesLabelPosition::UpperRight,
            title: "avg loss per epoch",
            y_desc: "avg loss",
            get: |e| e.avg_loss,
            published: Some((&article::TORCH_LOSS, &article::MXNET_LOSS)),
        },
        Panel {
            legend: SeriesLabelPosition::LowerRight,
            title: "test accuracy per epoch",
            y_desc: "test accuracy (%)",
            get: |e| 100.0 * e.test_acc,
            published: None,
        },
        Panel {
            legend: SeriesLabelPosition::MiddleRight,
            title: "epoch time (training, data loading included)",
            y_desc: "seconds",
            get: |e| e.time_s,
            published: Some((&article::TORCH_S, &article::MXNET_S)),
        },
    ];
    let root = SVGBackend::with_string(out, (1500, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, body) = root.split_vertically(36);
    top.titled(title, ("sans-serif", 18)).map_err(|e| anyhow!("{e}"))?;
    let areas = body.split_evenly((1, 3));
    for (area, p) in areas.iter().zip(&panels) {
        let lines: Vec<(String, Points)> = names.iter().map(|b| (b.clone(), series(res, b, p.get))).collect();
        let bands: Vec<Vec<(f64, f64, f64)>> =
            if seeds { names.iter().map(|b| band(res, b, p.get)).collect() } else { vec![] };
        // The article's curves are the MLP's.
        let published: Vec<(&str, Points)> = p
            .published
            .filter(|_| res.recipe.model == crate::model::ModelKind::Mlp)
            .map(|(pt, mx)| {
                let pts = |v: &[f64]| v.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect::<Points>();
                vec![("article PyTorch (2018)", pts(pt)), ("article MXNet (2018)", pts(mx))]
            })
            .unwrap_or_default();
        let xmax = lines.iter().flat_map(|(_, s)| s.iter().map(|p| p.0)).fold(4.0f64, f64::max);
        let ys = lines.iter().map(|(_, s)| s).chain(published.iter().map(|(_, s)| s));
        let band_ys = bands.iter().flatten().flat_map(|&(_, lo, hi)| [lo, hi]);
        let (ylo, yhi) = bounds(ys.flat_map(|s| s.iter().map(|p| p.1)).chain(band_ys));
        let mut chart = ChartBuilder::on(area)
            .caption(p.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.1f64..xmax + 0.1, ylo..yhi)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc("epoch")
            .y_desc(p.y_desc)
            .x_labels((xmax as usize + 1).min(12))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (i, (name, b)) in names.iter().zip(&bands).enumerate() {
            let outline: Vec<(f64, f64)> = b
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(b.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(outline, color(name, i).mix(0.18).filled())))
                .map_err(|e| anyhow!("{e}"))?;
        }
        for (i, (name, pts)) in lines.iter().enumerate() {
            let c = color(name, i);
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        for (name, pts) in &published {
            // The article's curves in the colours of the Rust ports that stand for them.
            let (_, pytorch_style, gluon_style) = crate::registry::ARTICLE_PAIRS[0];
            let c = if name.contains("PyTorch") { color(pytorch_style, 0) } else { color(gluon_style, 1) };
            chart
                .draw_series(DashedLineSeries::new(pts.clone(), 6, 4, c.mix(0.7).stroke_width(1)))
                .map_err(|e| anyhow!("{e}"))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], c.mix(0.7)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(p.legend.clone())
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("cannot draw the plot: {e}"))?;
    Ok(())
}
